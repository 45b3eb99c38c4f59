"""The durable record of a resumable job: what it is for and which tracker runs it finished.

Tool-agnostic: the sink that owns the results owns the record too
(``operators.resume.DurableSink``: the DAVIS PNG folder keeps it in a JSON
file beside the PNGs, FiftyOne on the video's sample). The rules that keep
results safe (applied by ``operators.resume.resumable_track``):

- A job is identified by a :class:`Fingerprint`: named parts (video content,
  prompts, options, model checkpoints), each a digest. A record with another
  fingerprint belongs to another job: the caller starts over and says which
  part changed (:meth:`Fingerprint.changes`).
- The record is saved durably *before* any earlier results are removed, and
  says ``finished: false`` until the job is done, so an interrupted or failed
  job is always recognised as incomplete.
- The unit of resuming is a :class:`tam_core.sessions.spans.TrackerRun` (one
  fresh tracker holding its objects jointly): a run is marked done only after
  all its results were written; an unfinished run is tracked again in full,
  so a resumed job gives exactly the results of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tam_core.options import RunOptions
from tam_core.types import Prompt

RECORD_VERSION = 2


@dataclass(frozen=True)
class Fingerprint:
    """What determines a job's results: part name -> digest (str)."""

    parts: Mapping[str, str]

    def changes(self, older: "Fingerprint") -> list[str]:
        """Names of the parts that differ from ``older`` (sorted; added or removed parts count)."""
        names = set(self.parts) | set(older.parts)
        return sorted(n for n in names if self.parts.get(n) != older.parts.get(n))


@dataclass
class RunRecord:
    """One job's record: its fingerprint, the keys of the tracker runs whose
    results are all written (``done``), whether the whole job completed, and
    for a correction the ``(object_id, frame)`` keyframes it re-tracks
    (``changed``; None: a full track)."""

    fingerprint: Fingerprint
    done: list[str] = field(default_factory=list)
    finished: bool = False
    changed: list[tuple[int, int]] | None = None

    def to_json(self) -> dict:
        return {"version": RECORD_VERSION, "fingerprint": dict(self.fingerprint.parts), "done": list(self.done),
                "finished": self.finished,
                "changed": None if self.changed is None else [[int(o), int(f)] for o, f in self.changed]}

    @classmethod
    def from_json(cls, data: Any) -> "RunRecord | None":
        """The record in ``data`` (from :meth:`to_json`), or None when it is not
        one (unreadable, or an older format: counts as no record)."""
        try:
            if data.get("version") != RECORD_VERSION:
                return None
            changed = data.get("changed")
            return cls(Fingerprint({str(k): str(v) for k, v in dict(data["fingerprint"]).items()}),
                       [str(k) for k in data["done"]], bool(data["finished"]),
                       None if changed is None else [(int(o), int(f)) for o, f in changed])
        except (KeyError, TypeError, AttributeError, ValueError):
            return None


