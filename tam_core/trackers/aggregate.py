"""Per-object probabilities -> one distribution over background and objects,
shared by every tracker family so ``ObjectProbs`` means the same thing for all."""

from __future__ import annotations

import torch


def soft_aggregate(prob: torch.Tensor) -> torch.Tensor:
    """Per-object probabilities float [n,H,W] -> [n+1,H,W] with background
    first, summing to 1 at every pixel (XMem's soft aggregation)."""
    bg = torch.prod(1 - prob, dim=0, keepdim=True)
    q = torch.cat([bg, prob], 0).clamp(1e-7, 1 - 1e-7)
    return torch.softmax(torch.log(q / (1 - q)), dim=0)


__all__ = ["soft_aggregate"]
