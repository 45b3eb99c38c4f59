"""Our own XMem inference (Cheng & Schwing, ECCV 2022).

``load_xmem`` builds the network and loads the official ``XMem-s012.pth``
strictly; ``XMemTracker`` holds one video's memory and hidden state.
"""

from .config import XMemConfig
from .network import XMemNetwork, load_xmem
from .tracker import XMemTracker, soft_aggregate

__all__ = ["XMemConfig", "XMemNetwork", "XMemTracker", "load_xmem", "soft_aggregate"]
