"""SAM 2.1 prompting on top of ``transformers.Sam2Model`` (image model).

``embed(image)`` runs HF's own preprocessing (``Sam2ImageProcessor``: the image
resized to a square of the encoder's input side, ImageNet-normalised) and the
Hiera encoder + FPN; ``predict(embedding, ...)`` runs the prompt encoder and
mask decoder on those features. Points and boxes go to the square frame by
scaling x by S/W and y by S/H (as HF's processor does); masks come back as
float32 [1,L,L] low-res logits of that square frame (L = 256), upsampled to the
image for the boolean mask. Nothing of a call stays on the object.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tam_core.errors import CheckpointError, ConfigError, PromptError
from tam_core.prompts import check_segmenter_prompt
from tam_core.types import SegmenterOutput

_AUTOCAST = {"fp32": None, "float32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def sam2_config(model_type: str):
    """A ``Sam2Config`` to build a random-weight model (benchmarks, tests):
    "hiera_tiny" / "hiera_small" are the official SAM 2.1 architectures
    (official weights bring their own config.json), "tiny" a small test model
    (HF's own test recipe)."""
    from transformers import Sam2Config, Sam2HieraDetConfig

    if model_type == "hiera_tiny":
        return Sam2Config()  # transformers' defaults are SAM 2.1 Hiera-T
    if model_type == "hiera_small":
        config = Sam2Config()
        config.vision_config.backbone_config.blocks_per_stage = [1, 2, 11, 2]
        config.vision_config.backbone_config.global_attention_blocks = [7, 10, 13]
        return config
    if model_type == "tiny":
        backbone = Sam2HieraDetConfig(hidden_size=12, image_size=128, patch_stride=4, patch_kernel_size=7,
                                      patch_padding=3, blocks_per_stage=[1, 2, 7, 2],
                                      embed_dim_per_stage=[12, 24, 48, 96])
        return Sam2Config(
            vision_config=dict(model_type="sam2_vision_model", backbone_config=backbone,
                               backbone_channel_list=[96, 48, 24, 12],
                               backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]], fpn_hidden_size=32),
            prompt_encoder_config=dict(hidden_size=32, image_size=128, patch_size=16, mask_input_channels=8),
            mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_attention_heads=4, iou_head_hidden_dim=32))
    raise ConfigError(f"no random-weight SAM 2.1 architecture {model_type!r} here (hiera_tiny, hiera_small, tiny); "
                      "the official weights bring their own config")


def build_sam2(model_type: str):
    """A randomly initialised ``Sam2Model`` of :func:`sam2_config` in eval mode."""
    from transformers import Sam2Model

    return Sam2Model(sam2_config(model_type)).eval()


def load_sam2(model_type: str, checkpoint: str | Path, device: str | torch.device = "cpu",
              autocast_dtype: str | torch.dtype | None = None) -> "Sam2Segmenter":
    """Load the folder ``checkpoint`` (config.json + safetensors: a Hub snapshot
    or a local copy) strictly as a ``Sam2Model`` and wrap it on ``device``."""
    from transformers import Sam2Model

    from tam_core.weights.hf_model import load_pretrained_strictly

    path = Path(checkpoint)
    if not path.is_dir():
        raise CheckpointError(f"SAM 2.1 weights must be a folder holding config.json and model.safetensors "
                              f"(a Hugging Face snapshot), got {path}")
    model = load_pretrained_strictly(Sam2Model, path, "cpu", what=f"SAM 2.1 {model_type} weights {path}")
    return Sam2Segmenter(model, device=device, autocast_dtype=autocast_dtype)


@dataclass(frozen=True, eq=False)
class Sam2Embedding:
    """One image's SAM 2.1 features (the encoder's FPN levels, highest resolution
    first, as ``Sam2Model.get_image_embeddings`` gives them) and the image's
    (H, W). Opaque: only meaningful to the segmenter that made it."""

    features: tuple[torch.Tensor, ...]
    original_size: tuple[int, int]


