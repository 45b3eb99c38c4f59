"""Official checkpoints: the registry (``registry``), the cache folder and
verification (``cache``), the verified resumable download (``download``) and
``resolve_checkpoint`` (``resolve``): a name or a path -> a checkpoint file."""

from tam_core.weights.cache import CACHE_ENV, cached_path, default_cache_dir, sha256_file, verify_checkpoint
from tam_core.weights.download import download_checkpoint
from tam_core.weights.registry import REGISTRY, Checkpoint, get_checkpoint
from tam_core.weights.resolve import resolve_checkpoint

__all__ = ["CACHE_ENV", "REGISTRY", "Checkpoint", "cached_path", "default_cache_dir", "download_checkpoint",
           "get_checkpoint", "resolve_checkpoint", "sha256_file", "verify_checkpoint"]
