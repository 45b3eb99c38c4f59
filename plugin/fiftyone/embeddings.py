"""The App's one cache of image embeddings, keyed by (video path, frame index):
the panel's click previews and the tracking runs of this process share it, so a
frame previewed in the panel is not encoded again when it is tracked or
refined. Thread-safe (FiftyOne serves panel events and operators from several
threads); made on first use, not at import."""

from __future__ import annotations

import functools

from tam_core.segmenters.cache import EmbeddingCache

APP_CACHE_SIZE = 8  # frames whose embeddings the App keeps (clicking on one frame again re-encodes nothing)


@functools.cache
def app_embeddings() -> EmbeddingCache:
    return EmbeddingCache(APP_CACHE_SIZE)


__all__ = ["APP_CACHE_SIZE", "app_embeddings"]
