"""A DAVIS PNG folder as a resumable sink (the output of ``tam-label track``):
the PNGs, their per-object records, the job's record, the summary, and the
checks that keep earlier results safe. The job writing it is
``operators.folder_job.track_to_folder``.

Files in the folder (``--out``):
- ``00000.png`` ...: one indexed PNG per frame (``tam_core.video.davis``), written
  atomically and fsync'ed;
- ``progress.json``: the job's :class:`operators.run_record.RunRecord`
  (fingerprint, tracker runs done, finished);
- ``frames.jsonl``: one line per (frame, object) written: quality, refined;
- ``summary.json``: written last, when everything is complete.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tam_core.errors import ConfigError
from tam_core.sessions.spans import TrackerRun
from tam_core.types import FrameResult
from tam_core.video.davis import read_labels, write_labels

from .run_record import RunRecord, load_record_file, write_json_durably

PNG_NAME = re.compile(r"^\d{5,}\.png$")
PROGRESS = "progress.json"
RECORDS = "frames.jsonl"
SUMMARY = "summary.json"


def png_path(out_dir: Path, frame: int) -> Path:
    return out_dir / f"{frame:05d}.png"


def check_out_dir(out: str | os.PathLike, video: str | os.PathLike | None = None) -> Path:
    """Check ``--out`` before anything slow; returns it. Creates nothing: the
    folder is made when the job first saves its record, so a job refused
    before then leaves no empty folder behind.

    Refuses (one line each): a file, a folder that cannot be written (or
    created), the input frame folder or a folder inside it (the next run would
    read the masks as frames), a folder holding PNG masks that tam-label track
    did not write.
    """
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder (it is created if missing)")
    if video is not None and Path(video).is_dir():
        src, dst = Path(video).resolve(), out.resolve()
        if dst == src or src in dst.parents:
            raise ConfigError(f"--out {out} is inside the input frame folder {video}; the next run would read "
                              "the masks as frames: choose a folder outside it")
    try:
        if out.exists():
            with tempfile.NamedTemporaryFile(dir=out, prefix=".tam-write-test-"):
                pass
        else:  # a folder can be made where it would go (made and removed again: a real test, as root too)
            parent = next(p for p in out.absolute().parents if p.exists())
            os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".tam-write-test-"))
            return out
    except OSError as exc:
        raise ConfigError(f"--out {out} cannot be written ({exc.strerror or exc}); choose a writable folder") from None
    if not (out / PROGRESS).exists() and any(PNG_NAME.match(p.name) for p in out.iterdir()):
        raise ConfigError(f"{out} already holds PNG masks that tam-label track did not write; "
                          "choose an empty --out folder")
    return out


def remove_results(out_dir: Path) -> None:
    """Delete the PNGs, records and summary of an earlier job (never the record file)."""
    for p in out_dir.iterdir():
        if PNG_NAME.match(p.name) or p.name in (RECORDS, SUMMARY):
            p.unlink(missing_ok=True)


class DavisPngSink:
    """A resumable ``LabelSink`` (``operators.resume.DurableSink``) writing one
    indexed PNG per frame into ``out_dir``; its record is ``progress.json``.

    Each write replaces exactly the listed objects on their frames (other
    objects on the frame stay), appends one line per (frame, object) to
    frames.jsonl, and is fsync'ed before it returns. ``runs``: the job's
    tracker runs in plan order; where objects of different runs overlap, the
    later run's object keeps the pixel, whatever order the runs are
    (re)written in, so a resumed job equals an uninterrupted one. The folder
    is created by the first ``save_record``.
    """

    def __init__(self, out_dir: Path, size: tuple[int, int], runs: Sequence[Any]):
        self.out_dir, self.size, self.runs = Path(out_dir), size, list(runs)
        self._records: Any = None

    # -- the job's record (operators.resume.DurableSink)
    def load_record(self) -> RunRecord | None:
        return load_record_file(self.out_dir / PROGRESS)

    def save_record(self, record: RunRecord) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json_durably(self.out_dir / PROGRESS, record.to_json())

    def still_written(self, run: TrackerRun) -> bool:
        """Every mask of a finished run must still be there (a deleted PNG is tracked again, never written empty)."""
        return all(png_path(self.out_dir, t).exists() for t in range(run.lo, run.hi + 1)
                   if any(s.yields(t) for s in run.spans))

    def discard(self) -> None:
        remove_results(self.out_dir)

    def _open_records(self) -> Any:
        if self._records is None:
            path = self.out_dir / RECORDS
            # A kill can cut the last line short: start on a fresh line.
            tail = b""
            if path.exists() and path.stat().st_size:
                with open(path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    tail = fh.read(1)
            self._records = open(path, "a")
            if tail and tail != b"\n":
                self._records.write("\n")
        return self._records

    def _rank(self, frame: int, object_id: int) -> int:
        for i, run in enumerate(self.runs):
            if run.yields(frame, object_id):
                return i
        return -1

    def write(self, results: Sequence[FrameResult]) -> None:
        records = self._open_records()
        for res in results:
            path = png_path(self.out_dir, res.frame)
            labels = read_labels(path) if path.exists() else np.zeros(self.size, np.uint8)
            for oid in res.object_ids:
                if not 1 <= oid <= 255:
                    raise ConfigError(f"object id {oid} does not fit an indexed PNG (ids 1..255)")
                rank = self._rank(res.frame, oid)
                free = np.ones(self.size, bool)
                for other in np.unique(labels):
                    if other not in (0, oid) and self._rank(res.frame, int(other)) > rank:
                        free &= labels != other
                labels[labels == oid] = 0
                labels[np.asarray(res.masks[oid], bool) & free] = oid
                rec = {"frame": res.frame, "object": oid, "quality": round(float(res.quality.get(oid, 0.0)), 4),
                       "refined": oid in res.refined}
                records.write(json.dumps(rec) + "\n")
            write_labels(path, labels, fsync=True)
        records.flush()
        os.fsync(records.fileno())

    def close(self) -> None:
        if self._records is not None:
            self._records.close()
            self._records = None


def read_records(out_dir: Path) -> dict[int, dict[str, dict]]:
    """frame -> {object id (str): {quality, refined}} from frames.jsonl; later
    lines (a run tracked again) win; a line cut short by a kill is skipped."""
    per_frame: dict[int, dict[str, dict]] = {}
    path = out_dir / RECORDS
    if not path.exists():
        return per_frame
    with open(path) as fh:
        for line in fh:
            try:
                r = json.loads(line)
                per_frame.setdefault(int(r["frame"]), {})[str(r["object"])] = {"quality": r["quality"], "refined": r["refined"]}
            except (ValueError, KeyError, TypeError):
                continue
    return per_frame


def frame_summaries(out_dir: Path, num_frames: int) -> dict[str, dict[str, dict]]:
    """Per frame and object: quality and refined (records) and the area in
    pixels *in the PNG* (so the summary always agrees with the masks)."""
    records = read_records(out_dir)
    frames: dict[str, dict[str, dict]] = {}
    for t in range(num_frames):
        labels = read_labels(png_path(out_dir, t))
        ids, counts = np.unique(labels, return_counts=True)
        area = {str(int(i)): int(c) for i, c in zip(ids, counts) if i != 0}
        objs = {}
        for oid, rec in records.get(t, {}).items():
            objs[oid] = {**rec, "area": area.get(oid, 0)}
        if objs:
            frames[str(t)] = dict(sorted(objs.items(), key=lambda kv: int(kv[0])))
    return frames


__all__ = ["DavisPngSink", "PNG_NAME", "PROGRESS", "RECORDS", "SUMMARY", "check_out_dir", "frame_summaries",
           "png_path", "read_records", "remove_results"]
