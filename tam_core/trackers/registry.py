"""The tracker families tam-label can load, by name (XMem, SAM 2.1).

Every user-facing choice reads this registry: the CLI's ``--tracker``,
``ModelOptions`` validation and loading, the FiftyOne App's menu and settings,
CVAT's parameters and ``tam-label weights`` (through
``tam_core.weights.REGISTRY``). Adding a family is one module that builds a
:class:`~tam_core.trackers.family.TrackerFamily` plus one entry in
``_built_in`` (or :func:`register` at run time).

Light: reading it imports no model code."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from tam_core.errors import ConfigError
from tam_core.trackers.family import TrackerFamily

DEFAULT_TRACKER = "xmem"
_lock = threading.Lock()
_extra: dict[str, TrackerFamily] = {}


def _built_in() -> dict[str, TrackerFamily]:
    from tam_core.trackers.sam2.family import SAM2
    from tam_core.trackers.xmem.family import XMEM_FAMILY

    return {f.name: f for f in (XMEM_FAMILY, SAM2)}


def families() -> dict[str, TrackerFamily]:
    """name -> family: the built-in ones, then those registered."""
    with _lock:
        return {**_built_in(), **_extra}


def get_family(name: str) -> TrackerFamily:
    known = families()
    if name not in known:
        raise ConfigError(f"unknown tracker {name!r}: use one of {', '.join(known)}")
    return known[name]


def register(family: TrackerFamily) -> None:
    """Make ``family`` selectable everywhere (ConfigError if the name is taken)."""
    with _lock:
        if family.name in _built_in() or family.name in _extra:
            raise ConfigError(f"a tracker family named {family.name!r} is already registered")
        _extra[family.name] = family


def unregister(name: str) -> None:
    with _lock:
        _extra.pop(name, None)


@contextmanager
def registered(family: TrackerFamily) -> Iterator[TrackerFamily]:
    """``family`` registered for the ``with`` block (tests)."""
    register(family)
    try:
        yield family
    finally:
        unregister(family.name)


def tracker_choices(include_test: bool = False) -> list[str]:
    """Every "family:type" a user may pick (test-only types when ``include_test``)."""
    return [f"{f.name}:{t}" for f in families().values() for t in (f.all_types if include_test else f.types)]


def parse_tracker(spec: str) -> tuple[str, str]:
    """"family:type" or a bare family name (its default type) -> (family, type), checked."""
    family_name, sep, model_type = str(spec).strip().partition(":")
    family = get_family(family_name)
    model_type = model_type if sep else family.default_type
    if model_type not in family.all_types:
        raise ConfigError(f"unknown {family.title} type {model_type!r}: use one of {', '.join(family.types)}"
                          + (f" (test-only: {', '.join(family.test_types)})" if family.test_types else ""))
    return family.name, model_type


__all__ = ["DEFAULT_TRACKER", "families", "get_family", "parse_tracker", "register", "registered",
           "tracker_choices", "unregister"]
