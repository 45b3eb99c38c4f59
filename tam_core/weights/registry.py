"""The official checkpoints by name: every segmenter family's (declared by the
family, ``tam_core.segmenters.registry``) and XMem's. Light: no torch, no I/O."""

from __future__ import annotations

from typing import Iterator, Mapping

from tam_core.errors import CheckpointError
from tam_core.weights.checkpoint import Checkpoint

# XMem-s012.pth: no published digest or exact size was found (about 249 MB); it is
# checked structurally instead (see tam_core.weights.cache).
XMEM = Checkpoint(
    name="xmem",
    filename="XMem-s012.pth",
    url="https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem-s012.pth",
    family="xmem",
    license="MIT",  # hkchengrex/XMem's LICENSE (2024: MIT)
)


class _Registry(Mapping[str, Checkpoint]):
    """name -> Checkpoint, read from the segmenter registry on every use, so a
    family registered at run time is listed, downloadable and resolvable."""

    def _all(self) -> dict[str, Checkpoint]:
        from tam_core.segmenters.registry import families

        found = [c for f in families().values() for c in f.checkpoints] + [XMEM]
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


__all__ = ["REGISTRY", "XMEM", "Checkpoint", "get_checkpoint"]
