"""What the Track Anything panel does, without the App: add a click to the
prompt field, preview SAM's mask for that frame, draw the frame with the
preview/tracked masks as an image. Kept apart from the panel class so it is
tested directly."""

from __future__ import annotations

import base64
import io
from typing import Any

import cv2
import numpy as np

from tam_core.segmenters.cache import EmbeddingCache
from tam_core.types import Prompt

from .api import DEFAULT_LABEL_FIELD, DEFAULT_PROMPT_FIELD, read_prompts
from .convert import box_to_pixels, paste_mask
from .embeddings import APP_CACHE_SIZE, app_embeddings

COLORS = np.array([(255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (220, 64, 220), (0, 210, 210)], np.uint8)


def read_frame(sample: Any, frame_number: int) -> np.ndarray:
    """uint8 [H,W,3] of FiftyOne frame ``frame_number`` (1-based)."""
    from tam_core.video import open_video

    with open_video(sample.filepath) as v:
        return v[int(frame_number) - 1]


def cell_to_point(x: float, y: float, size: tuple[int, int]) -> tuple[float, float]:
    """The heatmap reports the clicked cell's centre in the plot's axes,
    where frame pixel centres are at integers (see ``plot_traces``); return
    it in continuous pixel coordinates [0,W)x[0,H) (pixel i spans [i, i+1))."""
    h, w = size
    return min(max(float(x), 0.0), w - 1.0) + 0.5, min(max(float(y), 0.0), h - 1.0) + 0.5


def add_click(sample: Any, frame_number: int, object_id: int, label: str, xy: tuple[float, float], positive: bool,
              size: tuple[int, int], field: str = DEFAULT_PROMPT_FIELD) -> None:
    """Append one click (pixel x, y) of object ``object_id`` to the Keypoints in
    ``frames.<field>`` of ``frame_number``, as FiftyOne's SAM 2 prompts
    (normalised points, ``sam2_labels`` 1/0). Other keypoints stay."""
    import fiftyone as fo

    h, w = size
    frame = sample.frames[int(frame_number)]
    kps = frame[field] if frame.has_field(field) and frame[field] is not None else fo.Keypoints()
    mine = [k for k in kps.keypoints if k.index == object_id]
    point = [float(xy[0]) / w, float(xy[1]) / h]
    if mine:
        k = mine[0]
        labels = list(k["sam2_labels"]) if k.has_field("sam2_labels") and k["sam2_labels"] is not None else [1] * len(k.points)
        k.points = list(k.points) + [point]
        k["sam2_labels"] = labels + [1 if positive else 0]
        if label:
            k.label = label
    else:
        kps.keypoints.append(fo.Keypoint(label=label or f"object {object_id}", points=[point], index=int(object_id), sam2_labels=[1 if positive else 0]))
    frame[field] = kps
    sample.save()


def object_class(sample: Any, object_id: int, label_field: str = DEFAULT_LABEL_FIELD,
                 prompt_field: str = DEFAULT_PROMPT_FIELD) -> str | None:
    """The class an object already has in this video (its tracked detections,
    else its clicks), or None: a new click keeps it, so one object never gets
    two classes (a conflict the next run would refuse)."""
    from fiftyone import ViewField as F

    one = sample._dataset.select(sample.id)
    for field, kind in ((label_field, "detections"), (prompt_field, "keypoints")):
        if one.has_frame_field(field):
            labels = one.filter_labels(f"frames.{field}", F("index") == int(object_id)).distinct(f"frames.{field}.{kind}.label")
            if labels:
                return labels[0]
    return None


def clear_clicks(sample: Any, frame_number: int, object_id: int, field: str = DEFAULT_PROMPT_FIELD) -> None:
    """Remove one object's clicks on one frame (other objects' stay)."""
    frame = sample.frames[int(frame_number)]
    if frame.has_field(field) and frame[field] is not None:
        frame[field].keypoints = [k for k in frame[field].keypoints if k.index != object_id]
        sample.save()


PREVIEW_CACHE_SIZE = APP_CACHE_SIZE


def preview_cache() -> EmbeddingCache:
    """The App's one cache of embeddings, keyed by (video path, frame):
    panel events of several videos and users share it from FiftyOne's threads
    (it is thread-safe and re-encodes a key whose pixels or model changed),
    and so do this process's tracking runs (``embeddings.app_embeddings``)."""
    return app_embeddings()


def preview_mask(sample: Any, frame_number: int, object_id: int, segmenter: Any, image: np.ndarray,
                 field: str = DEFAULT_PROMPT_FIELD, cache: EmbeddingCache | None = None) -> np.ndarray | None:
    """SAM's mask (bool [H,W]) for the object's prompts on this frame, or None.
    image: uint8 [H,W,3], that frame (already decoded by the caller); cache:
    where the frame's embedding is kept (default: :func:`preview_cache`)."""
    prompts = [p for p in read_prompts(sample, field, image.shape[:2]) if p.frame == frame_number - 1 and p.object_id == object_id]
    if not prompts:
        return None
    p: Prompt = prompts[0]
    if p.mask is not None and p.points is None and p.box is None:
        return p.mask
    cache = preview_cache() if cache is None else cache
    embedding = cache.embed(segmenter, (sample.filepath, frame_number - 1), image)
    out = segmenter.predict(embedding, points=p.points, point_labels=p.point_labels, box=p.box)
    return np.asarray(out.mask, bool)


def tracked_masks(sample: Any, frame_number: int, size: tuple[int, int], field: str = DEFAULT_LABEL_FIELD) -> dict[int, np.ndarray]:
    frame = sample.frames[int(frame_number)] if int(frame_number) in sample.frames else None
    dets = frame[field] if frame is not None and frame.has_field(field) else None
    out = {}
    for d in dets.detections if dets else []:
        if d.mask is not None and d.index is not None:
            out[int(d.index)] = paste_mask(d.mask, box_to_pixels(d.bounding_box, size), size)
    return out


def compose(image: np.ndarray, masks: dict[int, np.ndarray], preview: np.ndarray | None = None, preview_id: int = 1) -> np.ndarray:
    """uint8 [H,W,3]: the frame with tracked masks blended in (object colors,
    outlined: a mask on an object of its own color would be invisible) and
    the preview mask drawn stronger with a white outline."""
    out = image.astype(np.float32)
    for oid, m in masks.items():
        color = COLORS[(oid - 1) % len(COLORS)]
        out[m] = 0.55 * out[m] + 0.45 * color
        out[m & ~_erode(m)] = 0.3 * color + 0.7 * 255
    if preview is not None and preview.any():
        out[preview] = 0.35 * out[preview] + 0.65 * COLORS[(preview_id - 1) % len(COLORS)]
        edge = preview & ~_erode(preview)
        out[edge] = 255
    return out.clip(0, 255).astype(np.uint8)


def _erode(m: np.ndarray) -> np.ndarray:
    e = m.copy()
    e[1:] &= m[:-1]
    e[:-1] &= m[1:]
    e[:, 1:] &= m[:, :-1]
    e[:, :-1] &= m[:, 1:]
    return e


def png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


MAX_SIDE = 640  # longest side of the image sent to the browser (and of the click grid)


def plot_traces(image: np.ndarray, max_side: int = MAX_SIDE) -> tuple[list[dict], dict]:
    """Plotly traces + layout: the image as background and an invisible
    heatmap over it, so a click anywhere reports the pixel under it.

    image: uint8 [H,W,3]. Axes are in the frame's pixel coordinates (cell
    centres at integers). Frames longer than ``max_side`` are sent downscaled
    (a 1080p frame and a 2M-cell heatmap would be megabytes per click); each
    heatmap cell then covers a block of frame pixels and reports the block's
    centre, so ``cell_to_point`` stays right at any scale.
    """
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    hs, ws = max(1, round(h * scale)), max(1, round(w * scale))
    shown = image if (hs, ws) == (h, w) else cv2.resize(image, (ws, hs), interpolation=cv2.INTER_AREA)
    heat = {
        "type": "heatmap",
        "z": np.zeros((hs, ws), np.uint8).tolist(),
        "opacity": 0,
        "showscale": False,
        "hoverinfo": "x+y",
    }
    if (hs, ws) != (h, w):
        # Cell j spans frame pixels [j*w/ws, (j+1)*w/ws): its centre, minus the half pixel of the axes.
        heat["x"] = ((np.arange(ws) + 0.5) * (w / ws) - 0.5).round(3).tolist()
        heat["y"] = ((np.arange(hs) + 0.5) * (h / hs) - 0.5).round(3).tolist()
    layout = {
        "images": [{"source": png_data_uri(shown), "xref": "x", "yref": "y", "x": -0.5, "y": -0.5,
                    "sizex": w, "sizey": h, "sizing": "stretch", "layer": "below"}],
        # constrain="domain": keep the aspect ratio by shrinking the plot area,
        # not by widening the axis range (which would show empty margins).
        "xaxis": {"range": [-0.5, w - 0.5], "showgrid": False, "visible": False, "constrain": "domain"},
        "yaxis": {"range": [h - 0.5, -0.5], "showgrid": False, "visible": False, "scaleanchor": "x", "constrain": "domain"},
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
    }
    return [heat], layout
