"""The review queue on FiftyOne videos: which tracked frames to check first.

Frames are ranked by ``operators.review.review_queue`` from the tracked
detections read back from the output field. Masks a person set (keyframes
from prompts, masks a person edited) are never flagged themselves. Every
flagged frame's score is stored in the frame field ``<label_field>_review``
(sort or filter on it in the App). Two saved views: ``<name>`` lists the top
frames with the videos ordered by their worst frame (FiftyOne always shows a
video's frames in time order), and ``<name>-frames`` (:func:`frames_view_name`)
shows the same frames one by one, worst first, across videos.
"""

from __future__ import annotations

from typing import Any

from operators.review import ReviewItem, ReviewOptions, review_queue
from operators.track import ObjectRecord
from tam_core.errors import frames_counted_from

from .convert import PROMPT_ATTR, REFINED_ATTR, box_to_pixels, is_edited, is_ours
from .prompt_reader import field_name, frames_with


def score_field(label_field: str) -> str:
    """The frame field holding each flagged frame's review score."""
    return f"{field_name(label_field)}_review"


def frames_view_name(view_name: str) -> str:
    """The name the worst-first frames view is saved under, beside ``view_name``."""
    return f"{view_name}-frames"


def read_records(sample: Any, label_field: str) -> tuple[list[ObjectRecord], set[tuple[int, int]]]:
    """Review summaries of one sample's tracked detections (ours only, 0-based
    frames) and the (frame, object_id) masks a person set (keyframes, edits)."""
    from tam_core.video import open_video

    w = h = None
    if sample.metadata is not None and getattr(sample.metadata, "frame_width", None):
        w, h = sample.metadata.frame_width, sample.metadata.frame_height
    out, person = [], set()
    for fn, dets in frames_with(sample, field_name(label_field)):
        for d in dets.detections:
            if not is_ours(d) or d.index is None or d.mask is None:
                continue
            if w is None:
                with open_video(sample.filepath) as v:
                    h, w = v.size
            x0, y0, x1, y1 = box_to_pixels(d.bounding_box, (h, w))
            refined = bool(d.get_field(REFINED_ATTR)) if d.has_field(REFINED_ATTR) else False
            area = int(d.mask.astype(bool).sum())
            out.append(ObjectRecord(fn - 1, int(d.index), float(d.confidence or 0.0), area, (x0, y0, x1, y1), refined))
            if (d.has_field(PROMPT_ATTR) and d.get_field(PROMPT_ATTR)) or is_edited(d):
                person.add((fn - 1, int(d.index)))
    return out, person


def review(
    samples: Any,
    label_field: str = "tam_tracks",
    limit: int | None = 50,
    options: ReviewOptions = ReviewOptions(),
    view_name: str | None = None,
) -> tuple[list[tuple[str, ReviewItem]], Any]:
    """The frames to check first across ``samples``, highest score first.

    Returns ``([(sample_id, ReviewItem), ...], view)``: at most ``limit``
    items (``ReviewItem.frame`` is 0-based; FiftyOne's frame is ``frame + 1``,
    and the reasons already use FiftyOne's numbers), and a view of only those
    frames with the videos ordered by their highest score. Stores every flagged
    frame's score in ``frames.<label_field>_review`` (None elsewhere). With
    ``view_name`` the view is also saved on the dataset (overwriting a
    previous one of that name) and keeps its order, and beside it, as
    ``frames_view_name(view_name)``, :func:`worst_frames_first` of it.
    """
    lf = field_name(label_field)
    items: list[tuple[str, ReviewItem]] = []
    for s in samples.select_fields():
        sample = s._dataset[s.id]
        records, person = read_records(sample, lf)
        with frames_counted_from(1):  # reasons name frames as FiftyOne does
            items += [(sample.id, it) for it in review_queue(records, None, options, person_set=person)]
    items.sort(key=lambda t: (-t[1].score, t[0], t[1].frame))
    _store_scores(samples, lf, items)
    if limit is not None:
        items = items[: max(int(limit), 0)]
    frame_ids = _frame_ids(samples, items)
    view = _frames_view(samples, lf, frame_ids)
    if view_name:
        samples._dataset.save_view(view_name, view, overwrite=True)
        samples._dataset.save_view(frames_view_name(view_name), worst_frames_first(view, lf, frame_ids),
                                   overwrite=True)
    return items, view


def worst_frames_first(view: Any, label_field: str, frame_ids: list[str]) -> Any:
    """The frames ``frame_ids`` of ``view`` as one sample each (a frames view,
    decoded from the videos, nothing written to disk), highest review score
    first; ties in video, then frame order, as ``review`` lists them."""
    if not frame_ids:  # to_frames of nothing has no frames to build from
        return view
    frames = view.to_frames(sample_frames="dynamic").select(frame_ids)  # a frames view keeps the frames' ids
    return frames.sort_by([(score_field(label_field), -1), ("sample_id", 1), ("frame_number", 1)])


def _store_scores(samples: Any, label_field: str, items: list[tuple[str, ReviewItem]]) -> None:
    scores = {(sid, it.frame + 1): it.score for sid, it in items}
    ids, numbers = samples.values(["id", "frames.frame_number"])
    samples.set_values(f"frames.{score_field(label_field)}",
                       [[scores.get((sid, n)) for n in fns] for sid, fns in zip(ids, numbers)])


def _frame_ids(samples: Any, items: list[tuple[str, ReviewItem]]) -> list[str]:
    wanted: dict[str, set[int]] = {}
    for sid, it in items:
        wanted.setdefault(sid, set()).add(it.frame + 1)
    frame_ids = []
    for sid, fns in wanted.items():
        ids, numbers = samples._dataset.select(sid).values(["frames.id", "frames.frame_number"])
        frame_ids += [i for i, n in zip(ids[0], numbers[0]) if n in fns]
    return frame_ids


def _frames_view(samples: Any, label_field: str, frame_ids: list[str]) -> Any:
    from fiftyone import ViewField as F

    if not frame_ids:
        return samples.limit(0)
    worst = F("frames").map(F(score_field(label_field))).max()
    return samples.select_frames(frame_ids).sort_by(worst, reverse=True)


__all__ = ["frames_view_name", "read_records", "review", "score_field", "worst_frames_first"]
