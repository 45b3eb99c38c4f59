"""One downloadable checkpoint (:class:`Checkpoint`): the type every family
declares its official weights with. A leaf: no imports of the project."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Checkpoint:
    """One downloadable checkpoint.

    size: bytes (None when not published); sha256: full hex digest (None when not
    published). family: a segmenter family's name ("sam", see
    ``tam_core.segmenters.registry``) or "xmem"; model_type: the family's
    architecture the weights are for ("vit_b", ...).
    """

    name: str
    filename: str
    url: str
    family: str
    size: int | None = None
    sha256: str | None = None
    model_type: str | None = None

    @property
    def flag(self) -> str:
        """The command-line flag that takes a local file instead of this download
        (every segmenter family's weights go to ``--sam-checkpoint``)."""
        return "--xmem-checkpoint" if self.family == "xmem" else "--sam-checkpoint"


__all__ = ["Checkpoint"]
