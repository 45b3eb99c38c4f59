"""What a segmenter family declares (:class:`SegmenterFamily`): everything the
rest of the project needs to offer, download and load it, without importing
the family's heavy code. One module per family builds one of these (e.g.
``tam_core.segmenters.sam.family.SAM``); ``tam_core.segmenters.registry`` lists
them. What every model family declares is ``tam_core.families.ModelFamily``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from tam_core.families import ModelFamily


@dataclass(frozen=True, kw_only=True)
class SegmenterFamily(ModelFamily):
    """One segmenter family (keywords only): the fields of
    ``tam_core.families.ModelFamily`` (name, types, test_types, checkpoints,
    label, requires, extra) and load(model_type, checkpoint path, device,
    autocast_dtype) -> a ``tam_core.types.Segmenter``; input_size: the longest
    image side the encoder takes; low_res_size: the side of its mask prompts;
    mask_to_logits(mask bool [H,W]) -> this family's mask prompt for the
    official architectures (a loaded segmenter's own method is the one to use:
    it knows its architecture)."""

    kind = "segmenter"
    flag = "--segmenter"

    input_size: int
    low_res_size: int
    mask_to_logits: Callable[[Any], Any]


__all__ = ["SegmenterFamily"]
