"""A resumable ``LabelSink`` writing tracked masks into a frame-level
``Detections`` field of one FiftyOne video sample, with the job's record in
a sample-level field beside it (``<label_field>_job``)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from operators.run_record import RunRecord
from tam_core.errors import ConfigError
from tam_core.sessions.spans import TrackerRun
from tam_core.types import FrameResult

from .convert import PROMPT_ATTR, KeyframeTag, is_ours, mask_to_detection
from .prompt_reader import field_name, parse_fields


def check_output_field(dataset: Any, field: str, prompt_fields: str | Sequence[str] | None = None) -> None:
    """Refuse an output field that would overwrite something else: a frame
    field of another type, a sample-level field, or the prompt field itself."""
    import fiftyone as fo

    if not field or field.startswith("frames.") and not field[len("frames."):]:
        raise ConfigError("the output field name is empty; give a name such as 'tam_tracks'")
    name = field_name(field)
    if name in parse_fields(prompt_fields):
        raise ConfigError(f"the output field {name!r} is the prompt field; choose another output field name")
    if name in ("frame_number", "id", "filepath") or name.startswith("_"):
        raise ConfigError(f"{name!r} is a reserved field name; choose another output field name")
    if dataset.has_sample_field(name):
        raise ConfigError(f"{name!r} is already a sample-level field; choose another output field name")
    schema = dataset.get_frame_field_schema() or {}
    if name in schema:
        f = schema[name]
        if not (isinstance(f, fo.EmbeddedDocumentField) and issubclass(f.document_type, fo.Detections)):
            raise ConfigError(
                f"frame field {name!r} already holds {getattr(f, 'document_type', type(f)).__name__}, not Detections; "
                "choose another output field name"
            )


def job_field(label_field: str) -> str:
    """The sample-level field holding the record of the last track job into ``label_field``."""
    return f"{field_name(label_field)}_job"


def ensure_job_field(dataset: Any, label_field: str) -> str:
    """Declare :func:`job_field` (a ``DictField``) on ``dataset`` if missing;
    before jobs start, so that concurrent workers never race to declare it."""
    import fiftyone as fo

    name = job_field(label_field)
    if not dataset.has_sample_field(name):
        dataset.add_sample_field(name, fo.DictField, description="tam-label: the last track job into "
                                 f"frames.{field_name(label_field)} (fingerprint, tracker runs done, finished)")
    elif not isinstance(dataset.get_field(name), fo.DictField):
        raise ConfigError(f"sample field {name!r} is not tam-label's job record; rename it or choose another "
                          "output field name")
    return name


class FrameDetectionsSink:
    """Writes results into ``frames.<field>`` of ``sample``.

    On each written frame the detections tam-label wrote for the listed objects
    are replaced; detections a user added (no tam-label marker) and other
    objects stay. Each ``write`` saves once; MongoDB updates each frame
    document atomically, so an interrupted run leaves every frame with its old
    or its complete new labels.

    labels: object id -> class; keyframes: (object_id, frame) -> the
    :class:`~.convert.KeyframeTag` stored on that keyframe's detection (to
    detect edits later and to know which prompt fields it came from);
    attributes: object id -> more fields for its detections (a pre-annotated
    object's phrase); protected: (object_id, frame) pairs whose detection a
    person edited and no write replaces. The three dicts may grow during a run
    (a pre-annotation names each object when it is found).

    As an ``operators.resume.DurableSink`` it keeps the job's record in the
    sample's :func:`job_field` (declared first with :func:`ensure_job_field`):
    a write is durable once the database acknowledged it, so a killed worker
    loses nothing written; the record is saved after the frames it counts.
    ``still_written`` trusts the record (a person's edit of a tracked mask
    becomes a keyframe prompt, which changes the job's fingerprint); a
    deleted output field makes the record count as none.
    """

    def __init__(self, sample: Any, field: str, labels: Mapping[int, str | None],
                 keyframes: Mapping[tuple[int, int], KeyframeTag] | None = None,
                 attributes: Mapping[int, Mapping[str, Any]] | None = None,
                 protected: frozenset[tuple[int, int]] = frozenset()):
        self.sample = sample
        self.field = field_name(field)
        self.labels = dict(labels)
        self.keyframes = dict(keyframes or {})
        self.attributes = dict(attributes or {})
        self.protected = protected
        self.frames_written: set[int] = set()

    def write(self, results: Sequence[FrameResult]) -> None:
        import fiftyone as fo

        for res in results:
            frame = self.sample.frames[res.frame + 1]
            old = frame[self.field] if frame.has_field(self.field) else None
            ids = {oid for oid in res.object_ids if (oid, res.frame) not in self.protected}
            keep = [d for d in (old.detections if old is not None else []) if not (is_ours(d) and d.index in ids)]
            new = []
            for oid in sorted(ids):
                det = mask_to_detection(
                    res.masks[oid], oid, self.labels.get(oid), res.quality.get(oid, 1.0), oid in res.refined,
                    self.keyframes.get((oid, res.frame)), self.attributes.get(oid),
                )
                if det is not None:
                    new.append(det)
            dets = sorted(keep + new, key=lambda d: (d.index is None, d.index or 0))
            if dets or old is not None:
                frame[self.field] = fo.Detections(detections=dets)
            self.frames_written.add(res.frame)
        self.sample.save()

    def close(self) -> None:
        self.sample.save()

    # -- the job's record (operators.resume.DurableSink)
    def load_record(self) -> RunRecord | None:
        """The record, or None when there is none or the output field itself was deleted since."""
        name, dataset = job_field(self.field), self.sample._dataset
        if not dataset.has_sample_field(name) or not dataset.has_frame_field(self.field):
            return None
        return RunRecord.from_json(self.sample[name])

    def save_record(self, record: RunRecord) -> None:
        self.sample[job_field(self.field)] = record.to_json()
        self.sample.save()

    def still_written(self, run: TrackerRun) -> bool:
        return True

    def discard(self) -> None:
        """Nothing to remove: a track job rewrites every tracked object on every frame it covers."""


__all__ = ["FrameDetectionsSink", "PROMPT_ATTR", "check_output_field", "ensure_job_field", "job_field"]
