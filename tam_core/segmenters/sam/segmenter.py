"""SAM prompting (Track-Anything steps 1 and 3) on top of the ``segment_anything`` package.

``build_sam(SamConfig)`` assembles SAM from segment_anything's own modules, so the
official ViT-B/L/H layouts load strictly and a tiny random-weight SAM can be
built for tests. ``SamSegmenter`` satisfies :class:`tam_core.types.Segmenter`:
``embed(image)`` gives a :class:`SamEmbedding`, ``predict(embedding, ...)``
prompts it any number of times. The segmenter keeps no per-call state (no
"current image"): one loaded SAM is shared by every thread of a process; callers
that re-prompt a frame keep its embedding (``tam_core.segmenters.cache``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch

from tam_core.errors import CheckpointError, ConfigError, PromptError, brief
from tam_core.prompts import check_segmenter_prompt
from tam_core.segmenters.sam.decoder import ImageSide, decode, image_side
from tam_core.types import SegmenterOutput


@dataclass(frozen=True)
class SamConfig:
    """Architecture of one SAM model (fields mirror segment_anything's ``_build_sam``).

    The ``vit_b``/``vit_l``/``vit_h`` presets equal the official builders, so the
    official checkpoints load with ``strict=True``; ``tiny()`` is for tests.
    """

    encoder_embed_dim: int = 768
    encoder_depth: int = 12
    encoder_num_heads: int = 12
    encoder_global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    img_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_hidden_dim: int = 256

    @property
    def low_res_size(self) -> int:
        """Side of SAM's low-res mask logits (256 for the official models)."""
        return 4 * (self.img_size // self.patch_size)

    @classmethod
    def vit_b(cls) -> "SamConfig":
        return cls()

    @classmethod
    def vit_l(cls) -> "SamConfig":
        return cls(encoder_embed_dim=1024, encoder_depth=24, encoder_num_heads=16,
                   encoder_global_attn_indexes=(5, 11, 17, 23))

    @classmethod
    def vit_h(cls) -> "SamConfig":
        return cls(encoder_embed_dim=1280, encoder_depth=32, encoder_num_heads=16,
                   encoder_global_attn_indexes=(7, 15, 23, 31))

    @classmethod
    def tiny(cls, img_size: int = 128) -> "SamConfig":
        """A few-hundred-kB SAM for CPU tests (random weights; shapes only)."""
        return cls(encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2,
                   encoder_global_attn_indexes=(1,), img_size=img_size, window_size=4,
                   prompt_embed_dim=32, mask_in_chans=4, decoder_mlp_dim=64,
                   decoder_num_heads=2, iou_head_hidden_dim=32)

    PRESETS = ("vit_b", "vit_l", "vit_h", "tiny")  # the family's types (tam_core.segmenters.sam.family)

    @classmethod
    def preset(cls, model_type: str) -> "SamConfig":
        if model_type not in cls.PRESETS:
            raise ConfigError(f"unknown SAM model type {model_type!r}: use one of {', '.join(cls.PRESETS[:3])}")
        return getattr(cls, model_type)()


def build_sam(config: SamConfig):
    """A randomly initialised ``segment_anything.modeling.Sam`` in eval mode (on CPU)."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    c = config
    emb = c.img_size // c.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=c.encoder_depth, embed_dim=c.encoder_embed_dim, img_size=c.img_size, mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=c.encoder_num_heads,
            patch_size=c.patch_size, qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=tuple(c.encoder_global_attn_indexes), window_size=c.window_size,
            out_chans=c.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=c.prompt_embed_dim, image_embedding_size=(emb, emb),
            input_image_size=(c.img_size, c.img_size), mask_in_chans=c.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=c.decoder_depth, embedding_dim=c.prompt_embed_dim,
                                          mlp_dim=c.decoder_mlp_dim, num_heads=c.decoder_num_heads),
            transformer_dim=c.prompt_embed_dim, iou_head_depth=3, iou_head_hidden_dim=c.iou_head_hidden_dim,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    from tam_core.segmenters.sam.attention import use_fused_attention

    use_fused_attention(sam.image_encoder)
    return sam.eval()


def load_sam_state(sam, checkpoint: str | Path, what: str, assign: bool = False, label: str = "SAM") -> None:
    """Load a state dict file into ``sam`` strictly; any failure -> CheckpointError.

    ``assign`` takes the file's tensors as they are (for a model built on the
    meta device); ``label`` names the family in messages (SAM-layout families
    such as EfficientViT-SAM load through here too)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"{label} checkpoint {path} does not exist (expected a {what} checkpoint)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle garbage, not a torch file at all
        raise CheckpointError(
            f"{label} checkpoint {path} cannot be read ({type(exc).__name__}); the file is truncated or "
            f"corrupt - expected a {what} checkpoint, download it again"
        ) from exc
    for wrapper in ("model", "state_dict"):  # training scripts wrap the weights (EfficientViT-SAM: state_dict)
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict):
        raise CheckpointError(f"{label} checkpoint {path} holds a {type(state).__name__}, not a state dict "
                              f"(expected a {what} checkpoint)")
    try:
        sam.load_state_dict(state, strict=True, assign=assign)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        detail = brief(first[1] if len(first) > 1 else first[0])
        raise CheckpointError(
            f"{label} checkpoint {path} does not match the {what} architecture ({detail}); "
            f"check the model type or the file"
        ) from exc


