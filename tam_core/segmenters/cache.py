"""A bounded, thread-safe cache of image embeddings, owned by its caller.

Segmenters are stateless (``embed(image) -> embedding``, ``predict(embedding,
...)``) because one loaded model is shared by every caller of a process (the
FiftyOne App serves operators and panel events from several threads). Whoever
prompts the same frame again keeps its embeddings here, keyed by its own video
and frame, so nothing of one caller is ever read by another.

An entry is reused only for the same segmenter object and the same pixels (a
content digest of the image is part of the entry), so a key naming the frame
index of another video, or a reloaded model, re-encodes instead of answering
with the wrong embedding.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import Any, Hashable

import numpy as np

from tam_core.errors import ConfigError


def image_digest(image: np.ndarray) -> bytes:
    """Content digest of an image (about 1 ms at 480p): shape + pixels."""
    image = np.ascontiguousarray(image)
    return hashlib.blake2b(image.data, digest_size=16).digest() + bytes(str(image.shape), "ascii")


class EmbeddingCache:
    """LRU of up to ``capacity`` embeddings keyed by the caller's key (e.g. the
    frame index for a session over one video, ``(video path, frame)`` for a
    cache shared across videos). Safe to share between threads."""

    def __init__(self, capacity: int = 4) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ConfigError(f"embedding cache capacity must be an integer >= 1, got {capacity!r}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[weakref.ref, bytes, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def embed(self, segmenter: Any, key: Hashable, image: np.ndarray) -> Any:
        """``segmenter.embed(image)``, reused when ``key`` last held these pixels
        for this segmenter. The encoder runs outside the lock (two threads
        asking for the same new key may both encode it; both get a correct
        embedding)."""
        digest = image_digest(image)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0]() is segmenter and hit[1] == digest:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit[2]
            self.misses += 1
        embedding = segmenter.embed(image)
        with self._lock:
            self._entries[key] = (weakref.ref(segmenter), digest, embedding)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return embedding

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def scoped(self, scope: Hashable) -> "ScopedEmbeddings":
        """A view of this cache whose keys are ``(scope, key)``: a session over
        one video (keys = frame indices) can share the cache of a caller that
        keys by ``(video path, frame)``, e.g. the FiftyOne App's previews."""
        return ScopedEmbeddings(self, scope)


class ScopedEmbeddings:
    """``embed(segmenter, key, image)`` through ``cache`` under ``(scope, key)``
    (see :meth:`EmbeddingCache.scoped`)."""

    def __init__(self, cache: EmbeddingCache, scope: Hashable) -> None:
        self.cache = cache
        self.scope = scope

    def embed(self, segmenter: Any, key: Hashable, image: np.ndarray) -> Any:
        return self.cache.embed(segmenter, (self.scope, key), image)


__all__ = ["EmbeddingCache", "ScopedEmbeddings", "image_digest"]
