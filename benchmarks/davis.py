"""Accuracy on DAVIS-format folders: the Track Anything paper's protocol plus an interactive robot.

    python benchmarks/davis.py --davis ROOT [--resolution 480p] [--split val | --sequences S ...]
        [--modes mask click robot] [--max-clicks 5] [--max-frames N] [--json OUT.json]
        [model flags of every tam-label command: --sam-type, --xmem-checkpoint, --device, --no-refine, ...]

ROOT holds ``JPEGImages/<resolution>/<seq>/*.jpg`` and
``Annotations/<resolution>/<seq>/*.png`` (indexed PNGs: 0 background, object
ids, 255 void), and for ``--split`` ``ImageSets/2017/<split>.txt``.

Modes (all propagate forward from frame 0 with our tracker; J&F from
``tam_core.evaluation.metrics``):

* ``mask``: semi-supervised DAVIS: every object's ground-truth mask on the
  first frame it appears in; J&F by the DAVIS 2017 convention (first and last
  frame excluded).
* ``click``: each object's ground-truth mask replaced by SAM's mask for one
  positive click at the object's interior point (the pixel farthest from its
  boundary, see ``interior_point``) on its first frame; J&F over all frames.
* ``robot``: starts from ``click`` and then, ``--max-clicks`` times: find the
  worst frame (lowest mean J over the sequence's objects; earliest on ties), on
  it the largest error region over all objects (a connected region of missed
  pixels of object o -> positive click for o, of pixels wrongly given to o ->
  negative click for o; ties: lower object id, missed before wrong, then
  region order), click its interior point, prompt SAM with all clicks on that
  frame and object (plus, on the first click there, the current mask as SAM's
  mask prompt), use SAM's mask as a correction on that frame and track the
  whole video again. J&F over all frames after each click; the robot stops
  early when no error is left. Run without and with SAM refinement (unless
  ``--no-refine``), the number a labeling team cares about: J&F per click.

Refinement (``refine=True``): on every frame without a given mask, the
refiner scores the tracked masks and repairs weak ones with SAM; repaired
masks are written back to the tracker (``amend``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

VOID = 255
ALL_FRAMES = dict(exclude_first=False, exclude_last=False)


@dataclass(frozen=True)
class Clip:
    """frames uint8 [T,H,W,3] RGB; gt uint8 [T,H,W] (0 background, object ids, 255 void)."""

    name: str
    frames: np.ndarray
    gt: np.ndarray

    @property
    def object_ids(self) -> list[int]:
        return sorted(int(v) for v in np.unique(self.gt) if v not in (0, VOID))

    def first_frame_of(self, object_id: int) -> int:
        return int(np.argmax((self.gt == object_id).reshape(len(self.gt), -1).any(1)))


@dataclass(frozen=True)
class Click:
    """One simulated click: pixel (x, y) on ``frame`` for ``object_id``; positive adds, negative removes."""

    frame: int
    object_id: int
    x: int
    y: int
    positive: bool


@dataclass
class RobotRun:
    """J&F after the initial clicks and after each robot click: ``curve[i]`` = (clicks so far, J&F)."""

    refine: bool
    clicks: list[Click] = field(default_factory=list)
    curve: list[tuple[int, float]] = field(default_factory=list)


Given = dict[int, dict[int, np.ndarray]]  # frame -> object id -> bool [H,W]


def interior_point(region: np.ndarray) -> tuple[int, int]:
    """(y, x) of the pixel of bool [H,W] ``region`` farthest from its boundary
    (the image border counts as boundary). Ties (e.g. along the middle of an
    elongated region): the tied pixel nearest to the ties' centroid, then the
    first in row-major order."""
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    ys, xs = np.nonzero(dist >= dist.max() - 1e-6)
    d2 = (ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2
    k = int(np.argmin(d2))  # nonzero() is row-major: argmin takes the first on ties
    return int(ys[k]), int(xs[k])


def jf(pred: np.ndarray, gt: np.ndarray, all_frames: bool, name: str = "") -> Any:
    """tam_core.evaluation.metrics report for int [T,H,W] labels (DAVIS convention unless ``all_frames``)."""
    from tam_core.evaluation.metrics import EvalOptions, evaluate_arrays

    opts = EvalOptions(**ALL_FRAMES) if all_frames else EvalOptions()
    return evaluate_arrays(pred, gt, opts, name=name)


def propagate(clip: Clip, models, given: Given, refine: bool) -> np.ndarray:
    """One forward pass with masks ``given`` on their frames -> int64 labels [T,H,W]."""
    from tam_core.refinement import RefineOptions
    from tam_core.refinement.quality import update_histories

    opts = RefineOptions()
    tracker = models.tracker_factory()
    histories: dict = {}
    labels = np.zeros(clip.gt.shape, np.int64)
    last = len(clip.frames) - 1
    for t, frame in enumerate(clip.frames):
        masks = given.get(t)
        probs = tracker.step(frame, masks, end=(t == last))
        if refine and models.refiner is not None and not masks:
            out = models.refiner.refine_frame(t, frame, probs, histories, opts)
            if out.refined:
                tracker.amend({o: out.masks[o] for o in out.refined})
            update_histories(histories, t, out.masks, opts)
            for o, m in out.masks.items():
                labels[t][m] = o
        else:
            labels[t] = probs.label_map()
    return labels


def mask_init(clip: Clip) -> Given:
    """Each object's ground-truth mask on the first frame it appears in."""
    given: Given = {}
    for o in clip.object_ids:
        t = clip.first_frame_of(o)
        given.setdefault(t, {})[o] = clip.gt[t] == o
    return given


