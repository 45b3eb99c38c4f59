"""Read tam-label prompts from one or several FiftyOne frame fields.

A FiftyOne frame field holds one label type, so the clicks (``Keypoints``) and
the boxes (``Detections``) of the same objects live in two fields. Every
function here takes one field or several (``"clicks"``, ``"clicks,boxes"``,
``["frames.clicks", "boxes"]``); prompts of one object on one frame coming
from several fields are one keyframe (``operators.prompts.merge_prompts``
merges them) and remember which fields they came from (:class:`SourcedPrompt`),
so a later correction reads those fields again.

Object ids: ``index`` is the object id and is never changed; labels without
``index`` get automatic ids above the largest explicit id of *all* the fields
(one id per class name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from tam_core.errors import ConfigError, PromptError
from tam_core.prompts import assign_object_ids, check_object_id
from tam_core.types import Prompt

from .convert import automatic_keys, explicit_ids, prompts_from_label

@dataclass(frozen=True)
class SourcedPrompt:
    """A prompt (pixel coordinates, 0-based frame) and the frame field it was read from."""

    field: str
    prompt: Prompt


def field_name(field: str) -> str:
    """'frames.x' -> 'x' (FiftyOne frame field paths may carry the prefix)."""
    field = field.strip()
    return field[len("frames."):] if field.startswith("frames.") else field


def parse_fields(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """One field or several as bare frame field names, in order, without
    duplicates: ``"a"``, ``"frames.a, b"`` or ``["a", "frames.b"]``."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    out: list[str] = []
    for item in items:
        name = field_name(item)
        if name and name not in out:
            out.append(name)
    return tuple(out)


def check_video(samples: Any) -> None:
    if samples.media_type != "video":
        raise ConfigError(f"tam-label tracks videos; this collection's media type is {samples.media_type!r}")


def check_prompt_fields(samples: Any, value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate prompt fields: each an existing frame field holding Keypoints,
    Detections or Segmentation. Returns the bare names."""
    import fiftyone as fo

    check_video(samples)
    names = parse_fields(value)
    if not names:
        raise ConfigError("no prompt field given: name the frame field(s) holding your Keypoints/Detections prompts")
    schema = samples.get_frame_field_schema() or {}
    ok = (fo.Keypoints, fo.Detections, fo.Segmentation)
    for name in names:
        if name not in schema:
            if samples.has_sample_field(name):
                raise ConfigError(f"{name!r} is a sample-level field; prompts must be a frame field (frames.{name})")
            raise ConfigError(f"frame field {name!r} does not exist; add prompts there (or pick another field)")
        f = schema[name]
        if not (isinstance(f, fo.EmbeddedDocumentField) and issubclass(f.document_type, ok)):
            kind = getattr(f, "document_type", type(f)).__name__
            raise ConfigError(f"frame field {name!r} holds {kind}; prompts must be Keypoints, Detections or Segmentation")
    return names


def frames_with(sample: Any, field: str) -> Iterator[tuple[int, Any]]:
    """(FiftyOne frame number, label) of one sample's frames where ``field``
    is set, streamed from the database."""
    from fiftyone import ViewField as F

    if not sample._dataset.has_frame_field(field):
        return
    view = sample._dataset.select(sample.id).select_fields(f"frames.{field}").match_frames(F(field) != None)  # noqa: E711
    for s in view:
        for fn, frame in s.frames.items():
            label = frame[field]
            if label is not None:
                yield fn, label


def has_prompts(sample: Any, fields: Sequence[str]) -> bool:
    return any(any(True for _ in frames_with(sample, f)) for f in fields)


def read_sourced(sample: Any, fields: str | Sequence[str], size: tuple[int, int], num_frames: int | None = None) -> list[SourcedPrompt]:
    """All prompts of one video sample in ``fields`` with the field each came
    from (pixel coordinates, 0-based frames). With ``num_frames``, a prompt on
    a frame past the video's end is refused (message in FiftyOne's 1-based
    frame numbers)."""
    names = parse_fields(fields)
    labels = [(f, fn, label) for f in names for fn, label in frames_with(sample, f)]
    if num_frames is not None:
        for f, fn, _ in labels:
            if fn > num_frames:
                raise PromptError(f"frames.{f} has a prompt on frame {fn}, but the video has frames 1..{num_frames}; "
                                  "move or delete it")
    explicit = [check_object_id(i, where=f"frames.{f} on frame {fn}") for f, fn, label in labels for i in explicit_ids(label)]
    auto = assign_object_ids(explicit, (k for _, _, label in labels for k in automatic_keys(label)))
    return [SourcedPrompt(f, p) for f, fn, label in labels for p in prompts_from_label(label, fn, size, auto)]


def read_prompts(sample: Any, fields: str | Sequence[str], size: tuple[int, int], num_frames: int | None = None) -> list[Prompt]:
    """All prompts of one video sample in ``fields`` (see :func:`read_sourced`)."""
    return [s.prompt for s in read_sourced(sample, fields, size, num_frames)]


__all__ = ["SourcedPrompt", "check_prompt_fields", "field_name", "frames_with", "has_prompts", "parse_fields",
           "read_prompts", "read_sourced"]
