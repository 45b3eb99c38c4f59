"""``tam-label track VIDEO --point ... --out DIR``: track objects into DAVIS-style PNGs.

Parsing and wiring only: prompt flags in ``track_args``, the output folder in
``track_out``, PNG reading/writing in ``tam_core.video.davis``, the resumable job
record in ``operators.run_record``, progress in ``operators.progress``.

Safety: every check that needs only the video's length and size and the
output folder runs before any model is loaded. A job's record (fingerprint of
the video's *content*, prompts, options and checkpoints) is written durably
before earlier results are removed; tracker runs are marked done only once
written, so an interrupted job resumes to exactly the uninterrupted masks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tam_core.options import RunOptions
from tam_core.types import Prompt

from .track_args import check_prompts, prompts_from_args
from .track_out import PROGRESS, SUMMARY, DavisPngSink, check_out_dir, frame_summaries, png_path, remove_results

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


def _digest(data: Any) -> str:
    return hashlib.blake2b(json.dumps(data, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def prompts_digest(prompts: Sequence[Prompt]) -> str:
    """Digest of prompts' content (frames, ids, labels, points, boxes, masks)."""
    h = hashlib.blake2b(digest_size=16)
    for p in sorted(prompts, key=lambda p: (p.object_id, p.frame)):
        h.update(json.dumps([int(p.frame), int(p.object_id), p.label]).encode())
        for arr in (p.points, p.point_labels, p.box, p.mask):
            h.update(b"-" if arr is None else np.ascontiguousarray(arr).tobytes() + str(np.shape(arr)).encode())
    return h.hexdigest()


def run_track(
    video: Any,
    prompts: Sequence[Prompt],
    out_dir: str | Path,
    models: Any,
    options: RunOptions = RunOptions(),
    *,
    restart: bool = False,
    model_fingerprint: Mapping[str, Any] | None = None,
    progress: bool | None = False,
    name: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Track ``prompts`` through ``video`` with ``models`` into DAVIS PNGs + summary.json; resumable.

    video: a path (file or frame folder) or a FrameSource; models:
    ``tam_core.models.Models`` or a double with ``segmenter``,
    ``tracker_factory`` and optionally ``refiner``; model_fingerprint: what
    identifies the models (types, checkpoint digests) for the resume
    fingerprint; progress: None = bar on a terminal / log lines otherwise,
    False = silent; log: where one-line notes go (default stderr). Returns the summary.
    """
    from operators.progress import RunProgress
    from operators.run_record import Fingerprint, RunRecord, track_runs
    from operators.track import build_session
    from tam_core.fingerprint import video_fingerprint

    log = log or (lambda line: print(f"tam-label: {line}", file=sys.stderr, flush=True))
    start = time.perf_counter()
    if isinstance(video, (str, os.PathLike)):
        from tam_core.video import open_video

        frames, video_name = open_video(video), name or str(video)
    else:
        frames, video_name = video, name or type(video).__name__
    out_dir = check_out_dir(out_dir, video if isinstance(video, (str, os.PathLike)) else None)
    size = (int(frames.size[0]), int(frames.size[1]))
    merged = check_prompts(prompts, frames.num_frames, size)
    session = build_session(frames, models, options)
    for p in merged:  # segments clicks/boxes (SAM): a failure here leaves --out untouched
        session.add_prompt(p)
    fingerprint = Fingerprint({
        "video": _digest([video_fingerprint(frames), frames.num_frames, size]),
        "prompts": prompts_digest(merged),
        "options": _digest({k: v for k, v in asdict(options).items() if k != "batch_size"}),
        "models": _digest(dict(model_fingerprint or {})),
    })
    record_path = out_dir / PROGRESS
    previous = RunRecord.load(record_path)
    if previous is not None and not restart and not fingerprint.changes(previous.fingerprint):
        record = previous
        record.finished = False
        record.save()
    else:
        if restart:
            log(f"--restart: starting over in {out_dir}")
        elif previous is not None:
            log(f"the previous run in {out_dir} was for a different {', '.join(fingerprint.changes(previous.fingerprint))}; "
                "starting over")
        elif record_path.exists():
            log(f"{record_path} is from an older tam-label or damaged; starting over")
        record = RunRecord(record_path, fingerprint)
        record.save()  # durable before anything earlier is removed
        remove_results(out_dir)
    resumed = bool(record.done)
    runs = session.plan(options.direction)
    sink = DavisPngSink(out_dir, size, runs)

    def still_valid(run) -> bool:  # a finished run's masks must all still be there
        return all(png_path(out_dir, t).exists() for t in range(run.lo, run.hi + 1)
                   if any(s.yields(t) for s in run.spans))

    on_progress = RunProgress(enabled=progress is not False)
    try:
        report = track_runs(session, options.direction, sink, record, options.batch_size, still_valid, on_progress)
    finally:
        sink.close()
        on_progress.close()
    covered = {t for run in runs for t in range(run.lo, run.hi + 1)}
    empty = np.zeros(size, np.uint8)
    for t in range(frames.num_frames):  # DAVIS layout: a PNG for every frame (no object: all 0)
        if t not in covered and not png_path(out_dir, t).exists():
            from tam_core.video.davis import write_labels

            write_labels(png_path(out_dir, t), empty, fsync=True)
    per_frame = frame_summaries(out_dir, frames.num_frames)  # reads every PNG: all must exist
    summary = {
        "video": video_name,
        "num_frames": frames.num_frames,
        "size": list(size),
        "fingerprint": dict(fingerprint.parts),
        "options": asdict(options),
        "objects": [{"id": i.id, "label": i.label, "keyframes": list(i.keyframes)} for i in session.objects.values()],
        "frames": per_frame,
        "refined_frames": sorted(int(f) for f, objs in per_frame.items() if any(o["refined"] for o in objs.values())),
        "resumed": resumed,
        "timings": {
            "seconds": round(time.perf_counter() - start, 3),
            "tracking_seconds": round(report.seconds, 3),
            "frames_tracked": report.frames_tracked,
            "runs": {"planned": report.runs_planned, "kept": report.runs_kept, "tracked": report.runs_tracked},
            "seconds_per_frame": round(report.seconds / report.frames_tracked, 4) if report.frames_tracked else None,
        },
    }
    from operators.run_record import write_json_durably

    write_json_durably(out_dir / SUMMARY, summary)
    record.finish()
    return summary


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
    p.add_argument("--batch-size", type=int, default=8, help="frames per write (default 8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    from .model_args import add_model_args

    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tam_core.errors import ConfigError
    from tam_core.video import open_video

    from .model_args import run_options
    from .track_models import check_model_options, load_models, model_fingerprint

    parsed = prompts_from_args(args)  # syntax errors first
    if args.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    frames = open_video(args.video)
    check_prompts(parsed.prompts, frames.num_frames, frames.size)  # frame range, points, boxes, masks, ids
    check_out_dir(args.out, args.video)
    mopts = check_model_options(args)  # device, precision, checkpoint files: all before loading
    for note in parsed.notes:
        print(f"tam-label: note: {note}", file=sys.stderr)
    t0 = time.perf_counter()
    models = load_models(mopts)
    load_s = time.perf_counter() - t0
    options = run_options(args)
    summary = run_track(frames, parsed.prompts, args.out, models, options, restart=args.restart,
                        model_fingerprint=model_fingerprint(mopts), progress=None if not args.no_progress else False,
                        name=str(args.video))
    summary["timings"]["model_load_seconds"] = round(load_s, 3)
    from operators.run_record import write_json_durably

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
