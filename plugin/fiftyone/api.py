"""Python API on FiftyOne video samples: track, correct, review.

Each function works on any sample collection (dataset or view) of videos,
reads prompts from a frame field (FiftyOne's SAM 2 conventions, see
``convert``), streams frames from the video file and writes a frame-level
``Detections`` field in batches. Pass ``models=`` to use already loaded models
(or test doubles); otherwise ``model_choice`` picks them (``models.get_models``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from operators.correct import correct as correct_frames
from operators.prompts import merge_prompts, object_labels
from operators.review import ReviewItem, ReviewOptions, review_queue
from operators.track import ObjectRecord, TrackOptions, TrackReport, track as track_frames
from tam_core.errors import ConfigError, PromptError
from tam_core.types import Prompt

from .convert import DIGEST_ATTR, PROMPT_ATTR, REFINED_ATTR, box_to_pixels, is_edited, is_ours, paste_mask, prompt_digest, prompts_from_label
from .models import ModelChoice, get_models
from .sink import FrameDetectionsSink, check_output_field

DEFAULT_PROMPT_FIELD = "tam_prompts"
DEFAULT_LABEL_FIELD = "tam_tracks"
EDIT_PREFIX = "mask:"  # PROMPT_ATTR of keyframes that came from a user's mask edit

SampleProgress = Callable[[str, int, int], None]  # (sample id, frames done, total)


@dataclass(frozen=True)
class SampleReport:
    sample_id: str
    filepath: str
    report: TrackReport | None  # None: nothing to do on this sample
    note: str = ""


def field_name(field: str) -> str:
    return field[len("frames."):] if field.startswith("frames.") else field


def check_prompt_field(samples: Any, prompt_field: str) -> str:
    """Validate the prompt field: an existing frame field holding Keypoints,
    Detections or Segmentation. Returns the bare frame field name."""
    import fiftyone as fo

    if samples.media_type != "video":
        raise ConfigError(f"tam-label tracks videos; this collection's media type is {samples.media_type!r}")
    name = field_name(prompt_field or "")
    if not name:
        raise ConfigError("no prompt field given: name the frame field holding your Keypoints/Detections prompts")
    schema = samples.get_frame_field_schema() or {}
    if name not in schema:
        if samples.has_sample_field(name):
            raise ConfigError(f"{name!r} is a sample-level field; prompts must be a frame field (frames.{name})")
        raise ConfigError(f"frame field {name!r} does not exist; add prompts there (or pick another field)")
    f = schema[name]
    ok = (fo.Keypoints, fo.Detections, fo.Segmentation)
    if not (isinstance(f, fo.EmbeddedDocumentField) and issubclass(f.document_type, ok)):
        kind = getattr(f, "document_type", type(f)).__name__
        raise ConfigError(f"frame field {name!r} holds {kind}; prompts must be Keypoints, Detections or Segmentation")
    return name


def _frames_with(sample: Any, field: str):
    """Yield (frame_number, label) of one sample's frames where ``field`` is set,
    streaming from the database."""
    from fiftyone import ViewField as F

    if not sample._dataset.has_frame_field(field):
        return
    view = sample._dataset.select(sample.id).select_fields(f"frames.{field}").match_frames(F(field) != None)  # noqa: E711
    for s in view:
        for fn, frame in s.frames.items():
            label = frame[field]
            if label is not None:
                yield fn, label


def read_prompts(sample: Any, prompt_field: str, size: tuple[int, int]) -> list[Prompt]:
    """All prompts of one video sample, pixel coordinates, frames 0-based."""
    auto_ids: dict[str, int] = {}
    out: list[Prompt] = []
    for fn, label in _frames_with(sample, prompt_field):
        out += prompts_from_label(label, fn, size, auto_ids)
    # Labels without `index` get ids after the explicit ones.
    explicit = {p.object_id for p in out if p.label not in auto_ids}
    if auto_ids and explicit & set(auto_ids.values()):
        shift = max(explicit)
        out = [Prompt(p.frame, p.object_id + shift, p.label, p.points, p.point_labels, p.box, p.mask) if p.label in auto_ids else p for p in out]
    return out


def _output_keyframes(sample: Any, label_field: str, size: tuple[int, int]):
    """Scan our output detections: (stored prompt digests, mask prompts from
    edits, keys edited since written)."""
    stored: dict[tuple[int, int], str] = {}
    mask_prompts: dict[tuple[int, int], Prompt] = {}
    edited: set[tuple[int, int]] = set()
    for fn, dets in _frames_with(sample, label_field):
        for d in dets.detections:
            if not is_ours(d) or d.index is None:
                continue
            key = (int(d.index), fn - 1)
            tag = d.get_field(PROMPT_ATTR) if d.has_field(PROMPT_ATTR) else None
            if tag:
                stored[key] = tag
            if is_edited(d) or (tag or "").startswith(EDIT_PREFIX):
                if d.mask is None:
                    continue
                mask = paste_mask(d.mask, box_to_pixels(d.bounding_box, size), size)
                if mask.any():
                    mask_prompts[key] = Prompt(fn - 1, int(d.index), d.label, mask=mask)
                    if is_edited(d):
                        edited.add(key)
    return stored, mask_prompts, edited


def _plan(sample: Any, prompt_field: str, label_field: str, size, num_frames: int):
    """Prompts to run with (merged, user edits winning on their keyframe), their
    digests to store, and the keyframes new or changed since the last run."""
    field_prompts = merge_prompts(read_prompts(sample, prompt_field, size), num_frames, size)
    stored, edit_prompts, edited = _output_keyframes(sample, label_field, size)
    prompts = {(p.object_id, p.frame): p for p in field_prompts}
    digests = {k: prompt_digest(p) for k, p in prompts.items()}
    labels = object_labels(field_prompts)
    for key, p in edit_prompts.items():
        p = Prompt(p.frame, p.object_id, labels.get(p.object_id) or p.label, mask=p.mask)
        prompts[key] = p
        digests[key] = EDIT_PREFIX + prompt_digest(p)
    changed = {k for k, d in digests.items() if stored.get(k) != d} | edited
    return list(prompts.values()), digests, changed


def _open(sample: Any):
    from tam_core.video import open_video

    return open_video(sample.filepath)


def _each_sample(samples: Any, fn: Callable[[Any], SampleReport], progress: SampleProgress | None) -> list[SampleReport]:
    reports = []
    for s in samples.select_fields():  # ids and file paths only; full samples loaded one by one
        sample = s._dataset[s.id]
        reports.append(fn(sample))
    return reports


def _run(
    samples: Any,
    prompt_field: str,
    label_field: str,
    models: Any,
    model_choice: ModelChoice,
    options: TrackOptions,
    progress: SampleProgress | None,
    only_changes: bool,
) -> list[SampleReport]:
    """The body of :func:`track` (everything) and :func:`correct` (only what changed)."""
    pf = check_prompt_field(samples, prompt_field)
    check_output_field(samples._dataset, label_field, pf)
    lf = field_name(label_field)
    options = TrackOptions(options.direction, options.batch_size, model_choice.refine if models is None else options.refine, options.session_options)

    def one(sample: Any) -> SampleReport:
        with _open(sample) as video:
            if not any(True for _ in _frames_with(sample, pf)):
                return SampleReport(sample.id, sample.filepath, None, f"no prompts in frames.{pf}")
            prompts, digests, changed = _plan(sample, pf, lf, video.size, video.num_frames)
            if only_changes and not changed:
                return SampleReport(sample.id, sample.filepath, None, "nothing changed since the last run")
            sink = FrameDetectionsSink(sample, lf, object_labels(prompts), digests)
            cb = (lambda d, t: progress(sample.id, d, t)) if progress else None
            chosen = models or get_models(model_choice)
            if only_changes:
                rep = correct_frames(video, prompts, sorted(changed), sink, chosen, options, cb)
            else:
                rep = track_frames(video, prompts, sink, chosen, options, cb)
            sink.close()
            return SampleReport(sample.id, sample.filepath, rep)

    return _each_sample(samples, one, progress)


def track(
    samples: Any,
    prompt_field: str = DEFAULT_PROMPT_FIELD,
    label_field: str = DEFAULT_LABEL_FIELD,
    models: Any = None,
    model_choice: ModelChoice = ModelChoice(),
    options: TrackOptions = TrackOptions(),
    progress: SampleProgress | None = None,
) -> list[SampleReport]:
    """Track every prompted object of every video in ``samples`` from all its
    prompts and (re)write ``frames.<label_field>``. Samples without prompts
    are skipped (their report is None). Re-running gives the same labels."""
    return _run(samples, prompt_field, label_field, models, model_choice, options, progress, only_changes=False)


def correct(
    samples: Any,
    prompt_field: str = DEFAULT_PROMPT_FIELD,
    label_field: str = DEFAULT_LABEL_FIELD,
    models: Any = None,
    model_choice: ModelChoice = ModelChoice(),
    options: TrackOptions = TrackOptions(),
    progress: SampleProgress | None = None,
) -> list[SampleReport]:
    """Re-track only what changed since the last run: prompts added or edited
    in ``prompt_field`` and output masks a user edited in ``label_field``
    (an edited mask becomes a keyframe). Only the affected objects' labels on
    the affected spans are replaced. Samples with no change are skipped."""
    return _run(samples, prompt_field, label_field, models, model_choice, options, progress, only_changes=True)


def read_records(sample: Any, label_field: str) -> list[ObjectRecord]:
    """Review summaries of one sample's tracked detections (ours only)."""
    w = h = None
    if sample.metadata is not None and getattr(sample.metadata, "frame_width", None):
        w, h = sample.metadata.frame_width, sample.metadata.frame_height
    out = []
    for fn, dets in _frames_with(sample, field_name(label_field)):
        for d in dets.detections:
            if not is_ours(d) or d.index is None or d.mask is None:
                continue
            if w is None:
                with _open(sample) as v:
                    h, w = v.size
            x0, y0, x1, y1 = box_to_pixels(d.bounding_box, (h, w))
            refined = bool(d.get_field(REFINED_ATTR)) if d.has_field(REFINED_ATTR) else False
            area = int(d.mask.astype(bool).sum())
            out.append(ObjectRecord(fn - 1, int(d.index), float(d.confidence or 0.0), area, (x0, y0, x1, y1), refined))
    return out


