"""``tam-label track VIDEO --point ... --out DIR``: track objects into DAVIS-style PNGs.

Output in DIR:
- ``00000.png`` ... one indexed (palette) PNG per frame, pixel value = object
  id, 0 = background (the DAVIS semi-supervised layout); every frame gets one.
  Each PNG is written to a temporary file and renamed, so a PNG is always
  complete; a frame reported by both passes is merged by object.
- ``summary.json``: video, options, objects with their keyframes, per-frame
  per-object quality and refinement, refined frames, timings.
- ``progress.json`` and ``frames.jsonl``: the resume record (see below).

Resume: re-running the same command (same video, prompts and options: their
fingerprint is stored in progress.json) continues where it stopped. The unit
is a keyframe's span (the frames tracked from that keyframe, see
``tam_core.spans``): spans whose frames were all written are kept; a span cut
off midway is tracked again from its keyframe, because tracking restarted in
the middle would not give the same masks. Different prompts or options start
over (``--restart`` forces that).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tam_core.errors import ConfigError, PromptError
from tam_core.types import FrameResult, Prompt

PNG_NAME = re.compile(r"^\d{5,}\.png$")
PROGRESS = "progress.json"
RECORDS = "frames.jsonl"
SUMMARY = "summary.json"


# --------------------------------------------------------------------- parsing
def _ints(text: str, n: int, what: str, arg: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise PromptError(f"{arg}: {what} must be {n} comma-separated numbers, got {text!r}")
    return vals


def _frame_obj(frame: str, obj: str, arg: str) -> tuple[int, int]:
    try:
        f, o = int(frame), int(obj)
    except ValueError:
        raise PromptError(f"{arg}: FRAME and OBJ must be integers") from None
    if f < 0:
        raise PromptError(f"{arg}: frame numbers start at 0")
    if o < 1:
        raise PromptError(f"{arg}: object ids are integers >= 1")
    return f, o


def parse_point(text: str, positive: bool = True) -> Prompt:
    """``FRAME:OBJ:X,Y[:pos|neg|1|0]`` -> a one-click Prompt."""
    opt = "--point" if positive else "--neg-point"
    arg = f"{opt} {text}"
    parts = text.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and not positive):
        form = "FRAME:OBJ:X,Y[:pos|neg]" if positive else "FRAME:OBJ:X,Y"
        raise PromptError(f"{arg}: expected {form}, e.g. 0:1:120,80")
    f, o = _frame_obj(parts[0], parts[1], arg)
    x, y = _ints(parts[2], 2, "X,Y", arg)
    label = 1 if positive else 0
    if len(parts) == 4:
        kinds = {"pos": 1, "1": 1, "neg": 0, "0": 0}
        if parts[3] not in kinds:
            raise PromptError(f"{arg}: the point label must be pos, neg, 1 or 0")
        label = kinds[parts[3]]
    return Prompt(f, o, points=np.array([[x, y]], np.float32), point_labels=np.array([label]))


def parse_box(text: str) -> Prompt:
    """``FRAME:OBJ:X0,Y0,X1,Y1`` -> a box Prompt."""
    arg = f"--box {text}"
    parts = text.split(":")
    if len(parts) != 3:
        raise PromptError(f"{arg}: expected FRAME:OBJ:X0,Y0,X1,Y1, e.g. 0:1:10,20,110,90")
    f, o = _frame_obj(parts[0], parts[1], arg)
    return Prompt(f, o, box=np.array(_ints(parts[2], 4, "X0,Y0,X1,Y1", arg), np.float32))


def parse_mask(text: str) -> list[Prompt]:
    """``FRAME:FILE.png`` (an indexed PNG, non-zero value = object id) -> one mask Prompt per object."""
    arg = f"--mask {text}"
    frame, sep, path = text.partition(":")
    if not sep or not path:
        raise PromptError(f"{arg}: expected FRAME:FILE.png")
    f, _ = _frame_obj(frame, "1", arg)
    labels = read_index_png(path, arg)
    ids = [int(v) for v in np.unique(labels) if v != 0]
    if not ids:
        raise PromptError(f"{arg}: the mask has no object (all pixels are 0)")
    return [Prompt(f, oid, mask=labels == oid) for oid in ids]


def read_index_png(path: str | Path, what: str = "mask") -> np.ndarray:
    """uint8 [H,W] object ids of an indexed (palette) or grayscale PNG."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L", "1"):
                raise PromptError(
                    f"{what}: {path} is a {img.mode} image; give an indexed (palette) or grayscale PNG whose values are object ids"
                )
            return np.array(img, dtype=np.uint8)
    except FileNotFoundError:
        raise PromptError(f"{what}: file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise PromptError(f"{what}: cannot read {path} as an image ({exc})") from None


def parse_labels(items: Iterable[str]) -> dict[int, str]:
    """``OBJ:NAME`` items -> {object id: class name}."""
    out: dict[int, str] = {}
    for text in items:
        obj, sep, name = text.partition(":")
        if not sep or not name.strip():
            raise PromptError(f"--label {text}: expected OBJ:NAME, e.g. 1:person")
        _, oid = _frame_obj("0", obj, f"--label {text}")
        out[oid] = name.strip()
    return out


def prompts_from_args(args: argparse.Namespace) -> list[Prompt]:
    """All prompts given on the command line, with class labels attached."""
    from dataclasses import replace

    prompts = [parse_point(t) for t in args.point or []]
    prompts += [parse_point(t, positive=False) for t in args.neg_point or []]
    prompts += [parse_box(t) for t in args.box or []]
    for t in args.mask or []:
        prompts += parse_mask(t)
    if not prompts:
        raise PromptError("no prompts: give at least one --point, --box or --mask")
    labels = parse_labels(args.label or [])
    unknown = sorted(set(labels) - {p.object_id for p in prompts})
    if unknown:
        raise PromptError(f"--label names object(s) {unknown} that have no prompt")
    return [replace(p, label=labels.get(p.object_id)) for p in prompts]


# ---------------------------------------------------------------- PNG output
def davis_palette() -> list[int]:
    """The 256-color palette of DAVIS/PASCAL VOC masks (flat [r,g,b,...])."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def write_index_png(path: Path, labels: np.ndarray) -> None:
    """Write uint8 [H,W] ids as a palette PNG, atomically (temp file + rename)."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="P")
    img.putpalette(davis_palette())
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="PNG")
    os.replace(tmp, path)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