def load_sam(model_type: str, checkpoint: str | Path, device: str | torch.device = "cpu",
             autocast_dtype: str | torch.dtype | None = None) -> "SamSegmenter":
    """Build SAM ``model_type`` (vit_b | vit_l | vit_h), load ``checkpoint`` strictly
    and wrap it in a :class:`SamSegmenter` on ``device``."""
    config = SamConfig.preset(model_type)
    with torch.device("meta"):  # no random init of ~100-600M weights that the checkpoint overwrites
        sam = build_sam(config)
    load_sam_state(sam, checkpoint, f"SAM {model_type}", assign=True)
    left = [n for n, t in [*sam.named_parameters(), *sam.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"SAM checkpoint {checkpoint} leaves {left[0]} unset (expected a SAM {model_type} checkpoint)")
    sam = sam.float()  # a half-precision file would otherwise make the model half
    return SamSegmenter(sam, device=device, autocast_dtype=autocast_dtype)


_AUTOCAST = {"fp32": None, "float32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True, eq=False)
class SamEmbedding:
    """One image's SAM embedding, to prompt with ``SamSegmenter.predict(embedding, ...)``.

    features: torch float [1,C,E,E] on the segmenter's device (C = 256, E = 64
    for official SAM); original_size: (H, W) of the image; input_size: (h, w)
    of the image after resizing its longest side to SAM's input size. Treat it
    as opaque: it is only meaningful to the segmenter that made it.
    """

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    _side: list = field(default_factory=list, init=False, repr=False)  # the decoder's image side, once computed

    def image_side(self, sam, dense: torch.Tensor) -> ImageSide:
        """The decoder's prompt-independent tensors for clicks and boxes
        (``dense``: the no-mask embedding), computed on first use and kept: every
        later click on this image reuses them (``tam_core.segmenters.sam.decoder``)."""
        with _side_lock:
            if not self._side:
                self._side.append(image_side(sam, self.features, dense))
            return self._side[0]


_side_lock = threading.Lock()


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise PromptError(f"image must be uint8 [H,W,3], got {image.dtype} {tuple(image.shape)}")
    return image


class SamSegmenter:
    """Promptable SAM: image embeddings (``embed``), then cheap prompts on them (``predict``).

    autocast_dtype: None/"fp32", "fp16", "bf16" (or a torch dtype): CUDA autocast
    inside this segmenter's calls only.

    ``embed(image)`` runs the image encoder (the expensive step: ~0.4-3 s on a
    CPU for ViT-B..H) and returns a :class:`SamEmbedding`; ``predict`` runs only
    the light prompt encoder and mask decoder on the embedding it is given.
    Nothing of a call stays on the object (weights and settings only), so
    threads share it safely. Only segment_anything's public modules are used
    (no ``SamPredictor`` state is touched).
    """

    def __init__(self, sam, device: str | torch.device = "cpu", autocast_dtype: str | torch.dtype | None = None) -> None:
        from segment_anything.utils.transforms import ResizeLongestSide

        self.device = torch.device(device)
        autocast_dtype = _AUTOCAST.get(autocast_dtype, autocast_dtype) if isinstance(autocast_dtype, str) else autocast_dtype
        if isinstance(autocast_dtype, str):
            raise ConfigError(f"unknown autocast dtype {autocast_dtype!r}: use fp32, fp16 or bf16")
        if autocast_dtype is not None and self.device.type != "cuda":
            raise ConfigError("autocast fp16/bf16 is only supported on CUDA; use fp32 on the CPU")
        self.model = sam.to(self.device).eval()
        # prompts live in the prompt encoder's frame (the image encoder's input for SAM)
        self._transform = ResizeLongestSide(self.model.prompt_encoder.input_image_size[0])
        self.autocast_dtype = autocast_dtype
        self._count_lock = threading.Lock()
        self.encoder_calls = 0  # how many times the image encoder ran (tests, benchmarks)

    @property
    def low_res_size(self) -> int:
        return 4 * self.model.prompt_encoder.image_embedding_size[0]

    def _autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def embed(self, image: np.ndarray) -> SamEmbedding:
        """Encode one image (uint8 [H,W,3] RGB): the expensive step."""
        image = _check_image(image)
        model = self.model
        with torch.inference_mode(), self._autocast():
            x = torch.as_tensor(self._transform.apply_image(image), device=self.device)
            x = x.permute(2, 0, 1).contiguous()[None]
            features = model.image_encoder(model.preprocess(x))
        with self._count_lock:
            self.encoder_calls += 1
        return SamEmbedding(features, (int(image.shape[0]), int(image.shape[1])), (int(x.shape[-2]), int(x.shape[-1])))

    def predict(self, embedding: SamEmbedding, points: np.ndarray | None = None,
                point_labels: np.ndarray | None = None, box: np.ndarray | None = None,
                mask_input: np.ndarray | None = None, multimask: bool = True) -> SegmenterOutput:
        """Prompt ``embedding`` (from :meth:`embed`).

        points: float [N,2] pixel (x, y); point_labels: int [N] (1 positive, 0
        negative; all positive when None); box: float [4] (x0, y0, x1, y1) -
        both checked by ``tam_core.prompts`` against the embedded image
        (closed [0, W] x [0, H]); mask_input: float32 [1,L,L]
        low-res logits (L = 256 for official SAM; see :meth:`mask_to_logits`).

        Following segment_anything's advice, SAM's three candidates are asked for
        only when the prompt is ambiguous - ``multimask`` and a single point with
        no box and no mask - and the one with the highest predicted IoU is
        returned; any richer prompt uses SAM's single-mask output.
        Returns mask bool [H,W], predicted IoU, low_res_logits float32 [1,L,L].
        """
        emb = embedding
        if not isinstance(emb, SamEmbedding):
            raise PromptError(f"embedding must be a SamEmbedding from embed(), got {type(emb).__name__}")
        h, w = emb.original_size
        pts, lbl, bx, mi, ambiguous = check_segmenter_prompt(points, point_labels, box, mask_input, (h, w),
                                                             self.low_res_size)
        with torch.inference_mode(), self._autocast():
            mask, iou, low_res = self._decode(emb, pts, lbl, bx, mi, bool(multimask and ambiguous))
        return SegmenterOutput(mask=mask, iou=iou, low_res_logits=low_res)

    def _decode(self, emb: SamEmbedding, pts, lbl, bx, mi, multimask: bool) -> tuple[np.ndarray, float, np.ndarray]:
        """Prompt encoder + mask decoder on one embedding (segment_anything's
        ``SamPredictor.predict`` without its state); returns the candidate with
        the highest predicted IoU: mask bool [H,W], iou, logits float32 [1,L,L]."""
        model, dev, size = self.model, self.device, emb.original_size
        points = boxes = masks = None
        if pts is not None:
            coords = torch.as_tensor(self._transform.apply_coords(pts, size), dtype=torch.float, device=dev)[None]
            points = (coords, torch.as_tensor(lbl, dtype=torch.int, device=dev)[None])
        if bx is not None:
            boxes = torch.as_tensor(self._transform.apply_boxes(bx, size), dtype=torch.float, device=dev)[None]
        if mi is not None:
            masks = torch.as_tensor(mi, dtype=torch.float, device=dev)[None]
        sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=masks)
        # the mask decoder's faster equivalent; its image side is kept on the embedding unless a mask prompt changes it
        side = emb.image_side(model, dense) if masks is None else image_side(model, emb.features, dense)
        low_res, ious, best = decode(model, side, sparse, multimask)  # only the chosen candidate's logits
        mask = model.postprocess_masks(low_res, emb.input_size, emb.original_size) > model.mask_threshold
        return (mask[0, 0].cpu().numpy(), float(ious[0, best]), low_res[0].float().cpu().numpy())

    def mask_to_logits(self, mask: np.ndarray, logit: float = 8.0) -> np.ndarray:
        """Full-resolution bool [H,W] mask -> float32 [1,L,L] SAM mask prompt.

        The mask is resized like SAM resizes the image (longest side to L with
        ``ResizeLongestSide``'s rounding), padded bottom/right with background,
        and its area-averaged coverage f in [0,1] mapped to ``logit * (2f - 1)``,
        so the boundary stays soft instead of aliased.
        """
        return mask_to_logits(mask, self.low_res_size, logit)


def mask_to_logits(mask: np.ndarray, low_res_size: int = 256, logit: float = 8.0) -> np.ndarray:
    """See :meth:`SamSegmenter.mask_to_logits`; bool [H,W] -> float32 [1,L,L]."""
    from segment_anything.utils.transforms import ResizeLongestSide

    m = np.asarray(mask)
    if m.ndim != 2 or min(m.shape) < 1:
        raise PromptError(f"mask must be bool [H,W], got shape {tuple(m.shape)}")
    nh, nw = ResizeLongestSide.get_preprocess_shape(m.shape[0], m.shape[1], low_res_size)
    cover = cv2.resize(m.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.full((1, low_res_size, low_res_size), -logit, dtype=np.float32)
    out[0, :nh, :nw] = logit * (2.0 * cover - 1.0)
    return out


__all__ = ["SamConfig", "SamEmbedding", "SamSegmenter", "build_sam", "load_sam", "load_sam_state", "mask_to_logits"]
