"""What a tracker family declares (:class:`TrackerFamily`): everything the rest
of the project needs to offer, download and load it, without importing the
family's heavy code. One module per family builds one of these
(``tam_core.trackers.xmem.family.XMEM``, ``tam_core.trackers.sam2.family.SAM2``);
``tam_core.trackers.registry`` lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from tam_core.errors import ConfigError
from tam_core.weights.checkpoint import Checkpoint


@dataclass(frozen=True)
class TrackerFamily:
    """One tracker family (the segmenter registry's twin).

    name: ``--tracker NAME:TYPE`` and the checkpoints' ``family``; label: its
    name in messages; types: architectures with official weights (the first
    is the default); test_types: random-weight architectures for tests (need a
    checkpoint path; hidden from user-facing menus); checkpoints: one official
    ``Checkpoint`` per type; load(model_type, checkpoint path, device,
    autocast) -> a tracker factory: ``factory(config=None) -> Tracker``, a fresh
    per-video tracker over the one loaded network each call (``config``: the
    run's ``XMemConfig``, which other families ignore); requires / extra: the
    Python modules its loader needs and the ``tam-label`` extra that installs
    them (:meth:`check_installed`).
    """

    name: str
    types: tuple[str, ...]
    checkpoints: tuple[Checkpoint, ...]
    load: Callable[..., Any]
    test_types: tuple[str, ...] = ()
    label: str = ""
    requires: tuple[str, ...] = ()
    extra: str = ""

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name or not self.types:
            raise ConfigError(f"tracker family {self.name!r}: a name without ':' and at least one type")
        official = {c.model_type for c in self.checkpoints}
        if official != set(self.types) or any(c.family != self.name for c in self.checkpoints):
            raise ConfigError(f"tracker family {self.name!r}: one checkpoint of family {self.name!r} per type "
                              f"{list(self.types)}, got {sorted(map(str, official))}")
        if set(self.types) & set(self.test_types):
            raise ConfigError(f"tracker family {self.name!r}: a type is either official or test-only")

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def default_type(self) -> str:
        return self.types[0]

    @property
    def all_types(self) -> tuple[str, ...]:
        return self.types + self.test_types

    def check_installed(self) -> None:
        """ConfigError in one line, before any download or load, when a module is missing."""
        import importlib.util

        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            how = f"pip install 'tam-label[{self.extra}]'" if self.extra else f"pip install {' '.join(missing)}"
            raise ConfigError(f"the {self.title} tracker needs {', '.join(missing)}: {how} (or use --tracker xmem)")

    def checkpoint(self, model_type: str) -> Checkpoint:
        """The official weights of ``model_type`` (ConfigError for a test type)."""
        for c in self.checkpoints:
            if c.model_type == model_type:
                return c
        raise ConfigError(f"{self.title} type {model_type!r} has no official weights; give its checkpoint "
                          "(--tracker-checkpoint PATH)")


__all__ = ["TrackerFamily"]
