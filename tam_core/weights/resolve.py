"""``resolve_checkpoint``: a registry name or a local path -> a verified checkpoint file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from tam_core.errors import CheckpointError, WeightsUnavailableError
from tam_core.weights.cache import cached_path, published_digest, verified_before, verify_checkpoint
from tam_core.weights.download import download_checkpoint
from tam_core.weights.hub import is_snapshot_folder, resolve_snapshot
from tam_core.weights.registry import REGISTRY, Checkpoint, get_checkpoint

# -- resolve -------------------------------------------------------------------------
def _looks_like_path(text: str) -> bool:
    return (
        os.sep in text
        or "/" in text
        or text.startswith(("~", "."))
        or text.lower().endswith((".pth", ".pt", ".ckpt", ".bin", ".safetensors"))
    )


def resolve_checkpoint(
    name_or_path: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
    registry: Mapping[str, Checkpoint] | None = None,
) -> Path:
    """Turn a registry name or a local path into the path of a checkpoint file
    (or, for Hugging Face Hub weights, of a snapshot folder).

    An existing file, or a folder in a Hub model's layout (``config.json`` +
    ``*.safetensors``), is returned as is (not verified: it may be fine-tuned). A
    registry name gives the cached file when present and verified (the full
    SHA-256 is computed once per file and remembered), else it is downloaded
    (when ``download``). Raises :class:`CheckpointError` for a missing path or an
    unknown name, :class:`WeightsUnavailableError` when offline.
    """
    registry = REGISTRY if registry is None else registry
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_file() or is_snapshot_folder(path):
        return path
    if path.is_dir():
        raise CheckpointError(f"checkpoint path {path} is a folder without config.json; pass the .pth file "
                              "inside it (or, for Hugging Face weights, the folder holding config.json)")
    if isinstance(name_or_path, os.PathLike) or (_looks_like_path(text) and text not in registry):
        raise CheckpointError(
            f"checkpoint file not found: {path}; check the path or use a name ({', '.join(sorted(registry))})"
        )
    ckpt = get_checkpoint(text, registry)
    if ckpt.on_hub:
        return resolve_snapshot(ckpt, cache_dir=cache_dir, download=download, progress=progress)
    dest = cached_path(ckpt, cache_dir)
    if dest.is_file():
        if (ckpt.sha256 or published_digest(dest)) and verified_before(ckpt, dest):
            return verify_checkpoint(ckpt, dest, full_hash=False)
        return verify_checkpoint(ckpt, dest, progress=progress)
    if not download:
        raise WeightsUnavailableError(
            f"{ckpt.filename} is not in the cache ({dest}); run `tam-label weights download {ckpt.name}`, "
            f"put the file there, or pass a local file with {ckpt.flag} PATH"
        )
    return download_checkpoint(ckpt, cache_dir=cache_dir, progress=progress)