def click_init(clip: Clip, segmenter) -> tuple[Given, list[Click]]:
    """SAM's mask for one positive click at each object's interior point on its first frame."""
    given: Given = {}
    clicks = []
    for o in clip.object_ids:
        t = clip.first_frame_of(o)
        y, x = interior_point(clip.gt[t] == o)
        clicks.append(Click(t, o, x, y, True))
        out = segmenter.predict(segmenter.embed(clip.frames[t]), points=np.array([[x, y]], float), point_labels=np.array([1]), multimask=True)
        given.setdefault(t, {})[o] = np.asarray(out.mask, bool)
    return given, clicks


def worst_frame(pred: np.ndarray, gt: np.ndarray, object_ids: list[int]) -> tuple[int, float]:
    """(frame, mean J over ``object_ids``) of the frame with the lowest mean J; earliest on ties."""
    from tam_core.evaluation.metrics import region_similarity

    scores = []
    for p, g in zip(pred, gt):
        void = g == VOID
        scores.append(float(np.mean([region_similarity(p == o, g == o, void) for o in object_ids])))
    t = int(np.argmin(scores))
    return t, scores[t]


def next_click(frame: int, pred: np.ndarray, gt: np.ndarray, object_ids: list[int]) -> Click | None:
    """The click at the interior point of the largest error region of int [H,W]
    ``pred`` vs ``gt`` on one frame, or None when they agree (void ignored)."""
    valid = gt != VOID
    best: tuple[int, np.ndarray, int, bool] | None = None  # (area, region, object, positive)
    for o in object_ids:
        for positive, err in ((True, (gt == o) & (pred != o) & valid), (False, (pred == o) & (gt != o) & valid)):
            if not err.any():
                continue
            n, comp, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
            k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            area = int(stats[k, cv2.CC_STAT_AREA])
            if best is None or area > best[0]:
                best = (area, comp == k, o, positive)
    if best is None:
        return None
    y, x = interior_point(best[1])
    return Click(frame, best[2], x, y, best[3])


def apply_click(clip: Clip, segmenter, clicks: list[Click], click: Click, current: np.ndarray,
                sam_logits: dict[tuple[int, int], np.ndarray], embeddings=None) -> np.ndarray:
    """SAM's mask bool [H,W] for ``click.object_id`` on ``click.frame`` from every
    click there so far; the first click there also gets the current mask
    (``current`` bool [H,W]) as mask prompt, later ones SAM's previous logits.
    ``embeddings``: the clip's ``EmbeddingCache`` (a frame clicked again is not re-encoded)."""
    from tam_core.segmenters.cache import EmbeddingCache

    embeddings = EmbeddingCache(1) if embeddings is None else embeddings
    key = (click.frame, click.object_id)
    mine = [c for c in clicks if (c.frame, c.object_id) == key]
    prior = sam_logits.get(key)
    if prior is None:  # in the segmenter's own low-res layout
        prior = segmenter.mask_to_logits(current)
    embedding = embeddings.embed(segmenter, click.frame, clip.frames[click.frame])
    out = segmenter.predict(embedding, points=np.array([[c.x, c.y] for c in mine], float),
                            point_labels=np.array([int(c.positive) for c in mine]), mask_input=prior, multimask=False)
    sam_logits[key] = np.asarray(out.low_res_logits, np.float32)
    return np.asarray(out.mask, bool)


def robot(clip: Clip, models, max_clicks: int, refine: bool) -> RobotRun:
    """The interactive robot (see the module doc) from the click initialisation."""
    given, init_clicks = click_init(clip, models.segmenter)
    run = RobotRun(refine=refine, clicks=list(init_clicks))
    ids = clip.object_ids
    sam_logits: dict[tuple[int, int], np.ndarray] = {}
    from tam_core.segmenters.cache import EmbeddingCache

    embeddings = EmbeddingCache(4)
    pred = propagate(clip, models, given, refine)
    run.curve.append((len(run.clicks), jf(pred, clip.gt, all_frames=True).jf_mean))
    for _ in range(max_clicks):
        t, _score = worst_frame(pred, clip.gt, ids)
        click = next_click(t, pred[t], clip.gt[t], ids)
        if click is None:
            break
        run.clicks.append(click)
        mask = apply_click(clip, models.segmenter, run.clicks, click, pred[t] == click.object_id, sam_logits, embeddings)
        given.setdefault(t, {})[click.object_id] = mask
        pred = propagate(clip, models, given, refine)
        run.curve.append((len(run.clicks), jf(pred, clip.gt, all_frames=True).jf_mean))
    return run


