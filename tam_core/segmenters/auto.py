"""The segmenter that fits the machine: the one resolver behind the "auto"
choice (the default of the CLI, the FiftyOne settings and CVAT's functions).

On a CPU, EfficientViT-SAM L0: a new frame is encoded in under a second on two
cores and a click on an encoded frame answers in tens of milliseconds, and a
refined frame costs about a quarter of an XMem frame (docs/benchmarks.md); SAM
ViT-B takes 10+ s per new frame there. On a GPU, SAM ViT-H: the most accurate,
and fast enough. ``tam_core.models.ModelOptions.resolved()`` applies it to the
device before anything is loaded or fingerprinted, so the cache, run records
and messages always name the real family:type. Light: no torch at import."""

from __future__ import annotations

import logging

AUTO = "auto"
CPU_CHOICE = "efficientvit_sam:l0"
GPU_CHOICE = "sam:vit_h"

log = logging.getLogger("tam_label.segmenter")  # the CLI shows it on stderr


FALLBACK_CPU_CHOICE = "sam:vit_b"  # without the fast family's package (extra "fast"): SAM's fastest


def machine_choice(device_type: str, fast_installed: bool | None = None) -> str:
    """The "family:type" the auto choice means on a device of this type ("cpu",
    "cuda", ...); on a CPU without the fast family's package, SAM ViT-B
    (``fast_installed``: None looks it up)."""
    if device_type != "cpu":
        return GPU_CHOICE
    if fast_installed is None:
        from tam_core.segmenters.registry import get_family, parse_segmenter

        fast_installed = get_family(parse_segmenter(CPU_CHOICE)[0]).installed
    return CPU_CHOICE if fast_installed else FALLBACK_CPU_CHOICE


def announcement(spec: str, device: object) -> str:
    """The one start-up line that says what "auto" chose and how to choose otherwise."""
    why = {CPU_CHOICE: "fast on a CPU", GPU_CHOICE: "the most accurate, on a GPU"}.get(
        spec, "the fast family needs pip install 'tam-label[fast]'")
    return (f"segmenter: {spec} (auto on {device}: {why}; choose another with --segmenter, "
            "the FiftyOne segmenter setting or CVAT's sam_type)")


__all__ = ["AUTO", "CPU_CHOICE", "FALLBACK_CPU_CHOICE", "GPU_CHOICE", "announcement", "machine_choice"]
