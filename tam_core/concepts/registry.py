"""The concept-prompt families tam-label can load, by name (SAM 3).

Read by ``ConceptOptions`` validation and loading, the CLI's ``--concept-model``,
the FiftyOne form and ``tam-label weights`` (through ``tam_core.weights.REGISTRY``).
Light: reading it imports no model code."""

from __future__ import annotations

from tam_core.families import FamilyRegistry

from .family import ConceptFamily

DEFAULT_CONCEPT_MODEL = "sam3"


def _built_in() -> tuple[ConceptFamily, ...]:
    from .family import SAM3

    return (SAM3,)


_REGISTRY: FamilyRegistry[ConceptFamily] = FamilyRegistry("concept model", _built_in)
families = _REGISTRY.families
get_family = _REGISTRY.get
registered = _REGISTRY.registered  # a context manager (tests)


def concept_choices(include_test: bool = False) -> list[str]:
    """Every "family:type" a user may pick (test-only types when ``include_test``)."""
    return _REGISTRY.choices(include_test)


parse_concept_model = _REGISTRY.parse  # "family:type" or a bare family name (its default type) -> (family, type)


__all__ = ["DEFAULT_CONCEPT_MODEL", "concept_choices", "families", "get_family", "parse_concept_model", "registered"]
