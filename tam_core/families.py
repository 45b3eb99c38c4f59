"""What every pluggable model family shares, segmenters and trackers alike
(:class:`ModelFamily`, :class:`FamilyRegistry`): official and test-only
types, one official checkpoint per type, the packages its loader needs, and a
thread-safe registry of built-in and run-time families. Light: no model code.
``tam_core.segmenters.family`` / ``tam_core.trackers.family`` add what their
kind needs; ``tam_core.segmenters.registry`` / ``tam_core.trackers.registry``
hold one registry each."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Generic, Iterator, TypeVar

from tam_core.errors import ConfigError
from tam_core.weights.checkpoint import Checkpoint


@dataclass(frozen=True, kw_only=True)
class ModelFamily:
    """name: ``NAME:TYPE`` in every choice and the checkpoints' ``family``;
    label: its name in messages and menus; types: architectures with official
    weights, offered to users, the first the default; test_types: random-weight
    architectures for tests (they need a checkpoint path; user-facing menus hide
    them); checkpoints: one official ``Checkpoint`` per entry of ``types``;
    load: the loader (imports the heavy code when called; its signature is the
    kind's); requires / extra: the modules the loader needs and the
    ``tam-label`` extra that installs them (:meth:`check_installed`)."""

    kind: ClassVar[str] = "model"  # "segmenter" | "tracker", in messages
    flag: ClassVar[str] = ""  # the option that picks another family / takes local weights

    name: str
    types: tuple[str, ...]
    checkpoints: tuple[Checkpoint, ...]
    load: Callable[..., Any]
    test_types: tuple[str, ...] = ()
    label: str = ""
    requires: tuple[str, ...] = ()
    extra: str = ""

    def __post_init__(self) -> None:
        what = f"{self.kind} family {self.name!r}"
        if not self.name or ":" in self.name or not self.types:
            raise ConfigError(f"{what}: a name without ':' and at least one type")
        official = {c.model_type for c in self.checkpoints}
        if official != set(self.types) or any(c.family != self.name for c in self.checkpoints):
            raise ConfigError(f"{what}: one checkpoint of family {self.name!r} per type "
                              f"{list(self.types)}, got {sorted(map(str, official))}")
        if set(self.types) & set(self.test_types):
            raise ConfigError(f"{what}: a type is either official or test-only")

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def default_type(self) -> str:
        return self.types[0]

    @property
    def all_types(self) -> tuple[str, ...]:
        return self.types + self.test_types

    @property
    def installed(self) -> bool:
        """Every module in ``requires`` can be imported (looked up, not imported)."""
        import importlib.util

        return all(importlib.util.find_spec(m) is not None for m in self.requires)

    def check_installed(self) -> None:
        """ConfigError in one line, before any download or load, when a module is missing."""
        import importlib.util

        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            how = f"pip install 'tam-label[{self.extra}]'" if self.extra else f"pip install {' '.join(missing)}"
            raise ConfigError(f"the {self.title} {self.kind} needs {', '.join(missing)}: {how} "
                              f"(or choose another with {self.flag})")

    def checkpoint(self, model_type: str) -> Checkpoint:
        """The official weights of ``model_type`` (ConfigError for a test type)."""
        for c in self.checkpoints:
            if c.model_type == model_type:
                return c
        raise ConfigError(f"{self.title} type {model_type!r} has no official weights; give its checkpoint file")


F = TypeVar("F", bound=ModelFamily)


class FamilyRegistry(Generic[F]):
    """Families by name: the built-in ones (``built_in()``, imported on use so
    reading the registry loads no model code), then those registered at run time."""

    def __init__(self, what: str, built_in: Callable[[], tuple[F, ...]]):
        self._what, self._built_in = what, built_in
        self._lock = threading.Lock()
        self._extra: dict[str, F] = {}

    def _builtins(self) -> dict[str, F]:
        return {f.name: f for f in self._built_in()}

    def families(self) -> dict[str, F]:
        """name -> family: the built-in ones, then those registered."""
        with self._lock:
            return {**self._builtins(), **self._extra}

    def get(self, name: str) -> F:
        known = self.families()
        if name not in known:
            raise ConfigError(f"unknown {self._what} {name!r}: use one of {', '.join(known)}")
        return known[name]

    def register(self, family: F) -> None:
        """Make ``family`` selectable everywhere (ConfigError if the name is taken)."""
        with self._lock:
            if family.name in self._builtins() or family.name in self._extra:
                raise ConfigError(f"a {self._what} named {family.name!r} is already registered")
            self._extra[family.name] = family

    def unregister(self, name: str) -> None:
        with self._lock:
            self._extra.pop(name, None)

    @contextmanager
    def registered(self, family: F) -> Iterator[F]:
        """``family`` registered for the ``with`` block (tests)."""
        self.register(family)
        try:
            yield family
        finally:
            self.unregister(family.name)

    def parse(self, spec: str) -> tuple[str, str]:
        """"family:type" or a bare family name (its default type) -> (family, type), checked."""
        family_name, sep, model_type = str(spec).strip().partition(":")
        family = self.get(family_name)
        model_type = model_type if sep else family.default_type
        if model_type not in family.all_types:
            raise ConfigError(f"unknown {family.title} type {model_type!r}: use one of {', '.join(family.types)}"
                              + (f" (test-only: {', '.join(family.test_types)})" if family.test_types else ""))
        return family.name, model_type

    def choices(self, include_test: bool = False) -> list[str]:
        """Every "family:type" a user may pick (test-only types when ``include_test``)."""
        return [f"{f.name}:{t}" for f in self.families().values() for t in (f.all_types if include_test else f.types)]


__all__ = ["FamilyRegistry", "ModelFamily"]
