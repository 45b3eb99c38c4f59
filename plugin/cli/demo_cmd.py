"""tam-label demo [VIDEO]: a FiftyOne dataset from a video, tracked from
prompts and opened in the App with the masks visible.

Without VIDEO a short H.264 clip of two moving shapes is generated, with one
click per shape; with VIDEO one click at the centre of frame 1 starts it (add
or fix clicks afterwards in the App's Track Anything panel). The dataset is
persistent: reopen it later with `fiftyone app launch tam-label-demo`.

Weights are downloaded on first use; offline, give local files with
--sam-checkpoint and --xmem-checkpoint (and --offline). Ctrl-C stops tracking
or closes the App; the dataset keeps what was tracked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEMO_DATASET = "tam-label-demo"


def add_parser(sub) -> None:
    from .model_args import add_model_args

    p = sub.add_parser("demo", help="track objects in a video and show them in the FiftyOne App",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="?", help="video file (default: a generated clip of moving shapes)")
    p.add_argument("--dataset", default=DEMO_DATASET,
                   help=f"FiftyOne dataset name (default {DEMO_DATASET}; replaced, kept after the command)")
    p.add_argument("--no-launch", action="store_true", help="build and track only; do not open the App")
    p.add_argument("--port", type=int, default=5151, help="App port")
    add_model_args(p)
    p.set_defaults(func=run)


def reopen_hint(name: str) -> str:
    return (f"reopen it any time: `fiftyone app launch {name}` "
            f"(Python: fo.launch_app(fo.load_dataset({name!r})))")


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
    from tam_core.errors import VideoError, WeightsUnavailableError

    from tam_core import models as models_module

    from .track_models import check_model_options

    if args.video and not Path(args.video).expanduser().is_file():
        raise VideoError(f"video file does not exist: {args.video}")
    opts = check_model_options(args)  # device, precision, checkpoint files: before loading
    try:
        models = models_module.get_models(opts)  # before building anything
    except WeightsUnavailableError as exc:
        raise WeightsUnavailableError(
            f"{exc}; to use local files run: tam-label demo --sam-checkpoint SAM.pth --xmem-checkpoint XMEM.pth"
        ) from None

    import fiftyone as fo

    from operators.progress import RunProgress, format_duration, format_rate
    from plugin.fiftyone import api
    from tam_core.weights import default_cache_dir

    from .model_args import run_options

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
    ds.persistent = True  # outlives this command: the App (or Python) can reopen it
    sample = fo.Sample(filepath=str(video))
    ds.add_sample(sample)
    ds.compute_metadata()
    frame = sample.frames[1]
    frame[api.DEFAULT_PROMPT_FIELD] = fo.Keypoints(keypoints=[
        fo.Keypoint(label=f"object {i}", points=[list(c)], index=i, sam2_labels=[1]) for i, c in enumerate(clicks, start=1)
    ])
    sample.save()
    run_progress = RunProgress()
    try:
        (rep,) = api.track(ds, models=models, options=run_options(args),
                           progress=lambda sample_id, done, total: run_progress(done, total))
    except KeyboardInterrupt:
        print(f"tam-label: interrupted; dataset {ds.name!r} keeps the frames tracked so far; "
              "re-run the same command to track again", file=sys.stderr)
        return 130
    finally:
        run_progress.close()
    r = rep.report
    print(f"tracked {len(r.objects)} object(s) over {r.frames_written} frames in {format_duration(r.seconds)} "
          f"({format_rate(r.frames_written, r.seconds)}) into frames.{api.DEFAULT_LABEL_FIELD} of dataset {ds.name!r}; "
          f"{reopen_hint(ds.name)}")
    if args.no_launch:
        return 0
    session = fo.launch_app(ds, port=args.port, auto=False)
    try:
        session.view = ds.select_fields(f"frames.{api.DEFAULT_LABEL_FIELD}")
        print(f"App: {session.url}  (Ctrl+C to stop)")
        session.wait(-1)
    except KeyboardInterrupt:
        print(f"stopped the App; {reopen_hint(ds.name)}")
    finally:
        session.close()
    return 0
