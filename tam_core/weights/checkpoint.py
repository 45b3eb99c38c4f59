"""One downloadable checkpoint (:class:`Checkpoint`): the type every family
declares its official weights with. A leaf: no imports of the project."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Checkpoint:
    """One downloadable checkpoint.

    size: bytes (None when not published); sha256: full hex digest (None when not
    published). family: a segmenter family's name ("sam", see
    ``tam_core.segmenters.registry``) or "xmem"; model_type: the family's
    architecture the weights are for ("vit_b", ...).

    Hugging Face Hub weights (``repo_id`` set): the checkpoint is a snapshot
    folder of that model repo (``config.json`` + ``*.safetensors``) at
    ``revision``, resolved by ``tam_core.weights.hub`` through HF's own cache
    and token; every file stored with Git LFS is checked against the SHA-256
    the Hub published for it. ``filename`` is then the folder's name in
    messages, ``url`` the repo's page. license: the weights' license as shown
    to users (``tam-label weights list``); gated: the repo needs the user to
    accept its license on the Hub and a token. cli_flag: the option that takes
    a local file or folder instead (default: ``--sam-checkpoint``, XMem's
    ``--xmem-checkpoint``).
    """

    name: str
    filename: str
    url: str
    family: str
    size: int | None = None
    sha256: str | None = None
    model_type: str | None = None
    repo_id: str | None = None
    revision: str = "main"
    license: str | None = None
    gated: bool = False
    cli_flag: str | None = None

    @property
    def on_hub(self) -> bool:
        """True for a Hugging Face Hub snapshot (a folder), False for one file."""
        return self.repo_id is not None

    @property
    def flag(self) -> str:
        """The command-line flag that takes a local file instead of this download
        (every segmenter family's weights go to ``--sam-checkpoint``)."""
        if self.cli_flag:
            return self.cli_flag
        return "--xmem-checkpoint" if self.family == "xmem" else "--sam-checkpoint"


__all__ = ["Checkpoint"]
