"""Hugging Face Hub weights: a :class:`~tam_core.weights.checkpoint.Checkpoint`
with a ``repo_id`` resolved to a verified local snapshot folder.

Why ``huggingface_hub`` and not our own downloader: the engines that come from
``transformers`` (SAM 2.1, EdgeTAM, SAM 3) publish their weights as Hub repos
(a ``config.json`` plus ``*.safetensors``), gated repos need the user's Hub
token, and people who use these models already have them in HF's cache.
``huggingface_hub`` does resumable, locked downloads into that cache and finds
the token where every HF tool does (``HF_TOKEN``, ``hf auth login``).

Where: HF's own cache (``HF_HUB_CACHE`` / ``HF_HOME``, default
``~/.cache/huggingface/hub``), so weights already downloaded by other tools are
reused. An explicit ``cache_dir`` (``--cache-dir``, or ``$TAM_LABEL_CACHE``)
puts them in ``<cache_dir>/huggingface`` instead, beside the other weights.

Integrity: the Hub stores every Git-LFS file (the weights) under its SHA-256,
and HF's cache keeps that name (``blobs/<sha256>``), so each weights file of a
snapshot is hashed and compared with the digest the Hub published, offline
too. A verified snapshot gets a note (sizes, mtimes) so later runs skip
re-hashing; ``tam-label weights verify`` always re-hashes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tam_core.errors import CheckpointError, WeightsUnavailableError
from tam_core.weights.checkpoint import Checkpoint

ALLOW_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model")  # config, weights, tokenizer files
_NOTE = ".tam-label-verified.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def hub_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The Hub cache to use: ``<cache_dir>/huggingface`` when a tam-label cache is
    given (argument or ``$TAM_LABEL_CACHE``), else None (HF's own cache)."""
    from tam_core.weights.cache import CACHE_ENV

    base = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV)
    return Path(base).expanduser() / "huggingface" if base else None


def page(ckpt: Checkpoint) -> str:
    return f"https://huggingface.co/{ckpt.repo_id}"


