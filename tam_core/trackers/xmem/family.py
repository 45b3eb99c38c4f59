"""XMem as the tracker registry sees it: its one architecture ("s012", the
official ``XMem-s012.pth``), the checkpoint and the loader. Light: the loader
imports torch and the network only when called."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tam_core.trackers.family import TrackerFamily
from tam_core.weights.checkpoint import Checkpoint

# XMem-s012.pth: no published digest or exact size was found (about 249 MB); it is
# checked structurally instead (see tam_core.weights.cache).
XMEM = Checkpoint(
    name="xmem",
    filename="XMem-s012.pth",
    url="https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem-s012.pth",
    family="xmem",
    license="MIT",  # hkchengrex/XMem's LICENSE (2024: MIT)
    model_type="s012",
)


@dataclass(frozen=True)
class XMemTrackerFactory:
    """Every call builds a fresh tracker over the one shared, already loaded
    network, with the caller's memory settings (``RunOptions.xmem_config``)."""

    network: Any
    device: Any
    autocast: str | None

    def __call__(self, config: Any = None) -> Any:
        from tam_core.trackers.xmem.tracker import XMemTracker

        return XMemTracker(self.network, config, device=self.device, autocast_dtype=self.autocast)


def _load(model_type: str, checkpoint: Any, device: Any = "cpu", autocast: str | None = None) -> XMemTrackerFactory:
    from tam_core.trackers.xmem.network import load_xmem

    return XMemTrackerFactory(load_xmem(checkpoint, device), device, autocast)


XMEM_FAMILY = TrackerFamily(name="xmem", label="XMem", types=("s012",), checkpoints=(XMEM,), load=_load)

__all__ = ["XMEM", "XMEM_FAMILY", "XMemTrackerFactory"]
