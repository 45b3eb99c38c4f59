"""``tam-label demo [VIDEO]``: a FiftyOne dataset from a video, tracked from
prompts, opened in the App with the labels visible.

Without VIDEO a short H.264 clip of moving shapes is generated (with one click
per shape); with VIDEO one click at the frame centre of frame 1 starts it (add
or fix clicks afterwards in the App's Track Anything panel). Weights are
downloaded on first use (tam_core.weights); offline, give local files with
``--sam-checkpoint`` and ``--xmem-checkpoint``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_DATASET = "tam-label-demo"


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="track objects in a video and show them in the FiftyOne App",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="?", help="video file (default: a generated clip of moving shapes)")
    p.add_argument("--dataset", default=DEMO_DATASET, help=f"FiftyOne dataset name (default {DEMO_DATASET}; replaced)")
    p.add_argument("--sam-type", default="vit_b", choices=("vit_b", "vit_l", "vit_h"))
    p.add_argument("--sam-checkpoint", help="local SAM checkpoint (.pth) instead of downloading")
    p.add_argument("--xmem-checkpoint", help="local XMem checkpoint (.pth) instead of downloading")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--offline", action="store_true", help="never download weights (use the cache or the --*-checkpoint files)")
    p.add_argument("--no-launch", action="store_true", help="build and track only; do not open the App")
    p.add_argument("--port", type=int, default=5151, help="App port")
    p.set_defaults(func=run)


def generate_clip(path: Path, num_frames: int = 48, size: tuple[int, int] = (240, 320)):
    """Write an H.264 clip of two flat shapes moving over a textured background;
    returns the normalised [x, y] of each shape's centre on frame 0 (one click each)."""
    import numpy as np

    from tam_core.video import write_video

    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    base = (100 + 20 * np.sin(xx / 17.0) * np.cos(yy / 23.0)).astype(np.float32)
    shapes = [  # (color, centre y, centre x, velocity y, velocity x, radius)
        ((220, 40, 40), 0.35 * h, 0.25 * w, 0.8, 2.2, 28),
        ((40, 90, 220), 0.65 * h, 0.75 * w, -0.6, -1.8, 34),
    ]

    def frames():
        for t in range(num_frames):
            img = np.repeat((base + rng.normal(0, 3, base.shape))[..., None], 3, axis=2)
            for i, (color, cy, cx, vy, vx, r) in enumerate(shapes):
                y, x = cy + vy * t, cx + vx * t
                m = (yy - y) ** 2 + (xx - x) ** 2 <= r * r if i == 0 else (abs(yy - y) <= r * 0.7) & (abs(xx - x) <= r)
                img[m] = color
            yield img.clip(0, 255).astype(np.uint8)

    write_video(path, frames(), fps=12.0)
    return [(s[2] / w, s[1] / h) for s in shapes]


def run(args) -> int:
    from plugin.fiftyone.models import ModelChoice, get_models
    from tam_core.errors import WeightsUnavailableError

    choice = ModelChoice(sam_type=args.sam_type, device=args.device, sam_checkpoint=args.sam_checkpoint,
                         xmem_checkpoint=args.xmem_checkpoint, download=not args.offline)
    try:
        models = get_models(choice)  # first: fail fast before building anything
    except WeightsUnavailableError as exc:
        raise WeightsUnavailableError(
            f"{exc}; to use local files run: tam-label demo --sam-checkpoint SAM.pth --xmem-checkpoint XMEM.pth"
        ) from None

    import fiftyone as fo

    from plugin.fiftyone import api
    from tam_core.weights import default_cache_dir

    if args.video:
        video = Path(args.video).expanduser().resolve()
        clicks = [(0.5, 0.5)]
    else:
        folder = default_cache_dir() / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / "shapes.mp4"
        clicks = generate_clip(video)
        print(f"generated {video}")
    ds = fo.Dataset(args.dataset, overwrite=True)
    sample = fo.Sample(filepath=str(video))
    ds.add_sample(sample)
    ds.compute_metadata()
    frame = sample.frames[1]
    frame[api.DEFAULT_PROMPT_FIELD] = fo.Keypoints(keypoints=[
        fo.Keypoint(label=f"object {i}", points=[list(c)], index=i, sam2_labels=[1]) for i, c in enumerate(clicks, start=1)
    ])
    sample.save()
    (rep,) = api.track(ds, models=models)
    r = rep.report
    print(f"tracked {len(r.objects)} object(s) over {r.frames_written} frames in {r.seconds:.1f} s "
          f"({r.frames_per_second:.1f} frames/s) into frames.{api.DEFAULT_LABEL_FIELD} of dataset {ds.name!r}")
    if args.no_launch:
        return 0
    session = fo.launch_app(ds, port=args.port, auto=False)
    session.view = ds.select_fields(f"frames.{api.DEFAULT_LABEL_FIELD}")
    print(f"App: {session.url}  (Ctrl+C to stop)")
    session.wait(-1)
    return 0
