"""The resumable job that tracks objects into a DAVIS PNG folder + summary.json
(``tam-label track``'s engine, and the one to call from Python).

Safety: everything that needs only the video's length and size and the
folder is checked before models are loaded; a re-run whose record says every
tracker run is written loads no model at all. The job's record (fingerprint
of the video's *content*, prompts, options and checkpoints) is saved durably
before earlier results are removed; tracker runs are marked done only once
written, so an interrupted job (even ``kill -9``) resumes to exactly the
uninterrupted masks (``operators.resume``).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tam_core.models import Models
from tam_core.options import RunOptions
from tam_core.prompts import PNG_MAX_OBJECT_ID
from tam_core.types import Prompt

from .davis_folder import PROGRESS, SUMMARY, DavisPngSink, check_out_dir, frame_summaries, png_path
from .loop import frames_of
from .progress import RunProgress
from .prompts import group_by_object, merge_prompts, object_labels
from .resume import resumable_track
from .run_record import job_fingerprint, load_record_file, write_json_durably
from .track import plan_for

# How a changed fingerprint part (``run_record.job_fingerprint``) reads in a sentence.
_CHANGED = {"video": "a different video", "prompts": "different prompts", "options": "different options",
            "models": "different models"}


def _changed(parts: Sequence[str]) -> str:
    return " and ".join(_CHANGED.get(p, f"a different {p}") for p in parts)


def track_to_folder(
    video: Any,
    prompts: Sequence[Prompt],
    out_dir: str | os.PathLike,
    models: Models | Callable[[], Models],
    options: RunOptions = RunOptions(),
    *,
    restart: bool = False,
    model_fingerprint: Mapping[str, Any] | None = None,
    progress: bool | None = False,
    name: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Track ``prompts`` through ``video`` into DAVIS PNGs + summary.json in
    ``out_dir``; resumable: run it again after an interruption and the
    finished tracker runs are kept. Returns the summary.

    video: a path (file or frame folder) or a FrameSource; models:
    ``tam_core.models.Models`` (or a double with ``segmenter``,
    ``tracker_factory``, ``refiner``), or a function returning them, called
    only when there is something to track; model_fingerprint: what identifies
    the models (``operators.run_record.model_fingerprint(ModelOptions)``) for
    the resume fingerprint; progress: None = bar on a terminal / log lines
    otherwise, False = silent; log: where one-line notes go (default stderr).
    """
    log = log or (lambda line: print(f"tam-label: {line}", file=sys.stderr, flush=True))
    start = time.perf_counter()
    if isinstance(video, (str, os.PathLike)):
        from tam_core.video import open_video

        frames, video_name = open_video(video), name or str(video)
    else:
        frames, video_name = video, name or type(video).__name__
    out_dir = check_out_dir(out_dir, video if isinstance(video, (str, os.PathLike)) else None)
    size = (int(frames.size[0]), int(frames.size[1]))
    merged = merge_prompts(prompts, frames.num_frames, size, max_object_id=PNG_MAX_OBJECT_ID)
    runs = plan_for(merged, frames.num_frames, options.direction)
    sink = DavisPngSink(out_dir, size, runs)
    record_path = out_dir / PROGRESS
    if record_path.exists() and load_record_file(record_path) is None:
        log(f"{record_path} is from an older tam-label or damaged; starting over")

    def start_over(why: tuple[str, ...]) -> None:
        if why == ("restart",):
            log(f"--restart: starting over in {out_dir}")
        else:
            log(f"the previous run in {out_dir} was for {_changed(why)}; starting over")

    load = models if callable(models) and not hasattr(models, "tracker_factory") else (lambda: models)
    on_progress = RunProgress(enabled=progress is not False)
    try:
        job = resumable_track(frames, merged, sink, load, options,
                              job_fingerprint(frames, merged, options, model_fingerprint),
                              restart=restart, finish=False, progress=on_progress,
                              max_object_id=PNG_MAX_OBJECT_ID, on_start_over=start_over)
    finally:
        sink.close()
        on_progress.close()
    covered = frames_of(runs)
    empty = np.zeros(size, np.uint8)
    for t in range(frames.num_frames):  # DAVIS layout: a PNG for every frame (no object: all 0)
        if t not in covered and not png_path(out_dir, t).exists():
            from tam_core.video.davis import write_labels

            write_labels(png_path(out_dir, t), empty, fsync=True)
    per_frame = frame_summaries(out_dir, frames.num_frames)  # reads every PNG: all must exist
    labels = object_labels(merged)
    report = job.track
    summary = {
        "video": video_name,
        "num_frames": frames.num_frames,
        "size": list(size),
        "fingerprint": dict(job.record.fingerprint.parts),
        "options": asdict(options),
        "objects": [{"id": oid, "label": labels[oid], "keyframes": [p.frame for p in ps]}
                    for oid, ps in group_by_object(merged).items()],
        "frames": per_frame,
        "refined_frames": sorted(int(f) for f, objs in per_frame.items() if any(o["refined"] for o in objs.values())),
        "resumed": job.resumed and report.runs_kept > 0,
        "timings": {
            "seconds": round(time.perf_counter() - start, 3),
            "tracking_seconds": round(report.seconds, 3),
            "frames_tracked": report.frames_tracked,
            "runs": {"planned": report.runs_planned, "kept": report.runs_kept, "tracked": report.runs_tracked},
            "seconds_per_frame": round(report.seconds / report.frames_tracked, 4) if report.frames_tracked else None,
        },
    }
    write_json_durably(out_dir / SUMMARY, summary)
    job.record.finished = True
    sink.save_record(job.record)
    return summary


__all__ = ["track_to_folder"]
