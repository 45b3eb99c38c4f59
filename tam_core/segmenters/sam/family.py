"""The SAM (segment-anything) family as the registry sees it: architectures,
official checkpoints, sizes, loader. Light: the loader imports torch and
``segment_anything`` only when called."""

from __future__ import annotations

from typing import Any

from tam_core.segmenters.family import SegmenterFamily
from tam_core.weights.checkpoint import Checkpoint


def _load(model_type: str, checkpoint: Any, device: Any = "cpu", autocast_dtype: Any = None) -> Any:
    from tam_core.segmenters.sam.segmenter import load_sam

    return load_sam(model_type, checkpoint, device, autocast_dtype=autocast_dtype)


def _mask_to_logits(mask: Any) -> Any:
    from tam_core.segmenters.sam.segmenter import mask_to_logits

    return mask_to_logits(mask, 256)


# SHA-256 digests: not published by Meta; these are the values recorded
# independently by micro-sam (computational-cell-analytics/micro-sam,
# micro_sam/util.py, checksum registry for "vit_h"/"vit_l"/"vit_b") and by many
# other download scripts with identical digests. Note that the hex in the file
# names (4b8939, ...) is *not* a prefix of the SHA-256 (vit_h is a7bf3b02...),
# so it is not checked. Sizes: vit_h and vit_b match published download
# manifests (2564550879, 375042383 bytes); vit_l is the project's recorded size.
SAM = SegmenterFamily(
    name="sam",
    label="SAM",
    types=("vit_b", "vit_l", "vit_h"),
    test_types=("tiny",),  # SamConfig.tiny(): random weights for tests
    input_size=1024,
    low_res_size=256,
    load=_load,
    mask_to_logits=_mask_to_logits,
    checkpoints=(
        Checkpoint(
            name="sam_vit_h",
            filename="sam_vit_h_4b8939.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
            family="sam",
            size=2564550879,
            sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            license="Apache-2.0",
            model_type="vit_h",
        ),
        Checkpoint(
            name="sam_vit_l",
            filename="sam_vit_l_0b3195.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
            family="sam",
            size=1249524607,
            sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            license="Apache-2.0",
            model_type="vit_l",
        ),
        Checkpoint(
            name="sam_vit_b",
            filename="sam_vit_b_01ec64.pth",
            url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
            family="sam",
            size=375042383,
            sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            license="Apache-2.0",
            model_type="vit_b",
        ),
    ),
)

SAM_TYPES = SAM.types
TEST_SAM_TYPES = SAM.test_types

__all__ = ["SAM", "SAM_TYPES", "TEST_SAM_TYPES"]