class DavisPngSink:
    """A ``LabelSink`` writing one indexed PNG per frame into ``out_dir``.

    Replaces exactly the listed objects on each frame (reads the frame's PNG
    if it exists), appends one JSON line per (frame, object) to frames.jsonl
    and, after each batch, records in progress.json which keyframe spans are
    complete (``span_ends``: (object id, last frame of a span) -> keyframe).
    """

    def __init__(self, out_dir: Path, size: tuple[int, int], progress: dict, span_ends: dict[tuple[int, int], tuple[int, int]]):
        self.out_dir = out_dir
        self.size = size
        self.progress = progress
        self.span_ends = span_ends
        self._spans_left: dict[tuple[int, int], int] = {}
        for key in span_ends.values():
            self._spans_left[key] = self._spans_left.get(key, 0) + 1
        self._records = open(out_dir / RECORDS, "a")

    def path(self, frame: int) -> Path:
        return self.out_dir / f"{frame:05d}.png"

    def write(self, results: Sequence[FrameResult]) -> None:
        for res in results:
            path = self.path(res.frame)
            labels = read_index_png(path) if path.exists() else np.zeros(self.size, np.uint8)
            for oid in res.object_ids:
                if oid > 255:
                    raise ConfigError(f"object id {oid} does not fit an indexed PNG (ids 1..255)")
                mask = np.asarray(res.masks[oid], bool)
                labels[labels == oid] = 0
                labels[mask] = oid
                rec = {"frame": res.frame, "object": oid, "quality": round(float(res.quality.get(oid, 0.0)), 4),
                       "refined": oid in res.refined, "area": int(mask.sum())}
                self._records.write(json.dumps(rec) + "\n")
            write_index_png(path, labels)
            for oid in res.object_ids:
                key = self.span_ends.get((oid, res.frame))
                if key is not None:
                    self._spans_left[key] -= 1
                    if self._spans_left[key] == 0:
                        self.progress["complete"].append(list(key))
        # PNGs first, then the record that claims them complete.
        self._records.flush()
        _write_json(self.out_dir / PROGRESS, self.progress)

    def close(self) -> None:
        self._records.close()