def evaluate_clip(clip: Clip, models, modes: list[str], max_clicks: int, refine_options: list[bool]) -> dict:
    """Every requested mode on one clip -> JSON-ready dict."""
    out: dict = {"name": clip.name, "frames": len(clip.frames), "objects": clip.object_ids}
    if "mask" in modes:
        out["mask_jf"] = jf(propagate(clip, models, mask_init(clip), False), clip.gt, False, clip.name).jf_mean
    if "click" in modes:
        given, _ = click_init(clip, models.segmenter)
        out["click_jf"] = jf(propagate(clip, models, given, False), clip.gt, True, clip.name).jf_mean
    if "robot" in modes:
        out["robot"] = []
        for refine in refine_options:
            run = robot(clip, models, max_clicks, refine)
            out["robot"].append({"refine": refine, "curve": run.curve, "clicks": [asdict(c) for c in run.clicks]})
    return out


def mean_curve(curves: list[list[tuple[int, float]]], max_clicks: int) -> list[float | None]:
    """Mean J&F after 0..max_clicks robot clicks over sequences; a sequence the
    robot finished early keeps its last value."""
    out: list[float | None] = []
    for i in range(max_clicks + 1):
        values = [c[min(i, len(c) - 1)][1] for c in curves if c]
        out.append(float(np.mean(values)) if values else None)
    return out


def summarise(results: list[dict], max_clicks: int) -> dict:
    summary: dict = {}
    for key in ("mask_jf", "click_jf"):
        values = [r[key] for r in results if key in r]
        if values:
            summary[key] = float(np.mean(values))
    for refine in (False, True):
        curves = [run["curve"] for r in results for run in r.get("robot", []) if run["refine"] == refine]
        if curves:
            summary[f"robot_{'refine' if refine else 'plain'}"] = mean_curve(curves, max_clicks)
    return summary


# -- DAVIS folders ------------------------------------------------------------------------


def load_clip(root: Path, resolution: str, name: str, max_frames: int | None = None) -> Clip:
    from tam_core.evaluation.metrics import read_label_png

    images = sorted((root / "JPEGImages" / resolution / name).glob("*.jpg"))[:max_frames]
    masks = sorted((root / "Annotations" / resolution / name).glob("*.png"))[:max_frames]
    if not images or len(images) != len(masks):
        sys.exit(f"{name}: {len(images)} frames but {len(masks)} annotations under {root}")
    frames = np.stack([cv2.imread(str(p))[:, :, ::-1] for p in images])
    gt = np.stack([read_label_png(p) for p in masks]).astype(np.uint8)
    return Clip(name, np.ascontiguousarray(frames), gt)


def sequence_names(root: Path, resolution: str, split: str | None, names: list[str] | None) -> list[str]:
    if names:
        return names
    if split:
        return (root / "ImageSets" / "2017" / f"{split}.txt").read_text().split()
    return sorted(p.name for p in (root / "JPEGImages" / resolution).iterdir() if p.is_dir())


def main(argv: list[str] | None = None, models_loader: Callable[[argparse.Namespace], Any] | None = None) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from plugin.cli.model_args import add_model_args, model_options

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--davis", required=True, type=Path, help="DAVIS root (JPEGImages/, Annotations/)")
    p.add_argument("--resolution", default="480p")
    p.add_argument("--split", default=None, help="ImageSets/2017/SPLIT.txt lists the sequences (default: all)")
    p.add_argument("--sequences", nargs="+", default=None, help="only these sequences")
    p.add_argument("--modes", nargs="+", default=["mask", "click", "robot"], choices=["mask", "click", "robot"])
    p.add_argument("--max-clicks", type=int, default=5, help="robot clicks per sequence after the initial ones")
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each sequence (short runs)")
    p.add_argument("--json", type=Path, default=None, help="write per-sequence results and the summary here")
    add_model_args(p)
    a = p.parse_args(argv)
    if not (a.davis / "JPEGImages" / a.resolution).is_dir():
        p.error(f"{a.davis} has no JPEGImages/{a.resolution}")
    names = sequence_names(a.davis, a.resolution, a.split, a.sequences)
    if models_loader is None:
        from tam_core.models import get_models

        models = get_models(model_options(a))
    else:
        models = models_loader(a)
    refine_options = [False] if a.no_refine else [False, True]
    results = []
    for name in names:
        results.append(evaluate_clip(load_clip(a.davis, a.resolution, name, a.max_frames), models, a.modes,
                                     a.max_clicks, refine_options))
        r = results[-1]
        parts = [f"{k} {r[k]:.3f}" for k in ("mask_jf", "click_jf") if k in r]
        parts += [f"robot{'+refine' if run['refine'] else ''} " + " ".join(f"{v:.3f}" for _, v in run["curve"])
                  for run in r.get("robot", [])]
        print(f"{name:24s} " + "  ".join(parts), flush=True)
    summary = summarise(results, a.max_clicks)
    for k, v in summary.items():
        print(f"overall {k}: " + (f"{v:.3f}" if isinstance(v, float) else " ".join("-" if x is None else f"{x:.3f}" for x in v)))
    report = {"sequences": results, "summary": summary, "max_clicks": a.max_clicks}
    if a.json:
        a.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
