"""SAM clicks and XMem tracking inside CVAT's own UI, as cvat-sdk functions.

CVAT Online and Enterprise call "native functions" through an agent
(``cvat-cli function create-native`` / ``function run-agent``): the UI's AI
tools send annotation requests to the server, the agent fetches the frame and
calls a Python object implementing ``cvat_sdk.auto_annotation``'s protocols.
Two such objects are defined here:

- ``plugin.cvat.functions_click``: an *interaction* function (CVAT's
  "Interactors" tab). Positive/negative clicks and an optional box go to SAM;
  one mask shape comes back. ``preprocess_image`` returns the SAM embedding,
  which the agent caches per frame, so every further click on a frame runs only
  SAM's light decoder.
- ``plugin.cvat.functions_track``: a *tracking* function (CVAT's "Trackers"
  tab) for mask and polygon shapes. Each tracked shape gets its own XMem
  tracker (memory bounded by ``XMemConfig``), with Track-Anything's SAM
  refinement of frames whose tracking quality dropped. At most
  ``max_live_trackers`` trackers are kept alive; an older shape's tracker is
  released and rebuilt from its last frame and mask when it is tracked again.

Both modules expose ``create(**params)`` for cvat-cli's ``--function-module``
(``-p name=type:value`` parameters; see :func:`model_options`) and load their
models through ``tam_core.models.get_models`` on the first request, so
``create-native`` (which only reads the spec) stays fast. Community
(self-hosted) CVAT servers have no function queue: there ``tam-label cvat
track/fix`` is the path (README "Which CVAT path to use").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tam_core.errors import ConfigError

# cvat-sdk release that first has both interaction and tracking function types
MIN_SDK = (2, 42)


def require_sdk() -> Any:
    """``cvat_sdk.auto_annotation`` if it has interaction and tracking functions,
    else a ConfigError saying which release to install."""
    try:
        import cvat_sdk.auto_annotation as cvataa
        from cvat_sdk.version import VERSION
    except ImportError:
        raise ConfigError("cvat-sdk is not installed: pip install 'tam-label[cvat-agent]'") from None
    if not all(hasattr(cvataa, n) for n in ("InteractionFunctionSpec", "TrackingFunctionSpec", "TrackableShape")):
        raise ConfigError(f"cvat-sdk {VERSION} has no interaction/tracking functions: "
                          f"pip install 'cvat-sdk>={MIN_SDK[0]}.{MIN_SDK[1]}'")
    return cvataa


@dataclass(frozen=True)
class FunctionParams:
    """The ``-p`` parameters both functions accept (cvat-cli passes them to
    ``create``): what to load (see :class:`tam_core.models.ModelOptions`) plus
    ``refine`` (SAM repairs weak tracked frames), ``multimask`` (one click lets
    SAM pick among its candidates) and ``max_live_trackers``. ``sam_type`` names
    the segmenter: a SAM type or ``family:type`` (``tam_core.segmenters.registry``),
    by default "auto" (``tam_core.segmenters.auto``: the fast family on a CPU,
    SAM ViT-H on a GPU; a ``sam_checkpoint`` alone still means SAM vit_b);
    ``tracker`` the tracking engine (``xmem``, ``sam2:TYPE``: SAM 2.1;
    ``tam_core.trackers.registry``) and ``tracker_checkpoint`` its local weights."""

    sam_type: str = "auto"
    sam_checkpoint: str | None = None
    xmem_checkpoint: str | None = None
    tracker: str = "xmem:s012"  # normalised as ModelOptions stores it
    tracker_checkpoint: str | None = None
    device: str = "auto"
    cache_dir: str | None = None
    autocast: str = "fp32"
    download: bool = True
    refine: bool = True
    multimask: bool = True
    max_live_trackers: int = 16

    def __post_init__(self) -> None:
        if isinstance(self.max_live_trackers, bool) or not isinstance(self.max_live_trackers, int) \
                or self.max_live_trackers < 1:
            raise ConfigError(f"max_live_trackers must be an integer >= 1, got {self.max_live_trackers!r}")
        for name in ("download", "refine", "multimask"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"function parameter {name} must be a bool (-p {name}=bool:true)")
        self.model_options()  # bad model options fail here, before the agent starts or loads anything

    @classmethod
    def from_kwargs(cls, params: dict[str, Any]) -> "FunctionParams":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"unknown function parameter {unknown[0]!r}: use {', '.join(sorted(known))}")
        return cls(**params)

    def model_options(self):
        """The ``tam_core.models.ModelOptions`` (validated, nothing loaded)."""
        from tam_core.models import ModelOptions

        spec = "vit_b" if self.sam_type == "auto" and self.sam_checkpoint else self.sam_type
        return ModelOptions.for_segmenter(spec, sam_checkpoint=self.sam_checkpoint,
                                          xmem_checkpoint=self.xmem_checkpoint, tracker=self.tracker,
                                          tracker_checkpoint=self.tracker_checkpoint, device=self.device,
                                          cache_dir=self.cache_dir, autocast=self.autocast, download=self.download)


def to_rgb(image: Any) -> np.ndarray:
    """A PIL image from the agent -> uint8 [H,W,3] RGB (any mode converted)."""
    if getattr(image, "mode", "RGB") != "RGB":
        image = image.convert("RGB")
    arr = np.asarray(image, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"expected an RGB image, got an array of shape {arr.shape}")
    return arr


__all__ = ["FunctionParams", "MIN_SDK", "require_sdk", "to_rgb"]
