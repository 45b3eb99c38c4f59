"""Export a finished ``tam-label track`` folder as YouTube-VIS JSON with one
COCO RLE per frame and object (what VIS training and evaluation code reads).

The folder's ``summary.json`` (written last, when the run is complete) gives
the frame count, size, video and each object's label; the indexed PNGs give
the masks. Layout of the result (YouTube-VIS 2019/2021, one video)::

    {"info": {...}, "licenses": [],
     "videos": [{"id": 1, "width": W, "height": H, "length": T,
                 "file_names": ["<video>/00000.jpg", ...], "source": "<video as tracked>"}],
     "categories": [{"id": 1, "name": "<label>", "supercategory": "object"}, ...],
     "annotations": [{"id": k, "video_id": 1, "category_id": c, "track_id": <object id>,
                      "iscrowd": 0, "width": W, "height": H, "length": 1,
                      "segmentations": [RLE or null per frame],
                      "bboxes": [[x, y, w, h] or null], "areas": [pixels or null]}]}

An object absent on every frame gets no annotation (VIS evaluation averages
its areas). RLE: COCO compressed (``{"size": [H, W], "counts": "<str>"}``, column-major
as ``pycocotools.mask.encode``); null where the object is absent. Boxes are
COCO pixel boxes (x, y of the top-left pixel, width and height in pixels).
``file_names`` follow YouTube-VIS's naming (frames extracted as
``<video stem>/<frame:05d>.jpg``); the frames themselves are not written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tam_core.errors import ConfigError

from .davis_folder import SUMMARY, png_path


def run_folder_to_ytvis(run_dir: str | Path) -> dict[str, Any]:
    """The YouTube-VIS dict of a finished ``track`` run folder (see the module doc).
    Raises ConfigError (one line) for an unfinished run, a missing PNG or an
    object in the PNGs that the run did not track."""
    from pycocotools import mask as coco_mask

    from tam_core.video.davis import read_labels

    run_dir = Path(run_dir)
    summary_path = run_dir / SUMMARY
    if not summary_path.is_file():
        raise ConfigError(f"{run_dir} has no {SUMMARY}: not a finished `tam-label track` folder "
                          "(re-run the same track command to finish it)")
    summary = json.loads(summary_path.read_text())
    num_frames, (height, width) = int(summary["num_frames"]), (int(v) for v in summary["size"])
    objects = {int(o["id"]): str(o["label"] or "object") for o in summary["objects"]}  # unlabeled: "object"
    names = list(dict.fromkeys(objects.values()))  # categories in order of first object id
    category = {name: i + 1 for i, name in enumerate(names)}

    segs: dict[int, list] = {oid: [None] * num_frames for oid in objects}
    boxes: dict[int, list] = {oid: [None] * num_frames for oid in objects}
    areas: dict[int, list] = {oid: [None] * num_frames for oid in objects}
    for t in range(num_frames):
        path = png_path(run_dir, t)
        if not path.is_file():
            raise ConfigError(f"{path} is missing; the folder no longer matches its {SUMMARY}")
        labels = read_labels(path)
        if labels.shape != (height, width):
            raise ConfigError(f"{path} is {labels.shape[1]}x{labels.shape[0]}, the run's frames {width}x{height}")
        for oid in (int(v) for v in np.unique(labels) if v != 0):
            if oid not in objects:
                raise ConfigError(f"{path} holds object {oid}, which the run did not track (objects "
                                  f"{sorted(objects)}); was the folder edited?")
            mask = labels == oid
            rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
            segs[oid][t] = {"size": [height, width], "counts": rle["counts"].decode("ascii")}
            ys, xs = np.nonzero(mask)
            boxes[oid][t] = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
            areas[oid][t] = int(mask.sum())

    video = str(summary.get("video") or run_dir.name)
    stem = Path(video.rstrip("/")).stem or "video"
    return {
        "info": {"description": f"tam-label track of {video}", "source": str(run_dir)},
        "licenses": [],
        "videos": [{"id": 1, "width": width, "height": height, "length": num_frames,
                    "file_names": [f"{stem}/{t:05d}.jpg" for t in range(num_frames)], "source": video}],
        "categories": [{"id": category[n], "name": n, "supercategory": "object"} for n in names],
        "annotations": [
            {"id": k + 1, "video_id": 1, "category_id": category[objects[oid]], "track_id": oid, "iscrowd": 0,
             "width": width, "height": height, "length": 1,
             "segmentations": segs[oid], "bboxes": boxes[oid], "areas": areas[oid]}
            for k, oid in enumerate(o for o in sorted(objects) if any(a is not None for a in areas[o]))
        ],
    }


__all__ = ["run_folder_to_ytvis"]