# ------------------------------------------------------------------ the run
@dataclass(frozen=True)
class TrackRunOptions:
    """Options of one ``run_track``.

    direction: "forward" | "backward" | "both"; refine: SAM refinement (when the
    models have a refiner); batch_size: results per sink write (bounds the work
    redone after an interruption); restart: ignore a previous run in out_dir;
    progress: show a tqdm bar; model: what identifies the models (types,
    checkpoints, dtype) — part of the resume fingerprint and the summary.
    """

    direction: str = "both"
    refine: bool = True
    batch_size: int = 8
    restart: bool = False
    progress: bool = False
    model: dict = field(default_factory=dict)


def fingerprint(video: str, num_frames: int, size: tuple[int, int], prompts: Sequence[Prompt], options: TrackRunOptions) -> str:
    """Hash of what determines the output: video, prompts and options."""
    h = hashlib.sha256()
    opts = {k: v for k, v in asdict(options).items() if k not in ("restart", "progress", "batch_size")}
    h.update(json.dumps([str(video), num_frames, list(size), opts], sort_keys=True, default=str).encode())
    for p in sorted(prompts, key=lambda p: (p.object_id, p.frame)):
        h.update(json.dumps([p.frame, p.object_id, p.label]).encode())
        for arr in (p.points, p.point_labels, p.box, p.mask):
            h.update(b"-" if arr is None else np.ascontiguousarray(arr).tobytes() + str(np.asarray(arr).shape).encode())
    return h.hexdigest()[:16]


def _prepare_out_dir(out_dir: Path, fp: str, restart: bool) -> dict:
    """Load a matching progress record, or clear our previous output."""
    out_dir.mkdir(parents=True, exist_ok=True)
    prog_path = out_dir / PROGRESS
    ours = [p for p in out_dir.iterdir() if PNG_NAME.match(p.name)]
    if prog_path.exists():
        try:
            prev = json.loads(prog_path.read_text())
        except (OSError, ValueError):
            prev = {}
        if not restart and prev.get("fingerprint") == fp:
            return prev
        for p in ours + [out_dir / RECORDS, out_dir / SUMMARY]:
            p.unlink(missing_ok=True)
    elif ours:
        raise ConfigError(f"{out_dir} already holds PNG masks that tam-label track did not write; choose an empty --out directory")
    return {"fingerprint": fp, "complete": [], "done": False}


