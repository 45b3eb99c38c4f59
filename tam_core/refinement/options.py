"""The refiner's thresholds and the quality score's calibration (:class:`RefineOptions`).

Per run: ``tam_core.options.RunOptions.refine_options`` carries them (the
quality score is computed with this calibration on every tracked frame, refined
or not); whether a run refines at all is ``RunOptions.refine``. Never part of
what is loaded, so changing one reloads nothing."""

from __future__ import annotations

from dataclasses import dataclass

from tam_core.errors import ConfigError


@dataclass(frozen=True)
class RefineOptions:
    """How the quality score is calibrated and when and how SAM refinement
    repairs tracked masks (defaults are heuristics tuned on synthetic
    degradations; the score is defined in ``tam_core.refinement.quality``)."""

    quality_threshold: float = 0.5  # refine objects scoring below this
    max_positive_points: int = 3
    max_negative_points: int = 3
    positive_min_prob: float = 0.8  # a probe must be at least this sure (falls back to the best pixel)
    negative_min_prob: float = 0.9  # background/other-object points must be at least this sure
    use_mask_prompt: bool = True  # pass the tracker's mask as SAM's low-res mask prompt
    use_box: bool = False  # a box from an eroded mask would clip SAM, so off by default
    box_margin: float = 0.1  # box prompt grown by this fraction of its size per side
    min_predicted_iou: float = 0.7  # SAM's own IoU estimate must reach this
    agreement_low: float = 0.3  # IoU(SAM, tracker) below this: SAM found another object
    agreement_high: float = 0.97  # above this SAM changes nothing worth a memory write
    min_area: int = 16  # pixels; smaller masks are scored but not refined
    # quality score calibration
    confidence_ok: float = 0.9
    confidence_bad: float = 0.5
    band_ok: float = 3.0  # px
    band_bad: float = 12.0  # px
    area_ok: float = 1.25  # area ratio vs the rolling area
    area_bad: float = 2.0
    shape_iou_ok: float = 0.9
    shape_iou_bad: float = 0.6
    jump_ok: float = 1.0  # object radii per frame
    jump_bad: float = 3.0
    history_ema: float = 0.3  # weight of the newest frame in the rolling area
    history_max_gap: int = 2  # frames; a larger gap restarts the history comparison

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.quality_threshold <= 1.0, "quality_threshold must be in [0, 1]"),
            (self.max_positive_points >= 1, "max_positive_points must be >= 1"),
            (self.max_negative_points >= 0, "max_negative_points must be >= 0"),
            (0.0 <= self.agreement_low <= self.agreement_high <= 1.0,
             "need 0 <= agreement_low <= agreement_high <= 1"),
            (self.confidence_bad < self.confidence_ok, "need confidence_bad < confidence_ok"),
            (0 < self.band_ok < self.band_bad, "need 0 < band_ok < band_bad"),
            (1.0 <= self.area_ok < self.area_bad, "need 1 <= area_ok < area_bad"),
            (self.shape_iou_bad < self.shape_iou_ok, "need shape_iou_bad < shape_iou_ok"),
            (0 <= self.jump_ok < self.jump_bad, "need 0 <= jump_ok < jump_bad"),
            (0.0 < self.history_ema <= 1.0, "history_ema must be in (0, 1]"),
            (self.box_margin >= 0, "box_margin must be >= 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"RefineOptions: {msg}")
