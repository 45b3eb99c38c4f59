"""Review tracked masks in CVAT through FiftyOne's own CVAT backend, keeping
masks, ``index`` and the masks nobody touched exactly as written.

FiftyOne 1.22's backend, given a frame field of tracked masks, loses them
(measured against CVAT 2.23.1): the default ``annotate`` uploads no shape,
``label_type="instances"`` turns every ``index`` into a mask *track* that
``load_annotations`` cannot read (``NotImplementedError``), and a mask loaded
back has a box 1 px narrower and shorter than its mask (the upload writes the
inclusive corner, the load reads it as exclusive), so this project would see
every mask as edited. The path here:

1. :func:`send_for_review` copies the field to ``<field>_review`` with each
   ``index`` moved to the attribute ``tam_index`` and calls ``annotate`` with
   ``label_type="instances"`` and ``group_id_attr="tam_index"``: one mask
   *shape* per object per frame, the object's index as its CVAT group (the
   grouping ``tam-label cvat track``/``fix`` read too).
2. People review in CVAT: edit, delete, draw (a new object: give it a group).
3. :func:`load_review` calls ``load_annotations`` and writes the reviewed
   masks back into the field: ``index`` from the group, the box from the
   mask's own size. A mask nobody changed is byte-identical to before (its
   digest still matches: ours, not edited); an edited one counts as edited,
   so ``fix`` re-tracks from it; a deleted one is gone.

Other backends or label types are not handled here.
"""

from __future__ import annotations

from typing import Any

INDEX_ATTR = "tam_index"  # CVAT group id <-> Detection.index while the review runs
REVIEW_SUFFIX = "_review"


def review_field(field: str) -> str:
    return f"{field}{REVIEW_SUFFIX}"


def send_for_review(samples: Any, anno_key: str, field: str, classes: list[str] | None = None, **backend: Any) -> Any:
    """Upload the video frame field ``field`` (``Detections`` with masks) to
    CVAT for review; ``backend``: FiftyOne's CVAT options (``url``,
    ``username``, ``password``, ``segment_size``, ...). Returns FiftyOne's
    annotation results. Nothing in ``field`` is changed."""
    import fiftyone as fo

    if samples.media_type != fo.core.media.VIDEO:
        raise ValueError("send_for_review handles video datasets (frame fields); use FiftyOne's annotate for images")
    dataset = samples._dataset
    copy = review_field(field)
    if dataset.has_frame_field(copy):
        raise ValueError(f"frame field {copy!r} exists: an earlier review is open (load_review it, or delete the field)")
    dataset.clone_frame_field(field, copy)
    for sample in samples.iter_samples(autosave=True, progress=False):
        for frame in sample.frames.values():
            dets = frame[copy]
            for det in dets.detections if dets is not None else []:
                det[INDEX_ATTR] = int(det.index) if det.index is not None else 0  # group 0 = no group in CVAT
                det.index = None  # with an index FiftyOne uploads a mask track it cannot load back
    if classes is None:
        classes = sorted(set(samples.distinct(f"frames.{copy}.detections.label")))
    return samples.annotate(anno_key, backend="cvat", label_field=f"frames.{copy}", label_type="instances",
                            classes=classes, attributes=False, group_id_attr=INDEX_ATTR, **backend)


def load_review(samples: Any, anno_key: str, field: str, cleanup: bool = False, **backend: Any) -> int:
    """Read the reviewed masks back into ``field``; returns how many frames
    changed. ``cleanup``: also delete the CVAT task and the annotation run."""
    dataset = samples._dataset
    copy = review_field(field)
    dataset.load_annotations(anno_key, cleanup=cleanup, **backend)
    changed = 0
    for sample in samples.iter_samples(autosave=True, progress=False):
        w, h = sample.metadata.frame_width, sample.metadata.frame_height
        for frame in sample.frames.values():
            reviewed = frame[copy]
            if reviewed is None and frame[field] is None:
                continue
            dets = [_restored(d, w, h) for d in (reviewed.detections if reviewed is not None else [])]
            before = frame[field]
            if before is None or _geometry(before.detections) != _geometry(dets):
                changed += 1
            if before is None:
                import fiftyone as fo

                frame[field] = fo.Detections(detections=dets)
            else:
                before.detections = dets
    dataset.delete_frame_field(copy)
    if cleanup:
        dataset.delete_annotation_run(anno_key)
    return changed


def _restored(det: Any, width: int, height: int) -> Any:
    """A loaded detection with its ``index`` back and its box as wide and tall as its mask."""
    group = det[INDEX_ATTR] if det.has_field(INDEX_ATTR) else None
    det.index = int(group) if group else None
    if det.has_field(INDEX_ATTR):
        del det[INDEX_ATTR]
    if det.mask is not None and det.bounding_box:
        x, y = det.bounding_box[:2]
        mh, mw = det.mask.shape[:2]
        left, top = round(x * width), round(y * height)
        det.bounding_box = [left / width, top / height, mw / width, mh / height]
    return det


def _geometry(dets: list) -> list:
    from .convert import detection_digest

    return sorted((d.label or "", d.index or 0, detection_digest(d)) for d in dets)
