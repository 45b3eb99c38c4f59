"""``tam-label track VIDEO --point ... --out DIR``: track objects into DAVIS-style PNGs.

Parsing and wiring only: prompt flags in ``track_args``, the model flags and
checks in ``model_args``/``track_models``; the job itself (resumable, the PNG
folder, the summary) is ``operators.folder_job.track_to_folder``.

Every check that needs only the video's length and size and the output
folder runs before any model is loaded, and creates nothing; a re-run with
nothing left to track loads no model.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tam_core.options import RunOptions

from .track_args import check_prompts, prompts_from_args

EXAMPLES = """\
frames are 0-based; coordinates are pixels (x right, y down; a W x H frame spans [0, W] x [0, H]).
object ids are 1..255 (the pixel value in the output PNGs).

examples:
  # object 1: a click on frame 0; object 2: a box on frame 40 and a negative click
  tam-label track video.mp4 --out masks/ --point 0:1:320,240 --label 1:person \\
      --box 40:2:100,80,260,300 --neg-point 40:2:180,120 --label 2:dog
  # DAVIS semi-supervised: the first frame's annotation (indexed PNG, values = ids)
  tam-label track frames/ --mask 0:00000.png --out masks/ --direction forward
  # a black-and-white mask (0/255) is one object, id 1
  tam-label track clip.mp4 --mask 12:car.png --out masks/ --device cuda --fp16

Interrupted (Ctrl-C, crash)? Run the same command again: finished tracker runs
are kept, the rest is tracked again. A changed video, prompt, option or
checkpoint starts over (one line says why); so does --restart.
"""


# ---------------------------------------------------------------------- CLI
def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "track",
        help="track objects prompted on any frame through a video into DAVIS-style PNG masks",
        description="Segment objects from clicks, boxes or a mask on any frame (SAM), track them through\n"
        "the video (XMem) and write one indexed PNG per frame (pixel value = object id) plus summary.json.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("video", help="video file or folder of frames")
    p.add_argument("--out", required=True, help="output folder for 00000.png ... and summary.json "
                   "(created; must not be inside the input frame folder)")
    p.add_argument("--point", action="append", metavar="FRAME:OBJ:X,Y[:pos|neg]", help="a click on object OBJ at pixel X,Y of frame FRAME (repeatable)")
    p.add_argument("--neg-point", action="append", metavar="FRAME:OBJ:X,Y", help="a negative click (not this object)")
    p.add_argument("--box", action="append", metavar="FRAME:OBJ:X0,Y0,X1,Y1", help="a box around object OBJ (pixels; repeatable)")
    p.add_argument("--mask", action="append", metavar="FRAME:FILE.png",
                   help="indexed PNG, values = object ids (255 = void); a 0/255 mask is object 1")
    p.add_argument("--label", action="append", metavar="OBJ:NAME", help="class name of object OBJ")
    p.add_argument("--direction", choices=("forward", "backward", "both"), default="both",
                   help="track each frame from the object's nearest keyframe: forward = the latest at or before "
                   "it (absent before the first), backward = the earliest at or after it, both = the nearest "
                   "(default)")
    p.add_argument("--restart", action="store_true", help="start over instead of resuming a previous run in --out")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"frames per write (default {RunOptions.batch_size}, RunOptions' default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    from .model_args import add_model_args

    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from operators.davis_folder import SUMMARY, check_out_dir
    from operators.folder_job import track_to_folder
    from operators.run_record import model_fingerprint, write_json_durably
    from tam_core import models as models_module
    from tam_core.errors import ConfigError
    from tam_core.video import open_video

    from .model_args import run_options
    from .track_models import check_model_options

    parsed = prompts_from_args(args)  # syntax errors first
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    frames = open_video(args.video)
    check_prompts(parsed.prompts, frames.num_frames, frames.size)  # frame range, points, boxes, masks, ids
    check_out_dir(args.out, args.video)
    mopts = check_model_options(args)  # device, precision, checkpoint files: all before loading
    for note in parsed.notes:
        print(f"tam-label: note: {note}", file=sys.stderr)
    load_s = 0.0

    def load():  # called only when something is left to track
        nonlocal load_s
        t0 = time.perf_counter()
        models = models_module.get_models(mopts)
        load_s = time.perf_counter() - t0
        return models

    summary = track_to_folder(frames, parsed.prompts, args.out, load, run_options(args), restart=args.restart,
                              model_fingerprint=model_fingerprint(mopts),
                              progress=None if not args.no_progress else False, name=str(args.video))
    summary["timings"]["model_load_seconds"] = round(load_s, 3)
    write_json_durably(Path(args.out) / SUMMARY, summary)
    print(done_message(summary, args.out))
    return 0


def done_message(summary: dict, out: str | os.PathLike) -> str:
    """The line printed after a run: what was written, and how fast (no rate when nothing was tracked)."""
    from operators.progress import format_duration, format_rate

    objs = ", ".join(f"{o['id']}" + (f" ({o['label']})" if o["label"] else "") for o in summary["objects"])
    t = summary["timings"]
    if not t["frames_tracked"]:
        return (f"nothing left to track: object(s) {objs} over {summary['num_frames']} frames were already "
                f"complete in {out}")
    return (f"tracked object(s) {objs} over {summary['num_frames']} frames -> {out} "
            f"({t['frames_tracked']} frames tracked in {format_duration(t['tracking_seconds'])}, "
            f"{format_rate(t['frames_tracked'], t['tracking_seconds'])}; "
            f"{len(summary['refined_frames'])} refined frames)")
