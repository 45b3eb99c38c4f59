"""SAM 3's mask post-processing on any machine.

``transformers``' SAM 3 video model does its mask NMS (duplicate detections),
hole filling and sprinkle removal through a Hugging Face Hub kernel
(``kernels-community/cv-utils``) and, when that cannot be loaded (no
``kernels`` package, no network, an untrusted publisher: every CPU install
here), silently SKIPS all three, so the objects found differ from Meta's
model (duplicates kept). :func:`install` gives that module the same two
operations computed as Meta's own CPU fallback does (``sam3/perflib``: greedy
NMS over the IoU matrix; 8-connected components with per-pixel component
areas), so the output is SAM 3's wherever it runs. Installed once, when a
concept model is loaded (never at import).
"""

from __future__ import annotations

import threading

import numpy as np
import torch

_lock = threading.Lock()


class CvUtils:
    """The two operations ``transformers.models.sam3_video`` asks its kernel for."""

    @staticmethod
    def generic_nms(ious: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
                    use_iou_matrix: bool = True) -> torch.Tensor:
        """Greedy NMS on a pairwise IoU matrix: the highest score is kept and
        every other whose IoU with it exceeds ``iou_threshold`` dropped, in
        score order (ties as numpy's argsort orders them, as Meta's code).
        ious: float [N,N]; scores: float [N] -> kept indices int64 [K]."""
        if not use_iou_matrix:
            raise ValueError("only the IoU-matrix form of generic_nms is provided")
        iou = ious.float().detach().cpu().numpy()
        order = scores.float().detach().cpu().numpy().argsort()[::-1]
        kept = []
        while order.size:
            i = int(order[0])
            kept.append(i)
            order = order[1:][iou[i, order[1:]] <= iou_threshold]
        return torch.tensor(kept, dtype=torch.int64, device=scores.device)

    @staticmethod
    def cc_2d(mask: torch.Tensor, get_counts: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """8-connected components of each mask: mask uint8 [B,1,H,W] (non-zero:
        foreground) -> (labels int32, counts int32), both [B,1,H,W]; a
        pixel's count is its component's area, 0 on the background."""
        import cv2

        flat = mask.detach().cpu().numpy().reshape(-1, *mask.shape[-2:])
        labels = np.zeros(flat.shape, np.int32)
        counts = np.zeros(flat.shape, np.int32)
        for b, m in enumerate(flat):
            n, lab, stats, _ = cv2.connectedComponentsWithStats((m != 0).astype(np.uint8), connectivity=8,
                                                                ltype=cv2.CV_32S)
            area = stats[:, cv2.CC_STAT_AREA].astype(np.int32)
            area[0] = 0  # the background
            labels[b], counts[b] = lab, area[lab]
        shape = tuple(mask.shape)
        return (torch.from_numpy(labels).reshape(shape).to(mask.device),
                torch.from_numpy(counts).reshape(shape).to(mask.device))


def install() -> None:
    """Make ``transformers``' SAM 3 video model use :class:`CvUtils` (idempotent, thread-safe)."""
    from transformers.models.sam3_video import modeling_sam3_video as module

    with _lock:
        if not isinstance(module.cv_utils_kernel, CvUtils):
            module.cv_utils_kernel = CvUtils()


__all__ = ["CvUtils", "install"]
