"""Object id <-> channel for one XMem pass (after Cutie's ``ObjectManager``).

The tracker keeps per-object tensors (hidden state, memory values,
probabilities) in channels; :class:`ObjectManager` is the one place that knows
which object id lives in which channel. Channels are 0-based and follow the
order in which objects arrived; removing an object shifts the later ones down
(the per-object tensors drop the same row). Probability tensors put the
background first, so object channel c is row c + 1 there; ``to_probs`` turns
such a tensor into the id-keyed :class:`~tam_core.types.ObjectProbs` the
session consumes.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from tam_core.errors import PromptError
from tam_core.types import ObjectProbs


class ObjectManager:
    """Object ids of one tracker pass, in channel order."""

    def __init__(self) -> None:
        self._ids: list[int] = []

    @property
    def ids(self) -> tuple[int, ...]:
        """Object ids in channel order."""
        return tuple(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._ids

    def channel(self, object_id: int) -> int:
        """The 0-based channel of a known object."""
        try:
            return self._ids.index(object_id)
        except ValueError:
            raise PromptError(f"unknown object id {object_id}; known: {self._ids}") from None

    def add(self, object_ids: Iterable[int]) -> list[int]:
        """Give the unknown ones among ``object_ids`` the next channels, in
        increasing id order; returns those new ids (known ids keep theirs)."""
        new = sorted({int(o) for o in object_ids} - set(self._ids))
        self._ids.extend(new)
        return new

    def remove(self, object_id: int) -> int:
        """Forget an object; returns the channel it had (later channels shift down by one)."""
        c = self.channel(object_id)
        del self._ids[c]
        return c

    def to_probs(self, stacked: np.ndarray) -> ObjectProbs:
        """float32 [K+1,H,W] (background, then the channels) -> ObjectProbs keyed by id."""
        return ObjectProbs(self.ids, stacked)


__all__ = ["ObjectManager"]
