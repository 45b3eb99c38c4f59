"""How a tracking run behaves: the one "how to run" options type.

Every entry point (``tam-label track``, the CVAT commands, the FiftyOne
operators, panel and Python API, ``apply_model``) builds a :class:`RunOptions`
and passes it down unchanged: the session, ``operators.track`` and
``operators.correct`` all read it. What to *load* (model types, checkpoints,
device, precision) is :class:`tam_core.models.ModelOptions` — never mixed in
here, so changing a run option never reloads a model. The loaded models are
shared and hold nothing per run: the session hands ``xmem_config`` to the
tracker factory and ``refine_options`` to the refiner on every call.
"""

from __future__ import annotations

from dataclasses import dataclass

from tam_core.errors import ConfigError
from tam_core.refinement.options import RefineOptions
from tam_core.sessions.spans import DIRECTIONS, check_direction
from tam_core.trackers.xmem.config import XMemConfig


@dataclass(frozen=True)
class RunOptions:
    """direction: "forward" | "backward" | "both" — frames are tracked from each
    object's nearest keyframe in the allowed direction(s);
    refine: SAM repairs frames whose tracking quality dropped (step 3; needs a
    refiner in the loaded models);
    batch_size: results per ``LabelSink.write`` (bounds memory and the work
    redone after an interruption);
    multimask: a single click lets SAM choose among several candidate masks;
    refine_options: the quality score's calibration and the refiner's
    thresholds (``tam_core.refinement.RefineOptions``; the score is computed on
    every tracked frame, refined or not);
    xmem_config: XMem's memory settings for each tracker of the run
    (``tam_core.trackers.xmem.XMemConfig``, the original defaults).
    """

    direction: str = "both"
    refine: bool = True
    batch_size: int = 16
    multimask: bool = True
    refine_options: RefineOptions = RefineOptions()
    xmem_config: XMemConfig = XMemConfig()

    def __post_init__(self) -> None:
        check_direction(self.direction)
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch size must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.refine_options, RefineOptions):
            raise ConfigError(f"refine_options must be a RefineOptions, got {type(self.refine_options).__name__}")
        if not isinstance(self.xmem_config, XMemConfig):
            raise ConfigError(f"xmem_config must be an XMemConfig, got {type(self.xmem_config).__name__}")


__all__ = ["DIRECTIONS", "RunOptions"]
