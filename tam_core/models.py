"""What to load (:class:`ModelOptions`), what a loaded model set offers
(:class:`Models`), and the one cached loader every entry point uses
(:func:`get_models`).

How a run behaves (direction, refine on/off and the refiner's thresholds,
XMem's memory settings, batch size) is ``tam_core.options.RunOptions`` and is
never part of what is loaded or cached: the loaded models hold no per-run
state (the tracker factory takes the XMem settings and the refiner its
thresholds on every call), so changing a run option never reloads.

Test / site hook: ``TAM_LABEL_MODEL_PROVIDER=module:function`` makes
:func:`get_models` call ``function(opts: ModelOptions) -> Models`` instead of
:func:`load_models` (tests and the FiftyOne App server they start inject
deterministic doubles this way). Its result is cached like a real load.

This module imports neither torch nor cv2 at import time, so command-line
parsing can use it.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generic, Hashable, Protocol, TypeVar, runtime_checkable

from tam_core.errors import ConfigError
from tam_core.segmenters.auto import AUTO
from tam_core.segmenters.registry import DEFAULT_FAMILY, get_family, parse_segmenter
from tam_core.trackers.registry import DEFAULT_TRACKER, parse_tracker
from tam_core.trackers.registry import get_family as get_tracker_family
from tam_core.types import Segmenter, Tracker

if TYPE_CHECKING:  # pragma: no cover
    from tam_core.refinement import Refiner

PROVIDER_ENV = "TAM_LABEL_MODEL_PROVIDER"
AUTOCAST = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class ModelOptions:
    """Which weights to load and where to run them — the only model cache key.

    The segmenter is ``segmenter_family`` + ``sam_type`` (its architecture; the
    name is from SAM-only days): a family of ``tam_core.segmenters.registry``
    and one of its types, e.g. "sam" + "vit_b" | "vit_l" | "vit_h", or a
    test-only type such as "tiny" (random weights; needs ``sam_checkpoint``).
    ``ModelOptions.for_segmenter("family:type", ...)`` builds it from one spec
    and ``.segmenter`` gives it back. ``for_segmenter("auto")`` leaves the
    choice to the machine (fast family on a CPU, most accurate on a GPU:
    ``tam_core.segmenters.auto``); :meth:`resolved` fixes it, and the loader
    and run records only ever see the resolved family:type. The default stays
    "sam" + "vit_b" for Python callers; the CLI, FiftyOne and CVAT default to "auto".
    tracker: the tracking engine as "family:type" of ``tam_core.trackers.registry``
    ("xmem" = "xmem:s012", the default; "sam2:hiera_tiny" | "hiera_small" |
    "hiera_base_plus" | "hiera_large", SAM 2.1; a bare family name means its default type), stored normalised.
    sam_checkpoint / tracker_checkpoint: a file (or, for Hugging Face engines, a
    folder) or None for the official weights (the family's checkpoint for the
    type, e.g. ``sam_vit_b``, ``xmem``, ``sam2.1_hiera_tiny`` via
    tam_core.weights, cached in ``cache_dir`` or ``$TAM_LABEL_CACHE``);
    ``xmem_checkpoint`` is the older name of ``tracker_checkpoint`` for XMem
    (either may be given, not both). device: "auto" | "cpu" | "cuda" | "cuda:N".
    autocast: "fp32" | "fp16" | "bf16" (half precision on CUDA only).
    download: fetch missing official weights (False: cache or local files only).
    Per-run settings (refinement on/off and its thresholds, XMem's memory
    settings) are ``tam_core.options.RunOptions``.
    """

    sam_type: str = "vit_b"
    sam_checkpoint: str | Path | None = None
    xmem_checkpoint: str | Path | None = None
    device: str = "auto"
    cache_dir: str | Path | None = None
    autocast: str = "fp32"
    download: bool = True
    segmenter_family: str = DEFAULT_FAMILY
    tracker: str = DEFAULT_TRACKER
    tracker_checkpoint: str | Path | None = None

    def __post_init__(self) -> None:
        family_name, tracker_type = parse_tracker(self.tracker)
        object.__setattr__(self, "tracker", f"{family_name}:{tracker_type}")
        if self.xmem_checkpoint is not None and (
                family_name != "xmem" or self.tracker_checkpoint not in (None, self.xmem_checkpoint)):
            raise ConfigError("--xmem-checkpoint is XMem's weights; give this tracker's with --tracker-checkpoint")
        tracker_family = get_tracker_family(family_name)
        if tracker_type in tracker_family.test_types and self.tracker_weights is None:
            raise ConfigError(f"{tracker_family.title} type {tracker_type!r} is a test architecture without official "
                              "weights; give its checkpoint (--tracker-checkpoint PATH)")
        if AUTO in (self.segmenter_family, self.sam_type):
            if (self.segmenter_family, self.sam_type) != (AUTO, AUTO):
                raise ConfigError('the machine\'s segmenter is chosen with "auto" alone, not as a family or a type')
            if self.sam_checkpoint is not None:
                raise ConfigError("a segmenter checkpoint file needs its architecture: choose --segmenter "
                                  "family:type instead of auto")
            self._check_autocast()
            return
        family = get_family(self.segmenter_family)
        if self.sam_type not in family.all_types:
            raise ConfigError(f"unknown {family.title} model type {self.sam_type!r}: use one of {', '.join(family.all_types)}")
        if self.sam_type in family.test_types and self.sam_checkpoint is None:
            raise ConfigError(f"{family.title} type {self.sam_type!r} is a test architecture without official weights; "
                              "give its checkpoint file (--sam-checkpoint)")
        self._check_autocast()

    def _check_autocast(self) -> None:
        if self.autocast not in AUTOCAST:
            raise ConfigError(f"unknown autocast {self.autocast!r}: use one of {', '.join(AUTOCAST)}")

    @property
    def tracker_weights(self) -> str | Path | None:
        """The tracker's checkpoint given (``tracker_checkpoint``, or XMem's
        older ``xmem_checkpoint``); None: the official weights."""
        return self.tracker_checkpoint if self.tracker_checkpoint is not None else self.xmem_checkpoint

    @property
    def segmenter(self) -> str:
        """The segmenter as "family:type" (e.g. "sam:vit_b"), or "auto"."""
        return AUTO if self.is_auto else f"{self.segmenter_family}:{self.sam_type}"

    @property
    def is_auto(self) -> bool:
        """The segmenter is left to the machine (see :meth:`resolved`)."""
        return self.segmenter_family == AUTO

    @classmethod
    def for_segmenter(cls, spec: str, **fields: Any) -> "ModelOptions":
        """ModelOptions for a "family:type" spec (a bare type: the SAM family),
        or "auto": the machine's choice, fixed by :meth:`resolved`."""
        if str(spec).strip() == AUTO:
            return cls(sam_type=AUTO, segmenter_family=AUTO, **fields)
        family, model_type = parse_segmenter(spec)
        return cls(sam_type=model_type, segmenter_family=family, **fields)

    def resolved(self) -> "ModelOptions":
        """These options with "auto" replaced by the family:type that fits the
        device (``tam_core.segmenters.auto``: a CPU gets the fast family, a GPU
        the most accurate), said once per process in one log line; any other
        choice is returned as is. THE resolver: :func:`get_models` and the run
        records (``operators.run_record.model_fingerprint``) call it before
        anything is cached, loaded or recorded. Imports torch for "auto" only."""
        if not self.is_auto:
            return self
        from tam_core.segmenters.auto import announcement, log, machine_choice

        device = check_device(self)
        spec = machine_choice(device.type)
        family, model_type = parse_segmenter(spec)
        key = (spec, str(device))
        with _announce_lock:
            first = key not in _announced
            _announced.add(key)
        if first:
            log.info(announcement(spec, device))
        return replace(self, segmenter_family=family, sam_type=model_type)


