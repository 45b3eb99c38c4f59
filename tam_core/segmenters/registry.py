"""The segmenter families tam-label can load, by name.

Every user-facing choice reads this registry: the CLI's ``--sam-type`` /
``--segmenter``, ``ModelOptions`` validation and loading, the FiftyOne App's
model menu and settings, CVAT's function parameters and ``tam-label weights``
(through ``tam_core.weights.REGISTRY``). Adding a family is one module that
builds a :class:`~tam_core.segmenters.family.SegmenterFamily` plus one entry
in ``_BUILT_IN`` (or :func:`register` at run time, e.g. a test double).

Light: reading it imports no model code."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from tam_core.errors import ConfigError
from tam_core.segmenters.family import SegmenterFamily

DEFAULT_FAMILY = "sam"
_lock = threading.Lock()
_extra: dict[str, SegmenterFamily] = {}  # families registered at run time (empty at import)


def _built_in() -> dict[str, SegmenterFamily]:
    from tam_core.segmenters.efficientvit.family import EFFICIENTVIT_SAM
    from tam_core.segmenters.sam.family import SAM
    from tam_core.segmenters.sam2.family import SAM2

    return {f.name: f for f in (SAM, EFFICIENTVIT_SAM, SAM2)}


def families() -> dict[str, SegmenterFamily]:
    """name -> family: the built-in ones, then those registered."""
    with _lock:
        return {**_built_in(), **_extra}


def get_family(name: str) -> SegmenterFamily:
    known = families()
    if name not in known:
        raise ConfigError(f"unknown segmenter family {name!r}: use one of {', '.join(known)}")
    return known[name]


def register(family: SegmenterFamily) -> None:
    """Make ``family`` selectable everywhere (ConfigError if the name is taken)."""
    with _lock:
        if family.name in _built_in() or family.name in _extra:
            raise ConfigError(f"a segmenter family named {family.name!r} is already registered")
        _extra[family.name] = family


def unregister(name: str) -> None:
    with _lock:
        _extra.pop(name, None)


@contextmanager
def registered(family: SegmenterFamily) -> Iterator[SegmenterFamily]:
    """``family`` registered for the ``with`` block (tests)."""
    register(family)
    try:
        yield family
    finally:
        unregister(family.name)


def segmenter_choices(include_test: bool = False) -> list[str]:
    """Every "family:type" a user may pick (test-only types when ``include_test``)."""
    return [f"{f.name}:{t}" for f in families().values() for t in (f.all_types if include_test else f.types)]


def parse_segmenter(spec: str) -> tuple[str, str]:
    """"family:type" (or a bare type of the default family) -> (family, type), checked."""
    family_name, sep, model_type = str(spec).partition(":")
    if not sep:
        family_name, model_type = DEFAULT_FAMILY, family_name
    family = get_family(family_name)
    if model_type not in family.all_types:
        raise ConfigError(f"unknown {family.title} model type {model_type!r}: use one of {', '.join(family.types)}"
                          + (f" (test-only: {', '.join(family.test_types)})" if family.test_types else ""))
    return family.name, model_type


__all__ = ["DEFAULT_FAMILY", "families", "get_family", "parse_segmenter", "register", "registered",
           "segmenter_choices", "unregister"]
