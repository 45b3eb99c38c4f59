"""The segmenter families tam-label can load, by name.

Every user-facing choice reads this registry: the CLI's ``--sam-type`` /
``--segmenter``, ``ModelOptions`` validation and loading, the FiftyOne App's
model menu and settings, CVAT's function parameters and ``tam-label weights``
(through ``tam_core.weights.REGISTRY``). Adding a family is one module that
builds a :class:`~tam_core.segmenters.family.SegmenterFamily` plus one entry
in ``_BUILT_IN`` (or :func:`register` at run time, e.g. a test double).

Light: reading it imports no model code."""

from __future__ import annotations

from tam_core.errors import ConfigError
from tam_core.families import FamilyRegistry
from tam_core.segmenters.family import SegmenterFamily

DEFAULT_FAMILY = "sam"


def _built_in() -> tuple[SegmenterFamily, ...]:
    from tam_core.segmenters.efficientvit.family import EFFICIENTVIT_SAM
    from tam_core.segmenters.sam.family import SAM
    from tam_core.segmenters.sam2.family import SAM2

    return (SAM, EFFICIENTVIT_SAM, SAM2)


_REGISTRY: FamilyRegistry[SegmenterFamily] = FamilyRegistry("segmenter family", _built_in)
families = _REGISTRY.families  # name -> family: the built-in ones, then those registered
get_family = _REGISTRY.get
register = _REGISTRY.register  # a family registered at run time is selectable everywhere
unregister = _REGISTRY.unregister
registered = _REGISTRY.registered  # a context manager (tests)


def segmenter_choices(include_test: bool = False) -> list[str]:
    """Every "family:type" a user may pick (test-only types when ``include_test``)."""
    return _REGISTRY.choices(include_test)


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