MACHINE_DEFAULT = ModelOptions.for_segmenter(AUTO)  # the entry points' default: the segmenter that fits the machine


@runtime_checkable
class Models(Protocol):
    """A loaded model set (:class:`LoadedModels`, or a test double).

    segmenter: turns clicks/boxes into masks; tracker_factory(config=None): a
    fresh ``Tracker`` per video pass with that run's ``XMemConfig`` (None: the
    defaults), sharing the one loaded network; refiner: a
    ``tam_core.refinement.Refiner`` (thresholds given per call) or None (then no
    run refines); device: the ``torch.device`` the models run on. None of them
    holds per-run state.
    """

    @property
    def segmenter(self) -> Segmenter: ...

    @property
    def tracker_factory(self) -> Callable[..., Tracker]: ...

    @property
    def refiner(self) -> Refiner | None: ...

    @property
    def device(self) -> Any: ...


@dataclass(frozen=True)
class LoadedModels:
    """A segmenter and a tracker as loaded by :func:`load_models` (satisfies :class:`Models`)."""

    segmenter: Segmenter
    tracker_factory: Callable[..., Tracker]
    refiner: Refiner | None
    device: Any  # torch.device


def check_device(opts: ModelOptions) -> Any:
    """The ``torch.device`` that ``opts`` asks for, checked without loading
    anything: a missing GPU (DeviceError) or half precision off CUDA
    (ConfigError) is a one-line error before minutes of loading. Imports torch."""
    from tam_core.device import resolve_device

    device = resolve_device(opts.device)
    if opts.autocast != "fp32" and device.type != "cuda":
        raise ConfigError(f"--{opts.autocast} needs a CUDA GPU but the device is {device}; "
                          f"drop --{opts.autocast} (on the CPU tam-label computes in fp32)")
    return device


