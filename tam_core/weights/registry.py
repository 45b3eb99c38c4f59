"""The official checkpoints: one :class:`Checkpoint` per downloadable file and
the lookup by name. Light: no torch, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from tam_core.errors import CheckpointError

@dataclass(frozen=True)
class Checkpoint:
    """One downloadable checkpoint.

    size: bytes (None when not published); sha256: full hex digest (None when not
    published). family: "sam" or "xmem"; model_type: the segment_anything
    registry key ("vit_b", ...) for SAM.
    """

    name: str
    filename: str
    url: str
    family: str
    size: int | None = None
    sha256: str | None = None
    model_type: str | None = None

    @property
    def flag(self) -> str:
        """The command-line flag that takes a local file instead of this download."""
        return f"--{self.family}-checkpoint"


# SHA-256 digests: not published by Meta; these are the values recorded
# independently by micro-sam (computational-cell-analytics/micro-sam,
# micro_sam/util.py, checksum registry for "vit_h"/"vit_l"/"vit_b") and by many
# other download scripts with identical digests. Note that the hex in the file
# names (4b8939, ...) is *not* a prefix of the SHA-256 (vit_h is a7bf3b02...),
# so it is not checked. Sizes: vit_h and vit_b match published download
# manifests (2564550879, 375042383 bytes); vit_l is the project's recorded size.
# XMem-s012.pth: no published digest or exact size was found (about 249 MB); it is
# checked structurally instead (see _check_structure).
REGISTRY: Mapping[str, Checkpoint] = {
    c.name: c
    for c in (
        Checkpoint(
            name="sam_vit_h",
            filename="sam_vit_h_4b8939.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
            family="sam",
            size=2564550879,
            sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            model_type="vit_h",
        ),
        Checkpoint(
            name="sam_vit_l",
            filename="sam_vit_l_0b3195.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
            family="sam",
            size=1249524607,
            sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            model_type="vit_l",
        ),
        Checkpoint(
            name="sam_vit_b",
            filename="sam_vit_b_01ec64.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
            family="sam",
            size=375042383,
            sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            model_type="vit_b",
        ),
        Checkpoint(
            name="xmem",
            filename="XMem-s012.pth",
            url="https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem-s012.pth",
            family="xmem",
        ),
    )
}


def get_checkpoint(name: str, registry: Mapping[str, Checkpoint] | None = None) -> Checkpoint:
    """The registry entry ``name``; :class:`CheckpointError` listing the names otherwise."""
    registry = REGISTRY if registry is None else registry
    try:
        return registry[name]
    except KeyError:
        raise CheckpointError(
            f"unknown checkpoint {name!r}: use one of {', '.join(sorted(registry))} or a path to a .pth file"
        ) from None
