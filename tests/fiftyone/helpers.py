"""Shared builders for the FiftyOne tests: an H.264 synthetic clip in a real
dataset, with prompts in FiftyOne's SAM 2 conventions."""

from __future__ import annotations

import uuid

import numpy as np

from tests.synthetic import make_video, write_h264

NUM_FRAMES = 12
SIZE = (96, 128)  # big enough that H.264 edge artefacts stay small


def clip(tmp_path, name="clip.mp4", num_frames=NUM_FRAMES, seed=0):
    video = make_video(num_frames=num_frames, size=SIZE, seed=seed)
    path = write_h264(tmp_path / name, video.frames, fps=video.fps)
    from tam_core.video import open_video

    with open_video(path) as v:
        video.decoded = np.stack([v[i] for i in range(v.num_frames)])
    return video, path


def centre_point(video, oid, frame):
    """Normalised [x, y] of the pixel of object ``oid`` on ``frame`` (0-based)
    nearest its centre whose decoded color kept the object's color (H.264
    chroma subsampling smears a few pixels of small saturated shapes)."""
    m = video.mask(frame, oid)
    good = np.abs(video.decoded[frame].astype(int) - video.colors[oid]).max(axis=2) <= 10
    ys, xs = np.nonzero(m)
    cand = np.argwhere(m & good)
    y, x = cand[np.argmin(((cand - [ys.mean(), xs.mean()]) ** 2).sum(1))]
    h, w = video.size
    return [x / w, y / h]


def new_dataset(tmp_path, num_samples=1, num_frames=NUM_FRAMES, seeds=None):
    """A dataset of ``num_samples`` clips (``seeds``: one make_video seed per clip, default all 0)."""
    import fiftyone as fo

    ds = fo.Dataset(f"tam-{uuid.uuid4().hex[:8]}")
    videos = []
    for i in range(num_samples):
        video, path = clip(tmp_path, f"clip{i}.mp4", num_frames, seed=0 if seeds is None else seeds[i])
        ds.add_sample(fo.Sample(filepath=str(path)))
        videos.append(video)
    ds.compute_metadata()
    return ds, videos


def add_click(sample, video, oid, frame, label="thing", field="tam_prompts", negative=None):
    """Add a positive click (and optional negative [x, y]) for object ``oid`` on 0-based ``frame``."""
    import fiftyone as fo

    pts = [centre_point(video, oid, frame)]
    labels = [1]
    if negative is not None:
        pts.append(negative)
        labels.append(0)
    fr = sample.frames[frame + 1]
    kps = fr[field] if fr.has_field(field) and fr[field] is not None else fo.Keypoints()
    kps.keypoints = [k for k in kps.keypoints if k.index != oid] + [fo.Keypoint(label=label, points=pts, index=oid, sam2_labels=labels)]
    fr[field] = kps
    sample.save()


def output_masks(sample, field="tam_tracks"):
    """{(object_id, frame0): bool [H,W]} of the detections in ``frames.field``."""
    from plugin.fiftyone.convert import box_to_pixels, paste_mask

    sample.reload()
    out = {}
    for fn, fr in sample.frames.items():
        dets = fr[field] if fr.has_field(field) else None
        for d in dets.detections if dets else []:
            if d.mask is None:  # a user's own box, not a tracked mask
                continue
            out[(d.index, fn - 1)] = paste_mask(d.mask, box_to_pixels(d.bounding_box, SIZE), SIZE)
    return out


def iou(a, b):
    u = (a | b).sum()
    return (a & b).sum() / u if u else 1.0


def triggers(result, operator):
    """Params of the ``operator`` invocations an immediate run yielded (in
    order): e.g. ``set_progress`` or ``notify``."""
    return [r["params"] for r in result.executor.to_json()["requests"] if r["operator_uri"] == operator]


def add_box(sample, video, oid, frame, label="box", field="boxes", pad=1):
    """A box prompt (Detection with ``index``) around object ``oid`` on 0-based ``frame``."""
    import fiftyone as fo

    ys, xs = np.nonzero(video.mask(frame, oid))
    h, w = video.size
    box = [(xs.min() - pad) / w, (ys.min() - pad) / h, (xs.max() - xs.min() + 1 + 2 * pad) / w, (ys.max() - ys.min() + 1 + 2 * pad) / h]
    fr = sample.frames[frame + 1]
    dets = fr[field] if fr.has_field(field) and fr[field] is not None else fo.Detections()
    dets.detections = [d for d in dets.detections if d.index != oid] + [fo.Detection(label=label, bounding_box=box, index=oid)]
    fr[field] = dets
    sample.save()
