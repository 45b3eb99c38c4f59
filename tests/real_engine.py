"""The real engine for tests that share it across threads or tools: a tiny
random-weight SAM and seeded XMem written as .pth files, loaded through
``tam_core.models.load_models``, with a refiner that works on every tracked
frame (random weights score everything low; we want SAM on every frame)."""

from __future__ import annotations

from pathlib import Path

# Accept any SAM answer and look at every tracked mask.
REFINE_ALWAYS = dict(quality_threshold=1.0, min_predicted_iou=-1e9, agreement_low=0.0, agreement_high=1.0, min_area=1)


def write_checkpoints(root: Path) -> tuple[Path, Path]:
    """(sam, xmem) .pth files in ``root``: SamConfig.tiny() seeded 0, XMem seeded 1."""
    import torch

    from tam_core.segmenters.sam import SamConfig, build_sam
    from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

    sam, xmem = root / "sam_tiny.pth", root / "xmem_seeded.pth"
    torch.save(xmem_seeded_state_dict(1), xmem)
    with torch.random.fork_rng():  # a fixed SAM without touching the global RNG
        torch.manual_seed(0)
        torch.save(build_sam(SamConfig.tiny()).state_dict(), sam)
    return sam, xmem


def refining_models(root: Path):
    """One real model set (CPU); run it with :func:`refine_every_frame` to have
    its refiner run SAM on every tracked frame."""
    from tam_core.models import ModelOptions, load_models

    sam, xmem = write_checkpoints(root)
    return load_models(ModelOptions(sam_type="tiny", sam_checkpoint=sam, xmem_checkpoint=xmem, device="cpu"))


def refine_every_frame(direction: str = "both"):
    """RunOptions that refine every tracked mask (thresholds are per run)."""
    from tam_core.options import RunOptions
    from tam_core.refinement import RefineOptions

    return RunOptions(direction=direction, refine=True, refine_options=RefineOptions(**REFINE_ALWAYS))