def load_models(opts: ModelOptions | None = None) -> LoadedModels:
    """Resolve the checkpoints (downloading official weights when allowed), load
    the segmenter and the tracker once on the chosen device, and wire the
    refiner to the segmenter.

    Uncached: entry points call :func:`get_models` instead."""
    from tam_core.refinement import Refiner
    from tam_core.weights import resolve_checkpoint

    opts = (ModelOptions() if opts is None else opts).resolved()
    device = check_device(opts)
    autocast = None if opts.autocast == "fp32" else opts.autocast
    family = get_family(opts.segmenter_family)
    tracker_family, tracker_type = parse_tracker(opts.tracker)
    trackers = get_tracker_family(tracker_family)
    family.check_installed()  # a missing package is one line before any download
    trackers.check_installed()
    sam_path = resolve_checkpoint(opts.sam_checkpoint or family.checkpoint(opts.sam_type).name,
                                  cache_dir=opts.cache_dir, download=opts.download)
    tracker_path = resolve_checkpoint(opts.tracker_weights or trackers.checkpoint(tracker_type).name,
                                      cache_dir=opts.cache_dir, download=opts.download)
    segmenter = family.load(opts.sam_type, sam_path, device, autocast)
    factory = trackers.load(tracker_type, tracker_path, device, autocast)
    return LoadedModels(segmenter=segmenter, tracker_factory=factory, refiner=Refiner(segmenter), device=device)


T = TypeVar("T")


class ModelSlot(Generic[T]):
    """One loaded model kept in memory under a key (behind :func:`get_models` and
    ``tam_core.concepts.load.get_concepts``). Thread-safe: concurrent callers
    wait for the one load instead of loading twice; asking for another key
    drops the held model before loading the next (two full model sets rarely
    fit in memory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[Hashable, Any] | None = None
        self.loads = 0  # how many times a load really ran (tests)

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        with self._lock:
            if self._held is None or self._held[0] != key:
                self._held = None
                value = load()
                self.loads += 1
                self._held = (key, value)
            return self._held[1]

    def clear(self) -> None:
        with self._lock:
            self._held = None


_slot: ModelSlot[Models] = ModelSlot()
_announce_lock = threading.Lock()
_announced: set[tuple[str, str]] = set()  # (family:type, device) said once per process


def get_models(opts: ModelOptions | None = None) -> Models:
    """THE cached loader: the models for ``opts`` (None: ``ModelOptions()``), loaded on first use.

    Keeps one model set in memory (asking for other options drops the previous
    set first). Thread-safe: concurrent callers wait for the one load instead of
    loading twice. Honours ``$TAM_LABEL_MODEL_PROVIDER`` (see the module doc).
    Raises ConfigError when given anything but a :class:`ModelOptions` (run
    options must never reach the cache key).
    """
    opts = ModelOptions() if opts is None else opts
    if not isinstance(opts, ModelOptions):
        raise ConfigError(f"get_models takes tam_core.models.ModelOptions, not {type(opts).__name__}")
    opts = opts.resolved()  # "auto" -> the machine's family:type before the cache key
    provider = os.environ.get(PROVIDER_ENV, "").strip()
    return _slot.get((provider, _cache_key(opts)),
                     lambda: _provided(provider, opts) if provider else load_models(opts))


def same_file(value: str | os.PathLike | None) -> str | os.PathLike | None:
    """One spelling per existing file or folder (str or Path, relative, ``~``,
    links), so the same weights are not loaded twice; anything else (a registry
    name, a missing path) is kept as given."""
    if value is None:
        return None
    path = Path(os.fspath(value)).expanduser()
    return str(path.resolve()) if path.exists() else value


def _cache_key(opts: ModelOptions) -> ModelOptions:
    return replace(opts, sam_checkpoint=same_file(opts.sam_checkpoint),
                   tracker_checkpoint=same_file(opts.tracker_weights), xmem_checkpoint=None,
                   cache_dir=same_file(opts.cache_dir))


def load_count() -> int:
    """How many times :func:`get_models` really loaded (or asked the provider); for tests."""
    return _slot.loads


def clear_models() -> None:
    """Drop the cached model set (frees its memory once nobody else holds it)."""
    _slot.clear()


def _provided(provider: str, opts: ModelOptions) -> Models:
    module, _, func = provider.partition(":")
    try:
        fn = getattr(importlib.import_module(module), func or "provide_models")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{PROVIDER_ENV}={provider!r} cannot be imported ({exc}); use module:function") from exc
    models = fn(opts)
    missing = [a for a in ("segmenter", "tracker_factory", "refiner", "device") if not hasattr(models, a)]
    if missing:
        raise ConfigError(f"{PROVIDER_ENV}={provider!r} returned models without {', '.join(missing)}")
    return models


__all__ = [
    "AUTOCAST", "MACHINE_DEFAULT", "PROVIDER_ENV", "LoadedModels", "ModelOptions", "Models",
    "ModelSlot", "check_device", "clear_models", "get_models", "load_count", "load_models", "same_file",
]