class Sam2Segmenter:
    """Promptable SAM 2.1 (see the module doc); satisfies ``tam_core.types.Segmenter``.

    autocast_dtype: None/"fp32", "fp16", "bf16": CUDA autocast inside calls only."""

    def __init__(self, model, device: str | torch.device = "cpu",
                 autocast_dtype: str | torch.dtype | None = None) -> None:
        from transformers import Sam2ImageProcessor

        self.device = torch.device(device)
        dtype = _AUTOCAST.get(autocast_dtype, autocast_dtype) if isinstance(autocast_dtype, str) else autocast_dtype
        if isinstance(dtype, str):
            raise ConfigError(f"unknown autocast dtype {autocast_dtype!r}: use fp32, fp16 or bf16")
        if dtype is not None and self.device.type != "cuda":
            raise ConfigError("autocast fp16/bf16 is only supported on CUDA; use fp32 on the CPU")
        self.autocast_dtype = dtype
        self.model = model.float().to(self.device).eval()
        side = int(self.model.prompt_encoder.input_image_size)
        self._processor = Sam2ImageProcessor(size={"height": side, "width": side})
        self._count_lock = threading.Lock()
        self.encoder_calls = 0  # how many times the image encoder ran (tests, benchmarks)

    @property
    def input_size(self) -> int:
        return int(self.model.prompt_encoder.input_image_size)

    @property
    def low_res_size(self) -> int:
        return int(self.model.prompt_encoder.mask_input_size[0])

    def _autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def embed(self, image: np.ndarray) -> Sam2Embedding:
        """Encode one image (uint8 [H,W,3] RGB): the expensive step."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
            raise PromptError(f"image must be uint8 [H,W,3], got {image.dtype} {tuple(image.shape)}")
        pixels = self._processor(images=image, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.inference_mode(), self._autocast():
            features = self.model.get_image_embeddings(pixels)
        with self._count_lock:
            self.encoder_calls += 1
        return Sam2Embedding(tuple(features), (int(image.shape[0]), int(image.shape[1])))

    def predict(self, embedding: Sam2Embedding, points: np.ndarray | None = None,
                point_labels: np.ndarray | None = None, box: np.ndarray | None = None,
                mask_input: np.ndarray | None = None, multimask: bool = True) -> SegmenterOutput:
        """Prompt ``embedding`` (see ``tam_core.types.Segmenter``): SAM 2.1's three
        candidates only for an ambiguous prompt (one point, no box, no mask) and
        the one with the highest predicted IoU returned, as for SAM."""
        if not isinstance(embedding, Sam2Embedding):
            raise PromptError(f"embedding must be a Sam2Embedding from embed(), got {type(embedding).__name__}")
        h, w = embedding.original_size
        pts, lbl, bx, mi, ambiguous = check_segmenter_prompt(points, point_labels, box, mask_input, (h, w),
                                                             self.low_res_size)
        dev, side = self.device, self.input_size
        scale = np.array([side / w, side / h])
        kwargs = {}
        if pts is not None:
            kwargs["input_points"] = torch.as_tensor(pts * scale, dtype=torch.float, device=dev)[None, None]
            kwargs["input_labels"] = torch.as_tensor(lbl, dtype=torch.int, device=dev)[None, None]
        if bx is not None:
            kwargs["input_boxes"] = torch.as_tensor(bx.reshape(2, 2) * scale, dtype=torch.float, device=dev).reshape(1, 1, 4)
        if mi is not None:
            kwargs["input_masks"] = torch.as_tensor(mi, dtype=torch.float, device=dev)[None]
        with torch.inference_mode(), self._autocast():
            out = self.model(image_embeddings=list(embedding.features), multimask_output=bool(multimask and ambiguous),
                             **kwargs)
            ious = out.iou_scores[0, 0].float()
            best = int(torch.argmax(ious))
            low_res = out.pred_masks[0, 0, best : best + 1].float()  # [1,L,L]
            mask = F.interpolate(low_res[None], (h, w), mode="bilinear", align_corners=False)[0, 0] > 0
        return SegmenterOutput(mask=mask.cpu().numpy(), iou=float(ious[best]), low_res_logits=low_res.cpu().numpy())

    def mask_to_logits(self, mask: np.ndarray, logit: float = 8.0) -> np.ndarray:
        """bool [H,W] -> float32 [1,L,L]: SAM 2.1's layout (the whole image
        squashed to the square, no padding); area-averaged coverage f mapped to
        ``logit * (2f - 1)``."""
        return mask_to_logits(mask, self.low_res_size, logit)


def mask_to_logits(mask: np.ndarray, low_res_size: int = 256, logit: float = 8.0) -> np.ndarray:
    """See :meth:`Sam2Segmenter.mask_to_logits`."""
    m = np.asarray(mask)
    if m.ndim != 2 or min(m.shape) < 1:
        raise PromptError(f"mask must be bool [H,W], got shape {tuple(m.shape)}")
    cover = cv2.resize(m.astype(np.float32), (low_res_size, low_res_size), interpolation=cv2.INTER_AREA)
    return (logit * (2.0 * cover - 1.0))[None].astype(np.float32)


__all__ = ["Sam2Embedding", "Sam2Segmenter", "build_sam2", "load_sam2", "mask_to_logits", "sam2_config"]
