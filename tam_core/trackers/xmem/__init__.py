"""Our own XMem inference (Cheng & Schwing, ECCV 2022).

``load_xmem`` builds the network and loads the official ``XMem-s012.pth``
strictly; ``XMemTracker`` holds one video's memory and hidden state.
``XMemConfig`` is imported eagerly (light: ``tam_core.options`` holds one); the
rest, which needs torch, on first use.
"""

from importlib import import_module

from .config import XMemConfig

_LAZY = {"XMemNetwork": "network", "load_xmem": "network", "XMemTracker": "tracker", "soft_aggregate": "tracker"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["XMemConfig", *_LAZY]
