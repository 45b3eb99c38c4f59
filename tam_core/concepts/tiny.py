"""A tiny random-weight SAM 3 video model (text prompts) in the official
Hugging Face layout, for tests and benchmarks: a 224 px, 32-d 2-layer ViT,
one-layer detector and memory attention (detector hidden sizes stay 256), and
a byte-level CLIP tokenizer with no merges.
``python -m tam_core.concepts.tiny --out DIR``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SIZE = 224


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tiny_config(tracker: dict | None = None, **overrides):
    """tracker: fields of the tracker config (e.g. a shorter memory)."""
    from transformers import Sam3VideoConfig

    vit = dict(model_type="sam3_vit_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=2, image_size=SIZE, patch_size=14, window_size=8, global_attn_indexes=[1],
               pretrain_image_size=SIZE)
    small = dict(num_layers=1, intermediate_size=64)
    detector = dict(vision_config=dict(backbone_config=vit, backbone_feature_sizes=[[64, 64], [32, 32], [16, 16]]),
                    text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                     num_attention_heads=2, projection_dim=32),
                    geometry_encoder_config=small, detr_encoder_config=small,
                    detr_decoder_config=dict(small, num_queries=4))
    tracker = dict(memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=64, **(tracker or {}))
    fields = dict(detector_config=detector, tracker_config=tracker, hotstart_delay=0, hotstart_unmatch_thresh=0,
                  hotstart_dup_thresh=0, score_threshold_detection=0.0, new_det_thresh=0.0)
    config = Sam3VideoConfig(**{**fields, **overrides})
    config.image_size = SIZE
    return config


def tiny_processor(size: int = SIZE, mask_size: int | None = None):
    """A processor for ``size`` px inputs (default: the tiny model's; 1008 with
    ``mask_size`` 288: the official layout's) with the byte-level tokenizer."""
    from transformers import CLIPTokenizerFast, Sam3VideoProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor
    from transformers.models.sam3.image_processing_sam3 import Sam3ImageProcessor

    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    square = {"height": size, "width": size}
    masks = mask_size or size // 4
    return Sam3VideoProcessor(image_processor=Sam3ImageProcessor(size=square, mask_size={"height": masks, "width": masks}),
                              video_processor=Sam2VideoVideoProcessor(size=square),
                              tokenizer=CLIPTokenizerFast(vocab=vocab, merges=[]), target_size=size)


def save_tiny(folder: str | os.PathLike, seed: int = 0, tracker: dict | None = None, **overrides) -> Path:
    """Write a seeded random tiny SAM 3 video model and its processor to ``folder``."""
    import torch
    from transformers import Sam3VideoModel

    folder = Path(folder)
    torch.manual_seed(seed)
    Sam3VideoModel(tiny_config(tracker, **overrides)).save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(save_tiny(args.out, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
