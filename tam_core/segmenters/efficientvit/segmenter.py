"""EfficientViT-SAM on top of the ``efficientsam`` package (MIT Han Lab's
models, Apache-2.0).

The model is SAM with another image encoder: its prompt encoder and mask
decoder are SAM's (64x64 embeddings of a 1024 px frame, 256x256 low-res masks),
only the image is encoded by EfficientViT at a smaller input (512 px for
l0-l2). So :class:`EfficientVitSamSegmenter` is a
:class:`~tam_core.segmenters.sam.segmenter.SamSegmenter` whose ``embed`` runs
EfficientViT's own preprocessing and encoder; prompting, best-of-multimask,
``mask_to_logits`` and the low-res layout are SAM's, unchanged. No per-call
state: one loaded model is shared by every thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tam_core.errors import CheckpointError, ConfigError
from tam_core.segmenters.efficientvit.sizes import INPUT_SIZES, OFFICIAL_TYPES
from tam_core.segmenters.sam.segmenter import SamEmbedding, SamSegmenter, _check_image, load_sam_state

NORM_EPS = 1e-6  # efficientsam's model zoo sets every norm's eps to this before loading


def build_efficientvit_sam(model_type: str):
    """A randomly initialised ``EfficientViTSam`` of ``model_type`` in eval mode
    (official: l0 | l1 | l2 | xl0 | xl1, as efficientsam's model zoo builds them;
    "tiny": a small EfficientViT encoder for tests, SAM's decoder unchanged)."""
    from efficientsam.models.efficientvit import sam as evs
    from efficientsam.models.nn.norm import set_norm_eps

    if model_type not in INPUT_SIZES:
        raise ConfigError(f"unknown EfficientViT-SAM model type {model_type!r}: "
                          f"use one of {', '.join(OFFICIAL_TYPES)}")
    if model_type == "tiny":
        from efficientsam.models.efficientvit.backbone import EfficientViTLargeBackbone

        backbone = EfficientViTLargeBackbone(width_list=[8, 16, 32, 64, 128], depth_list=[0, 1, 1, 1, 1])
        neck = evs.SamNeck(fid_list=["stage4", "stage3", "stage2"], in_channel_list=[128, 64, 32],
                           head_width=32, head_depth=1, expand_ratio=1, middle_op="fmb")
        model = evs.build_efficientvit_sam(evs.EfficientViTSamImageEncoder(backbone, neck), INPUT_SIZES["tiny"])
    else:
        model = getattr(evs, f"efficientvit_sam_{model_type}")(image_size=INPUT_SIZES[model_type])
    set_norm_eps(model, NORM_EPS)
    return model.eval()


def load_efficientvit_sam(model_type: str, checkpoint: str | Path, device: str | torch.device = "cpu",
                          autocast_dtype: str | torch.dtype | None = None) -> "EfficientVitSamSegmenter":
    """Build EfficientViT-SAM ``model_type``, load ``checkpoint`` strictly (a
    missing, unexpected or reshaped key is a one-line CheckpointError) and wrap
    it in an :class:`EfficientVitSamSegmenter` on ``device``."""
    what = f"EfficientViT-SAM {model_type}"
    with torch.device("meta"):  # no random init of weights the checkpoint overwrites
        model = build_efficientvit_sam(model_type)
    load_sam_state(model, checkpoint, what, assign=True, label="EfficientViT-SAM")
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"EfficientViT-SAM checkpoint {checkpoint} leaves {left[0]} unset "
                              f"(expected a {what} checkpoint)")
    return EfficientVitSamSegmenter(model.float(), device=device, autocast_dtype=autocast_dtype)


class EfficientVitSamSegmenter(SamSegmenter):
    """Promptable EfficientViT-SAM: ``embed(image) -> SamEmbedding`` with
    EfficientViT's encoder at its own input size; ``predict``, ``mask_to_logits``
    and ``low_res_size`` are SAM's (see the module doc)."""

    @property
    def input_size(self) -> int:
        """Longest image side the encoder takes (512 for l0-l2, 1024 for xl0/xl1)."""
        return int(self.model.image_size[1])

    def embed(self, image: np.ndarray) -> SamEmbedding:
        """Encode one image (uint8 [H,W,3] RGB): efficientsam's preprocessing
        (longest side to the encoder's input, normalised, padded) then the encoder."""
        image = _check_image(image)
        h, w = int(image.shape[0]), int(image.shape[1])
        with torch.inference_mode(), self._autocast():
            x = self.model.transform(image)[None].to(self.device)
            features = self.model.image_encoder(x)
        with self._count_lock:
            self.encoder_calls += 1
        # prompts and masks live in the prompt encoder's 1024 px frame
        return SamEmbedding(features, (h, w), self._transform.get_preprocess_shape(h, w, self._transform.target_length))


__all__ = ["EfficientVitSamSegmenter", "build_efficientvit_sam", "load_efficientvit_sam"]
