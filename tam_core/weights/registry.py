"""The official checkpoints by name: every segmenter, tracker and concept
family's (declared by the family: ``tam_core.segmenters.registry``,
``tam_core.trackers.registry``, ``tam_core.concepts.registry``). Light: no torch, no I/O."""

from __future__ import annotations

from typing import Iterator, Mapping

from tam_core.errors import CheckpointError
from tam_core.weights.checkpoint import Checkpoint


class _Registry(Mapping[str, Checkpoint]):
    """name -> Checkpoint, read from the segmenter and tracker registries on
    every use, so a family registered at run time is listed, downloadable and
    resolvable."""

    def _all(self) -> dict[str, Checkpoint]:
        from tam_core.concepts.registry import families as concepts
        from tam_core.segmenters.registry import families as segmenters
        from tam_core.trackers.registry import families as trackers

        found = [c for f in (*segmenters().values(), *trackers().values(), *concepts().values()) for c in f.checkpoints]
        return {c.name: c for c in found}

    def __getitem__(self, name: str) -> Checkpoint:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


REGISTRY: Mapping[str, Checkpoint] = _Registry()


def get_checkpoint(name: str, registry: Mapping[str, Checkpoint] | None = None) -> Checkpoint:
    """The registry entry ``name``; :class:`CheckpointError` listing the names otherwise."""
    registry = REGISTRY if registry is None else registry
    try:
        return registry[name]
    except KeyError:
        raise CheckpointError(
            f"unknown checkpoint {name!r}: use one of {', '.join(sorted(registry))} or a path to a .pth file"
        ) from None





__all__ = ["REGISTRY", "Checkpoint", "get_checkpoint"]
