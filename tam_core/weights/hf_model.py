"""The one strict loader of ``transformers`` models from a snapshot folder
(``tam_core.weights.hub``) or a local folder in the same layout.

``from_pretrained`` only warns about missing or unexpected weights and
silently re-initialises the missing ones at random: a renamed key would then
give masks from random weights that look like a model's. Every engine that
comes from ``transformers`` loads through :func:`load_pretrained_strictly`,
which refuses any mismatch in one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tam_core.errors import CheckpointError


def load_pretrained_strictly(model_class: Any, folder: str | os.PathLike, device: Any = "cpu",
                             what: str | None = None) -> Any:
    """``model_class.from_pretrained(folder)`` in eval mode on ``device``, fp32,
    refusing a checkpoint whose keys or shapes are not exactly the model's.

    model_class: a ``transformers`` model class (e.g. ``Sam2VideoModel``);
    folder: holds ``config.json`` + ``*.safetensors``; what: the name used in
    messages (default: the folder). Raises :class:`CheckpointError`."""
    folder = Path(folder)
    name = what or str(folder)
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{name}: {folder} has no config.json; pass a folder in the Hugging Face layout "
                              "(config.json + model.safetensors)")
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its load report table is replaced by the one-line error below
    try:
        model, info = model_class.from_pretrained(folder, output_loading_info=True, dtype="float32")
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{name} cannot be loaded as {model_class.__name__} ({first[:200]})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    problems = []
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        keys = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get(kind) or ())
        if keys:
            problems.append(f"{len(keys)} {kind.replace('_', ' ')} (e.g. {', '.join(keys[:3])})")
    if info.get("error_msgs"):
        problems.append(str(info["error_msgs"][0])[:200])
    if problems:
        raise CheckpointError(f"{name} is not an official {model_class.__name__} checkpoint: {'; '.join(problems)}; "
                              "use the official weights (`tam-label weights download`) or a matching folder")
    return model.to(device).eval()


__all__ = ["load_pretrained_strictly"]