def local_snapshot(ckpt: Checkpoint, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The cached snapshot folder of ``ckpt`` at its revision, or None (no network used)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(ckpt.repo_id, revision=ckpt.revision, cache_dir=hub_cache_dir(cache_dir),
                                   local_files_only=True, allow_patterns=list(ALLOW_PATTERNS))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        return None
    folder = Path(folder)
    return folder if any(folder.glob("*.safetensors")) else None


def download_snapshot(ckpt: Checkpoint, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                      endpoint: str | None = None) -> Path:
    """Download (or complete) the snapshot of ``ckpt`` and verify it; returns its folder.

    Raises :class:`WeightsUnavailableError` when the Hub cannot be reached or a
    gated repo refuses the user (saying to accept the license and set a token),
    :class:`CheckpointError` for a repo or revision that does not exist or a
    file whose SHA-256 is not the Hub's."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    if not progress:
        disable_progress_bars()
    try:
        folder = snapshot_download(ckpt.repo_id, revision=ckpt.revision, cache_dir=hub_cache_dir(cache_dir),
                                   allow_patterns=list(ALLOW_PATTERNS), endpoint=endpoint)
    except GatedRepoError:
        raise WeightsUnavailableError(gated_message(ckpt)) from None
    except RevisionNotFoundError:
        raise CheckpointError(f"{ckpt.repo_id} has no revision {ckpt.revision!r} on the Hugging Face Hub "
                              f"({page(ckpt)}); pass a local folder with {ckpt.flag} PATH") from None
    except RepositoryNotFoundError:
        # the Hub answers "not found" to an anonymous request for a gated repo too
        if ckpt.gated:
            raise WeightsUnavailableError(gated_message(ckpt)) from None
        raise CheckpointError(f"{ckpt.repo_id} is not on the Hugging Face Hub ({page(ckpt)}); pass a local "
                              f"folder with {ckpt.flag} PATH") from None
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise WeightsUnavailableError(
            f"cannot download {ckpt.name} ({ckpt.repo_id}) from the Hugging Face Hub ({_reason(exc)}); where a "
            f"network exists run `tam-label weights download {ckpt.name}` (with HF_HUB_OFFLINE unset), or pass a "
            f"local folder holding config.json and the .safetensors with {ckpt.flag} PATH") from None
    finally:
        if not progress:
            enable_progress_bars()
    return verify_snapshot(ckpt, Path(folder))


def gated_message(ckpt: Checkpoint) -> str:
    return (f"{ckpt.name} ({ckpt.repo_id}) is gated under the {ckpt.license or 'model license'}: accept it at "
            f"{page(ckpt)} while logged in, then set HF_TOKEN or run `hf auth login` (or pass a local folder "
            f"with {ckpt.flag} PATH)")


def resolve_snapshot(ckpt: Checkpoint, cache_dir: str | os.PathLike | None = None, download: bool = True,
                     progress: bool = True) -> Path:
    """The verified snapshot folder of ``ckpt``: the cached one, else downloaded
    (when ``download``; else :class:`WeightsUnavailableError` saying what to do)."""
    folder = local_snapshot(ckpt, cache_dir)
    if folder is not None:
        return verify_snapshot(ckpt, folder, full_hash=False)
    if not download:
        where = hub_cache_dir(cache_dir) or "the Hugging Face cache"
        raise WeightsUnavailableError(
            f"{ckpt.name} ({ckpt.repo_id}) is not in {where}; run `tam-label weights download {ckpt.name}`, "
            f"or pass a local folder holding config.json and the .safetensors with {ckpt.flag} PATH")
    return download_snapshot(ckpt, cache_dir, progress)


def verify_snapshot(ckpt: Checkpoint, folder: Path, full_hash: bool = True) -> Path:
    """Check every weights file of a cached snapshot against the SHA-256 the Hub
    published (its blob name); a note lets later calls with ``full_hash=False``
    skip files unchanged since. Returns ``folder``."""
    from tam_core.weights.cache import sha256_file

    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise CheckpointError(f"{folder} holds no .safetensors file for {ckpt.name}; delete it and run "
                              f"`tam-label weights download {ckpt.name}` again")
    note = _read_note(folder)
    fresh = {}
    for path in weights:
        blob = path.resolve()
        expected = blob.name if _SHA256.fullmatch(blob.name) else None
        stat = blob.stat()
        key = [stat.st_size, stat.st_mtime_ns]
        if not full_hash and note.get(path.name) == key:
            fresh[path.name] = key
            continue
        if expected is None:
            continue  # not an LFS blob (a copied folder): nothing published to compare with
        actual = sha256_file(blob)
        if actual != expected:
            raise CheckpointError(
                f"{path} has SHA-256 {actual[:12]}..., the Hub published {expected[:12]}... for {ckpt.repo_id} "
                f"(corrupt); delete {blob} and run `tam-label weights download {ckpt.name}` again")
        fresh[path.name] = key
    try:
        (folder / _NOTE).write_text(json.dumps(fresh))
    except OSError:
        pass  # a read-only cache still works, it just re-hashes
    return folder


def _read_note(folder: Path) -> dict:
    try:
        return json.loads((folder / _NOTE).read_text())
    except (OSError, ValueError):
        return {}


def _reason(exc: Exception) -> str:
    text = str(exc)
    if os.environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0"):
        return "HF_HUB_OFFLINE is set"
    for needle, reason in (("Name or service not known", "no network: host name cannot be resolved"),
                           ("getaddrinfo", "no network: host name cannot be resolved"),
                           ("Connection refused", "connection refused"), ("timed out", "timed out")):
        if needle in text:
            return reason
    return "no network connection" if "internet connection" in text else type(exc).__name__


def is_snapshot_folder(path: Path) -> bool:
    """A local folder in a Hub model's layout (what ``--*-checkpoint`` accepts for Hub families)."""
    return path.is_dir() and (path / "config.json").is_file()


__all__ = ["ALLOW_PATTERNS", "download_snapshot", "gated_message", "hub_cache_dir", "is_snapshot_folder",
           "local_snapshot", "resolve_snapshot", "verify_snapshot"]
