"""The tracker families tam-label can load, by name (XMem, SAM 2.1).

Every user-facing choice reads this registry: the CLI's ``--tracker``,
``ModelOptions`` validation and loading, the FiftyOne App's menu and settings,
CVAT's parameters and ``tam-label weights`` (through
``tam_core.weights.REGISTRY``). Adding a family is one module that builds a
:class:`~tam_core.trackers.family.TrackerFamily` plus one entry in
``_built_in`` (or :func:`register` at run time).

Light: reading it imports no model code."""

from __future__ import annotations

from tam_core.families import FamilyRegistry
from tam_core.trackers.family import TrackerFamily

DEFAULT_TRACKER = "xmem"


def _built_in() -> tuple[TrackerFamily, ...]:
    from tam_core.trackers.sam2.family import SAM2
    from tam_core.trackers.xmem.family import XMEM_FAMILY

    return (XMEM_FAMILY, SAM2)


_REGISTRY: FamilyRegistry[TrackerFamily] = FamilyRegistry("tracker", _built_in)
families = _REGISTRY.families  # name -> family: the built-in ones, then those registered
get_family = _REGISTRY.get
register = _REGISTRY.register  # a family registered at run time is selectable everywhere
unregister = _REGISTRY.unregister
registered = _REGISTRY.registered  # a context manager (tests)


def tracker_choices(include_test: bool = False) -> list[str]:
    """Every "family:type" a user may pick (test-only types when ``include_test``)."""
    return _REGISTRY.choices(include_test)


parse_tracker = _REGISTRY.parse  # "family:type" or a bare family name (its default type) -> (family, type)


__all__ = ["DEFAULT_TRACKER", "families", "get_family", "parse_tracker", "register", "registered",
           "tracker_choices", "unregister"]
