"""A ``LabelSink`` writing tracked masks into a frame-level ``Detections`` field
of one FiftyOne video sample."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tam_core.errors import ConfigError
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


class FrameDetectionsSink:
    """Writes results into ``frames.<field>`` of ``sample``.

    On each written frame the detections tam-label wrote for the listed objects
    are replaced; detections a user added (no tam-label marker) and other
    objects stay. Each ``write`` saves once; MongoDB updates each frame
    document atomically, so an interrupted run leaves every frame with its old
    or its complete new labels.

    labels: object id -> class; keyframes: (object_id, frame) -> the
    :class:`~.convert.KeyframeTag` stored on that keyframe's detection (to
    detect edits later and to know which prompt fields it came from).
    """

    def __init__(self, sample: Any, field: str, labels: Mapping[int, str | None],
                 keyframes: Mapping[tuple[int, int], KeyframeTag] | None = None):
        self.sample = sample
        self.field = field_name(field)
        self.labels = dict(labels)
        self.keyframes = dict(keyframes or {})
        self.frames_written: set[int] = set()

    def write(self, results: Sequence[FrameResult]) -> None:
        import fiftyone as fo

        for res in results:
            frame = self.sample.frames[res.frame + 1]
            old = frame[self.field] if frame.has_field(self.field) else None
            ids = set(res.object_ids)
            keep = [d for d in (old.detections if old is not None else []) if not (is_ours(d) and d.index in ids)]
            new = []
            for oid in res.object_ids:
                det = mask_to_detection(
                    res.masks[oid], oid, self.labels.get(oid), res.quality.get(oid, 1.0), oid in res.refined,
                    self.keyframes.get((oid, res.frame)),
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


__all__ = ["FrameDetectionsSink", "check_output_field", "PROMPT_ATTR"]
