"""A concept prompt: phrases, an optional label -> phrase mapping, a score threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from tam_core.errors import PromptError


@dataclass(frozen=True)
class ConceptPrompt:
    """phrases: the noun phrases to find ("dog", "red car"); labels: label ->
    phrase (a found object's label is the label whose phrase found it; default:
    the phrase itself); threshold: the lowest score kept, in [0, 1]."""

    phrases: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = field(default=())
    threshold: float = 0.5

    def __post_init__(self) -> None:
        phrases = tuple(self.phrases) if not isinstance(self.phrases, str) else (self.phrases,)
        phrases = tuple(" ".join(str(p).split()) for p in phrases)
        if not phrases or any(not p for p in phrases):
            raise PromptError(f"a concept prompt needs non-empty phrases, got {list(self.phrases)!r}")
        if len(set(phrases)) != len(phrases):
            raise PromptError(f"concept phrases repeat: {list(phrases)}")
        labels = tuple(dict(self.labels).items()) if isinstance(self.labels, Mapping) else tuple(
            (str(a), str(b)) for a, b in self.labels)
        unknown = [p for _, p in labels if p not in phrases]
        if unknown:
            raise PromptError(f"labels map to phrases not prompted: {unknown} (phrases: {list(phrases)})")
        try:
            threshold = float(self.threshold)
        except (TypeError, ValueError):
            raise PromptError(f"concept score threshold must be a number, got {self.threshold!r}") from None
        if not 0.0 <= threshold <= 1.0:
            raise PromptError(f"concept score threshold must be in [0, 1], got {threshold}")
        object.__setattr__(self, "phrases", phrases)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "threshold", threshold)

    @classmethod
    def from_labels(cls, labels: Iterable[str] | Mapping[str, str], threshold: float = 0.5) -> "ConceptPrompt":
        """Class names (each its own phrase) or a label -> phrase mapping."""
        mapping = dict(labels) if isinstance(labels, Mapping) else {str(x): str(x) for x in labels}
        phrases = tuple(dict.fromkeys(" ".join(p.split()) for p in mapping.values()))
        return cls(phrases, tuple((k, " ".join(v.split())) for k, v in mapping.items()), threshold)

    def label_of(self, phrase: str) -> str:
        for label, p in self.labels:
            if p == phrase:
                return label
        return phrase


def parse_classes(text: str | None) -> dict[str, str] | None:
    """A typed class list: "person, car" -> {"person": "person", "car": "car"};
    "car=red car, person" -> {"car": "red car", "person": "person"}; blank -> None
    (the caller's default classes)."""
    items = [x.strip() for x in (text or "").split(",") if x.strip()]
    if not items:
        return None
    return {k.strip(): (v.strip() or k.strip()) if sep else k.strip() for k, sep, v in (x.partition("=") for x in items)}


__all__ = ["ConceptPrompt", "parse_classes"]