def run_track(
    video: Any,
    prompts: Sequence[Prompt],
    out_dir: str | Path,
    models: Any,
    options: TrackRunOptions = TrackRunOptions(),
    name: str | None = None,
) -> dict:
    """Track ``prompts`` through ``video`` with ``models`` and write DAVIS PNGs + summary.json.

    video: a path (file or frame folder) or a FrameSource; models: anything
    with ``segmenter``, ``tracker_factory`` and optionally ``refiner``
    (``tam_core.models.Models`` or test doubles); name: how the summary names
    the video (default: the path). Returns the summary dict.
    """
    from operators.track import TrackOptions, add_prompts, build_session, run_propagation
    from tam_core.spans import keyframe_spans

    start = time.perf_counter()
    if isinstance(video, (str, os.PathLike)):
        from tam_core.video import open_video

        frames, video_name = open_video(video), name or str(video)
    else:
        frames, video_name = video, name or type(video).__name__
    out_dir = Path(out_dir)
    topts = TrackOptions(direction=options.direction, batch_size=options.batch_size, refine=options.refine)
    session = build_session(frames, models, topts)
    merged = add_prompts(session, frames, prompts)
    fp = fingerprint(video_name, frames.num_frames, tuple(frames.size), merged, options)
    progress = _prepare_out_dir(out_dir, fp, options.restart)
    resumed = bool(progress["complete"]) or progress.get("done", False)
    all_keys = {(oid, k) for oid, info in session.objects.items() for k in info.keyframes}
    complete = {tuple(k) for k in progress["complete"]} & all_keys
    if resumed:
        session.mark_tracked(except_keyframes=sorted(all_keys - complete))
    span_ends = {}
    for oid, k in session.dirty_keyframes if resumed else all_keys:
        for s in keyframe_spans(oid, session.objects[oid].keyframes, k, frames.num_frames, options.direction):
            span_ends[(oid, s.stop)] = (oid, k)
    progress["complete"] = sorted([list(k) for k in complete])
    progress["done"] = False
    sink = DavisPngSink(out_dir, tuple(frames.size), progress, span_ends)
    bar = None
    if options.progress:
        from tqdm import tqdm

        bar = tqdm(total=frames.num_frames, unit="frame", desc="tracking")
    def on_progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    try:
        report = run_propagation(session, frames, merged, sink, topts, on_progress)
    finally:
        sink.close()
        if bar is not None:
            bar.close()
    empty = np.zeros(tuple(frames.size), np.uint8)
    for t in range(frames.num_frames):  # DAVIS layout: a PNG for every frame
        if not sink.path(t).exists():
            write_index_png(sink.path(t), empty)
    progress["done"] = True
    _write_json(out_dir / PROGRESS, progress)
    summary = _summary(out_dir, video_name, frames, session, options, fp, resumed, report, time.perf_counter() - start)
    _write_json(out_dir / SUMMARY, summary)
    return summary


def _summary(out_dir, video_name, frames, session, options, fp, resumed, report, seconds) -> dict:
    per_frame: dict[int, dict[str, dict]] = {}
    with open(out_dir / RECORDS) as fh:  # later lines (re-tracked spans) win
        for line in fh:
            r = json.loads(line)
            per_frame.setdefault(r["frame"], {})[str(r["object"])] = {"quality": r["quality"], "refined": r["refined"], "area": r["area"]}
    refined = sorted(f for f, objs in per_frame.items() if any(o["refined"] for o in objs.values()))
    return {
        "video": video_name,
        "num_frames": frames.num_frames,
        "size": list(frames.size),
        "fingerprint": fp,
        "options": asdict(options),
        "objects": [{"id": i.id, "label": i.label, "keyframes": list(i.keyframes)} for i in session.objects.values()],
        "frames": {str(f): per_frame[f] for f in sorted(per_frame)},
        "refined_frames": refined,
        "resumed": resumed,
        "timings": {
            "seconds": round(seconds, 3),
            "tracking_seconds": round(report.seconds, 3),
            "frames_tracked": report.frames_written,
            "frames_per_second": round(report.frames_per_second, 2),
        },
    }