def load_record_file(path: Path) -> RunRecord | None:
    """The record stored at ``path`` (JSON), or None when there is none or it is unreadable."""
    try:
        return RunRecord.from_json(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return None


def write_json_durably(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (temporary file, fsync, rename, fsync of the folder)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(data, indent=1, sort_keys=True))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------ fingerprint parts
def digest(data: Any) -> str:
    """Digest of JSON-able ``data`` (keys sorted; anything else by ``str``)."""
    return hashlib.blake2b(json.dumps(data, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def prompts_digest(prompts: Sequence[Prompt]) -> str:
    """Digest of prompts' content (frames, ids, labels, points, boxes, masks)."""
    h = hashlib.blake2b(digest_size=16)
    for p in sorted(prompts, key=lambda p: (p.object_id, p.frame)):
        h.update(json.dumps([int(p.frame), int(p.object_id), p.label]).encode())
        for arr in (p.points, p.point_labels, p.box, p.mask):
            h.update(b"-" if arr is None else np.ascontiguousarray(arr).tobytes() + str(np.shape(arr)).encode())
    return h.hexdigest()


def model_fingerprint(opts: Any) -> dict[str, str]:
    """What identifies a ``tam_core.models.ModelOptions``' results: the segmenter
    (family and type), the tracker (any but XMem named), precision, and each checkpoint: a given file by its
    content digest, an official one by its registry name (its content is fixed
    and checked when downloaded), so the fingerprint is the same before and
    after the first download. Per-run settings (refinement thresholds, XMem
    memory) are ``RunOptions`` and fingerprinted with them. "auto" is recorded
    as the family:type it resolves to on this machine. Loads nothing."""
    from tam_core.fingerprint import file_digest
    from tam_core.segmenters.registry import DEFAULT_FAMILY, get_family
    from tam_core.trackers.registry import get_family as get_tracker_family
    from tam_core.trackers.registry import parse_tracker

    opts = opts.resolved()  # "auto": the family:type this machine loads
    out = {"sam_type": opts.sam_type, "autocast": opts.autocast}
    if opts.segmenter_family != DEFAULT_FAMILY:  # records of SAM runs keep their fingerprint
        out["segmenter"] = opts.segmenter
    tracker_family, tracker_type = parse_tracker(getattr(opts, "tracker", "xmem"))
    # records of XMem runs keep their fingerprint ("xmem_checkpoint"); another engine is another run
    tracker_key = "xmem" if tracker_family == "xmem" else "tracker"
    if tracker_family != "xmem":
        out["tracker"] = f"{tracker_family}:{tracker_type}"
    official = {"sam": lambda: get_family(opts.segmenter_family).checkpoint(opts.sam_type).name,
                tracker_key: lambda: get_tracker_family(tracker_family).checkpoint(tracker_type).name}
    tracker_given = getattr(opts, "tracker_weights", getattr(opts, "xmem_checkpoint", None))
    for family, given in (("sam", opts.sam_checkpoint), (tracker_key, tracker_given)):
        path = Path(given).expanduser() if given is not None else None
        out[f"{family}_checkpoint"] = (f"official:{official[family]()}" if path is None
                                       else file_digest(path) if path.is_file() else _folder_digest(path))
    return out


def _folder_digest(path: Path) -> str:
    """A Hugging Face folder (config + weights) by its files' content; anything else by its name."""
    from tam_core.fingerprint import files_digest

    if not path.is_dir():
        return str(path)
    files = sorted(p for p in path.iterdir()
                   if p.is_file() and p.suffix in (".json", ".safetensors") and not p.name.startswith("."))
    return files_digest(files) if files else str(path)


def concept_fingerprint(frames: Any, concepts: Any, model: Mapping[str, Any]) -> Fingerprint:
    """The fingerprint of a pre-annotation: the video's content, the concept
    prompt (``tam_core.concepts.ConceptPrompt``: phrases, label mapping,
    threshold) and the concept model (:func:`concept_model_fingerprint`)."""
    from tam_core.fingerprint import video_fingerprint

    size = [int(frames.size[0]), int(frames.size[1])]
    return Fingerprint({
        "video": digest([video_fingerprint(frames), int(frames.num_frames), size]),
        "concepts": digest([list(concepts.phrases), [list(x) for x in concepts.labels], concepts.threshold]),
        "concept_model": digest(dict(model)),
    })


def concept_model_fingerprint(opts: Any) -> dict[str, str]:
    """A ``tam_core.concepts.ConceptOptions``' model: family:type and its
    checkpoint (a given folder by content, an official one by name)."""
    from tam_core.concepts.registry import get_family, parse_concept_model

    family, model_type = parse_concept_model(opts.model)
    given = Path(opts.checkpoint).expanduser() if opts.checkpoint is not None else None
    return {"model": opts.model,
            "checkpoint": f"official:{get_family(family).checkpoint(model_type).name}" if given is None
            else _folder_digest(given)}


def job_fingerprint(frames: Any, prompts: Sequence[Prompt], options: RunOptions,
                    models: Mapping[str, Any] | None = None) -> Fingerprint:
    """The fingerprint of tracking ``prompts`` (merged) through ``frames`` with
    ``options`` and the models ``models`` identifies (see
    :func:`model_fingerprint`): the video's content (``tam_core.fingerprint``:
    another spelling of the path is the same video), the prompts, the options
    but the batch size (it changes no result), the models."""
    from tam_core.fingerprint import video_fingerprint

    size = [int(frames.size[0]), int(frames.size[1])]
    parts = {
        "video": digest([video_fingerprint(frames), int(frames.num_frames), size]),
        "prompts": prompts_digest(prompts),
        "options": digest({k: v for k, v in asdict(options).items() if k != "batch_size"}),
        "models": digest(dict(models or {})),
    }
    if (models or {}).get("tracker"):  # the engine, readable in the record (XMem runs keep their old fingerprint)
        parts["tracker"] = str(models["tracker"])
    return Fingerprint(parts)


__all__ = ["Fingerprint", "RECORD_VERSION", "RunRecord", "concept_fingerprint", "concept_model_fingerprint", "digest",
           "job_fingerprint", "load_record_file",
           "model_fingerprint", "prompts_digest", "write_json_durably"]