def review(
    samples: Any,
    label_field: str = DEFAULT_LABEL_FIELD,
    limit: int | None = 50,
    options: ReviewOptions = ReviewOptions(),
    view_name: str | None = None,
) -> tuple[list[tuple[str, ReviewItem]], Any]:
    """The frames to check first across ``samples``, most suspicious first.

    Returns ``([(sample_id, ReviewItem), ...], view)`` where ``view`` holds
    only those frames (``select_frames``); with ``view_name`` it is also saved
    on the dataset (overwriting a previous review view of that name).
    Frame numbers in ReviewItem are 0-based; FiftyOne's are ``frame + 1``.
    """
    lf = field_name(label_field)
    items: list[tuple[str, ReviewItem]] = []
    for s in samples.select_fields():
        sample = s._dataset[s.id]
        items += [(sample.id, it) for it in review_queue(read_records(sample, lf), None, options)]
    items.sort(key=lambda t: (-t[1].score, t[0], t[1].frame))
    if limit is not None:
        items = items[: max(int(limit), 0)]
    view = _frames_view(samples, items)
    if view_name:
        samples._dataset.save_view(view_name, view, overwrite=True)
    return items, view


def _frames_view(samples: Any, items: list[tuple[str, ReviewItem]]) -> Any:
    from fiftyone import ViewField as F

    wanted: dict[str, set[int]] = {}
    for sid, it in items:
        wanted.setdefault(sid, set()).add(it.frame + 1)
    frame_ids = []
    for sid, fns in wanted.items():
        ids, numbers = samples._dataset.select(sid).values(["frames.id", "frames.frame_number"])
        frame_ids += [i for i, n in zip(ids[0], numbers[0]) if n in fns]
    if not frame_ids:
        return samples.limit(0)
    return samples.select_frames(frame_ids)


__all__ = [
    "DEFAULT_LABEL_FIELD", "DEFAULT_PROMPT_FIELD", "ModelChoice", "SampleReport", "TrackOptions",
    "check_prompt_field", "correct", "read_prompts", "read_records", "review", "track", "DIGEST_ATTR",
]