# ---------------------------------------------------------------------- CLI
def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "track",
        help="track objects prompted on any frame through a video into DAVIS-style PNG masks",
        description="Segment objects from clicks, boxes or a mask on any frame (SAM), track them "
        "through the video (XMem) and write one indexed PNG per frame plus summary.json. "
        "Re-running the same command resumes an interrupted run.",
    )
    p.add_argument("video", help="video file or folder of frames")
    p.add_argument("--out", required=True, help="output directory for 00000.png ... and summary.json")
    p.add_argument("--point", action="append", metavar="FRAME:OBJ:X,Y[:pos|neg]", help="a click on object OBJ (repeatable)")
    p.add_argument("--neg-point", action="append", metavar="FRAME:OBJ:X,Y", help="a negative click (not this object)")
    p.add_argument("--box", action="append", metavar="FRAME:OBJ:X0,Y0,X1,Y1", help="a box around object OBJ")
    p.add_argument("--mask", action="append", metavar="FRAME:FILE.png", help="indexed PNG, non-zero values = object ids")
    p.add_argument("--label", action="append", metavar="OBJ:NAME", help="class name of object OBJ")
    p.add_argument("--direction", choices=("forward", "backward", "both"), default="both")
    p.add_argument("--no-refine", action="store_true", help="no SAM refinement of degraded frames")
    p.add_argument("--restart", action="store_true", help="start over instead of resuming a previous run in --out")
    p.add_argument("--batch-size", type=int, default=8, help="frames per write (default 8)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--sam-type", default="vit_b", help="SAM model type: vit_b, vit_l or vit_h")
    p.add_argument("--sam-checkpoint", default=None, help="SAM checkpoint path (default: cached official weights)")
    p.add_argument("--xmem-checkpoint", default=None, help="XMem checkpoint path (default: cached official weights)")
    p.add_argument("--cache-dir", default=None, help="weights cache (default $TAM_LABEL_CACHE)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_const", dest="autocast", const="fp16", help="half precision (CUDA only)")
    prec.add_argument("--bf16", action="store_const", dest="autocast", const="bf16", help="bfloat16 (CUDA only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, autocast="fp32")


def model_options(args: argparse.Namespace) -> dict:
    """The ``tam_core.models.ModelOptions`` fields the command sets."""
    return {
        "sam_type": args.sam_type,
        "sam_checkpoint": args.sam_checkpoint,
        "xmem_checkpoint": args.xmem_checkpoint,
        "device": args.device,
        "cache_dir": args.cache_dir,
        "autocast": args.autocast,
    }


def load_models(opts: dict) -> Any:
    """``tam_core.models.load_models`` with the fields its ModelOptions has."""
    import dataclasses

    try:
        from tam_core.models import ModelOptions, load_models as _load
    except ImportError as exc:
        raise ConfigError(f"the model loader is not available ({exc}); reinstall tam-label") from None
    names = {f.name for f in dataclasses.fields(ModelOptions)}
    return _load(ModelOptions(**{k: v for k, v in opts.items() if k in names and v is not None}))


def run(args: argparse.Namespace) -> int:
    import sys

    from tam_core.video import open_video

    prompts = prompts_from_args(args)  # syntax errors before any heavy work
    if args.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    frames = open_video(args.video)
    mopts = model_options(args)
    t0 = time.perf_counter()
    models = load_models(mopts)
    load_s = time.perf_counter() - t0
    options = TrackRunOptions(
        direction=args.direction,
        refine=not args.no_refine,
        batch_size=args.batch_size,
        restart=args.restart,
        progress=not args.no_progress and sys.stderr.isatty(),
        model={k: v for k, v in mopts.items() if k not in ("device", "cache_dir")},
    )
    summary = run_track(frames, prompts, args.out, models, options, name=str(args.video))
    summary["timings"]["model_load_seconds"] = round(load_s, 3)
    _write_json(Path(args.out) / SUMMARY, summary)
    objs = ", ".join(f"{o['id']}" + (f" ({o['label']})" if o["label"] else "") for o in summary["objects"])
    print(
        f"tracked object(s) {objs} over {summary['num_frames']} frames -> {args.out} "
        f"({summary['timings']['frames_per_second']} frames/s, {len(summary['refined_frames'])} refined frames)"
    )
    return 0
