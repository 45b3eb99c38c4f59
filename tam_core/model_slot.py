"""One loaded model kept in memory under a key (the cache behind
``tam_core.models.get_models`` and ``tam_core.concepts.load.get_concepts``)."""

from __future__ import annotations

import threading
from typing import Any, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class ModelSlot(Generic[T]):
    """Thread-safe: concurrent callers wait for the one load instead of loading
    twice; asking for another key drops the held model before loading the next
    (two full model sets rarely fit in memory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[Hashable, Any] | None = None
        self.loads = 0  # how many times a load really ran (tests)

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        with self._lock:
            if self._held is None or self._held[0] != key:
                self._held = None
                value = load()
                self.loads += 1
                self._held = (key, value)
            return self._held[1]

    def clear(self) -> None:
        with self._lock:
            self._held = None


__all__ = ["ModelSlot"]
