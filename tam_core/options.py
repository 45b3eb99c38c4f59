"""How a tracking run behaves: the one "how to run" options type.

Every entry point (``tam-label track``, the CVAT commands, the FiftyOne
operators, panel and Python API, ``apply_model``) builds a :class:`RunOptions`
and passes it down unchanged: the session, ``operators.track`` and
``operators.correct`` all read it. What to *load* (model types, checkpoints,
device, precision) is :class:`tam_core.models.ModelOptions` — never mixed in
here, so changing a run option never reloads a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from tam_core.errors import ConfigError
from tam_core.sessions.spans import DIRECTIONS, check_direction


@dataclass(frozen=True)
class RunOptions:
    """direction: "forward" | "backward" | "both" — frames are tracked from each
    object's nearest keyframe in the allowed direction(s);
    refine: SAM repairs frames whose tracking quality dropped (step 3; needs a
    refiner in the loaded models);
    batch_size: results per ``LabelSink.write`` (bounds memory and the work
    redone after an interruption);
    multimask: a single click lets SAM choose among several candidate masks.
    """

    direction: str = "both"
    refine: bool = True
    batch_size: int = 16
    multimask: bool = True

    def __post_init__(self) -> None:
        check_direction(self.direction)
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch size must be an integer >= 1, got {self.batch_size!r}")


__all__ = ["DIRECTIONS", "RunOptions"]
