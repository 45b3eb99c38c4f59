"""A tiny random-weight SAM 2.1 video model in the official Hugging Face layout
(Hiera of 32 channels, 256 px input, one memory-attention layer: 8.6 M
parameters, well under a second per frame on a CPU), for tests and
benchmarks: ``python -m tam_core.trackers.sam2.tiny --out DIR``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def tiny_config(**overrides):
    from transformers import Sam2VideoConfig
    from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig

    backbone = Sam2HieraDetConfig(hidden_size=32, num_attention_heads=1, blocks_per_stage=[1, 1, 2, 1],
                                  global_attention_blocks=[3], embed_dim_per_stage=[32, 64, 128, 256],
                                  num_attention_heads_per_stage=[1, 2, 4, 8], window_size_per_stage=[8, 4, 14, 7],
                                  image_size=[256, 256])
    vision = Sam2VisionConfig(backbone_config=backbone.to_dict(), backbone_channel_list=[256, 128, 64, 32],
                              backbone_feature_sizes=[[64, 64], [32, 32], [16, 16]], fpn_hidden_size=256)
    fields = dict(vision_config=vision.to_dict(), image_size=256, memory_attention_num_layers=1,
                  memory_attention_rope_feat_sizes=[16, 16], prompt_encoder_config=dict(image_size=256))
    return Sam2VideoConfig(**{**fields, **overrides})


def tiny_processor():
    from transformers import Sam2VideoProcessor
    from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    size = {"height": 256, "width": 256}
    return Sam2VideoProcessor(image_processor=Sam2ImageProcessor(size=size, mask_size={"height": 64, "width": 64}),
                              video_processor=Sam2VideoVideoProcessor(size=size), target_size=256)


def save_tiny(folder: str | os.PathLike, seed: int = 0, **overrides) -> Path:
    """Write a seeded random tiny model and its processor to ``folder`` (created);
    returns it. ``overrides``: config fields (e.g. a shorter memory)."""
    import torch
    from transformers import Sam2VideoModel

    folder = Path(folder)
    torch.manual_seed(seed)
    Sam2VideoModel(tiny_config(**overrides)).save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder to write (config.json, model.safetensors, processor)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(save_tiny(args.out, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
