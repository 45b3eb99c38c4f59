"""DAVIS video object segmentation metrics: J (region IoU), F (boundary
F-measure) and J&F, computed the way the DAVIS benchmark defines them.

- J: |pred & gt| / |pred | gt|; two empty masks score 1. Void pixels (value
  255 in DAVIS ground truth) are ignored.
- F: boundaries are 1-pixel maps (``seg2bmap``: a foreground pixel whose right,
  lower or lower-right neighbour differs); a predicted boundary pixel counts as
  matched when a ground-truth boundary pixel lies within ``bound_th`` (0.008 of
  the image diagonal, rounded up, in pixels) — implemented as dilation with a
  disk — and vice versa for recall. Empty conventions: both boundaries empty ->
  P = R = 1; only the prediction empty -> P = 1, R = 0; only ground truth empty
  -> P = 0, R = 1. F = 2PR / (P + R), 0 when P + R = 0.
- Per object: the mean over frames ("Mean"), the fraction of frames above 0.5
  ("Recall") and the mean of the first quarter minus the last quarter of the
  frames ("Decay").
- DAVIS 2017 semi-supervised convention: the first frame (given as the
  annotation) and the last frame are excluded from every statistic
  (``EvalOptions(exclude_first=True, exclude_last=True)``). Objects are the ids
  found in the ground truth; a dataset's J&F is the mean of the J and F means
  over all objects of all sequences.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from tam_core.errors import TamError

VOID = 255


class EvalInputError(TamError):
    """Prediction or ground-truth folders cannot be evaluated (missing frames, ...)."""


@dataclass(frozen=True)
class EvalOptions:
    """bound_th: boundary tolerance, a fraction of the image diagonal (< 1) or
    pixels (>= 1). exclude_first / exclude_last: DAVIS 2017 semi-supervised drops
    the annotated first frame and the last frame. void_label: ground-truth value
    ignored by both metrics (None: none)."""

    bound_th: float = 0.008
    exclude_first: bool = True
    exclude_last: bool = True
    void_label: int | None = VOID


# -- per-frame metrics -------------------------------------------------------------------
def region_similarity(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """J of two bool [H,W] masks (IoU; 1.0 when both are empty)."""
    pred, gt = _as_masks(pred, gt)
    if void is not None:
        keep = ~np.asarray(void, dtype=bool)
        pred, gt = pred & keep, gt & keep
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return np.count_nonzero(pred & gt) / union


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """bool [H,W] one-pixel-wide boundary of a bool [H,W] mask (DAVIS definition).

    A pixel is on the boundary when it differs from its right, lower or
    lower-right neighbour (pixels outside the image count as background on the
    right/bottom edges, except the bottom-right corner which is never a boundary).
    """
    m = np.asarray(mask, dtype=bool)
    right = np.zeros_like(m)
    right[:, :-1] = m[:, 1:]
    down = np.zeros_like(m)
    down[:-1, :] = m[1:, :]
    diag = np.zeros_like(m)
    diag[:-1, :-1] = m[1:, 1:]
    edge = (m ^ right) | (m ^ down) | (m ^ diag)
    # Last row / column only compare along the image border.
    edge[-1, :] = m[-1, :] ^ right[-1, :]
    edge[:, -1] = m[:, -1] ^ down[:, -1]
    edge[-1, -1] = False
    return edge


def disk(radius: int) -> np.ndarray:
    """uint8 [2r+1, 2r+1] disk footprint: x^2 + y^2 <= r^2."""
    r = int(radius)
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def boundary_pixels(bound_th: float, size: Sequence[int]) -> int:
    """Tolerance in pixels: ``bound_th`` itself when >= 1, else ceil(bound_th * diagonal)."""
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(size[0], size[1])))


def boundary_measure(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, bound_th: float = 0.008
) -> tuple[float, float, float]:
    """(F, precision, recall) of the boundaries of two bool [H,W] masks."""
    import cv2

    pred, gt = _as_masks(pred, gt)
    if void is not None:
        keep = ~np.asarray(void, dtype=bool)
        pred, gt = pred & keep, gt & keep
    radius = boundary_pixels(bound_th, pred.shape)
    pred_b, gt_b = seg2bmap(pred), seg2bmap(gt)
    n_pred, n_gt = int(np.count_nonzero(pred_b)), int(np.count_nonzero(gt_b))
    if n_pred == 0 and n_gt == 0:
        return 1.0, 1.0, 1.0
    if n_pred == 0:
        return 0.0, 1.0, 0.0
    if n_gt == 0:
        return 0.0, 0.0, 1.0
    footprint = disk(radius)
    pred_near = cv2.dilate(pred_b.astype(np.uint8), footprint).astype(bool)
    gt_near = cv2.dilate(gt_b.astype(np.uint8), footprint).astype(bool)
    precision = np.count_nonzero(pred_b & gt_near) / n_pred
    recall = np.count_nonzero(gt_b & pred_near) / n_gt
    if precision + recall == 0:
        return 0.0, precision, recall
    return 2 * precision * recall / (precision + recall), precision, recall


def _as_masks(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise EvalInputError(f"prediction {pred.shape} and ground truth {gt.shape} must be same-size [H,W] masks")
    return pred, gt


# -- statistics --------------------------------------------------------------------------
def mean_recall_decay(values: Sequence[float], n_bins: int = 4) -> tuple[float, float, float]:
    """DAVIS statistics of one object's per-frame scores: (mean, recall, decay).

    recall: fraction of frames scoring > 0.5; decay: mean of the first of
    ``n_bins`` equal time bins minus the mean of the last one (NaN when empty).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    recall = float((x > 0.5).mean())
    # Bin edges over frame positions, as in the benchmark (bins overlap by one frame).
    edges = np.round(np.linspace(1, x.size, n_bins + 1) + 1e-10).astype(int) - 1
    bins = [x[edges[i] : edges[i + 1] + 1] for i in range(n_bins)]
    decay = float(bins[0].mean() - bins[-1].mean())
    return mean, recall, decay


@dataclass
class ObjectScores:
    """One object of one sequence. frames: the evaluated frame names, with the
    per-frame ``j`` and ``f`` in the same order."""

    object_id: int
    frames: list[str]
    j: list[float]
    f: list[float]
    j_mean: float = math.nan
    j_recall: float = math.nan
    j_decay: float = math.nan
    f_mean: float = math.nan
    f_recall: float = math.nan
    f_decay: float = math.nan

    def __post_init__(self) -> None:
        self.j_mean, self.j_recall, self.j_decay = mean_recall_decay(self.j)
        self.f_mean, self.f_recall, self.f_decay = mean_recall_decay(self.f)

    @property
    def jf_mean(self) -> float:
        return (self.j_mean + self.f_mean) / 2


@dataclass
class SequenceScores:
    name: str
    objects: list[ObjectScores]
    ignored_pred_ids: list[int] = field(default_factory=list)


@dataclass
class EvalReport:
    """Per-sequence, per-object scores and the dataset means (over all objects)."""

    sequences: list[SequenceScores]
    options: EvalOptions

    def _all(self, attr: str) -> float:
        values = [getattr(o, attr) for s in self.sequences for o in s.objects]
        values = [v for v in values if not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan

    @property
    def j_mean(self) -> float:
        return self._all("j_mean")

    @property
    def f_mean(self) -> float:
        return self._all("f_mean")

    @property
    def jf_mean(self) -> float:
        return (self.j_mean + self.f_mean) / 2

    def to_dict(self) -> dict:
        """JSON-ready summary (NaN becomes None)."""

        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v

        seqs = []
        for s in self.sequences:
            objs = []
            for o in s.objects:
                d = {k: clean(v) for k, v in asdict(o).items() if k not in ("j", "f", "frames")}
                d["jf_mean"] = clean(o.jf_mean)
                d["per_frame"] = [{"frame": n, "j": clean(j), "f": clean(f)} for n, j, f in zip(o.frames, o.j, o.f)]
                objs.append(d)
            seqs.append({"name": s.name, "objects": objs, "ignored_pred_ids": s.ignored_pred_ids})
        return {
            "j_mean": clean(self.j_mean),
            "f_mean": clean(self.f_mean),
            "jf_mean": clean(self.jf_mean),
            "options": asdict(self.options),
            "sequences": seqs,
        }


# -- sequences -------------------------------------------------------------------------
def evaluate_sequence(
    frames: Iterable[tuple[str, np.ndarray, np.ndarray]],
    num_frames: int,
    options: EvalOptions = EvalOptions(),
    name: str = "",
) -> SequenceScores:
    """Score one sequence from ``num_frames`` (frame name, pred int [H,W], gt int [H,W])
    triples in time order; pixel value = object id, 0 background, ``void_label``
    in gt ignored. Reads the iterable once, one frame pair in memory at a time.

    Objects are the ground-truth ids over all frames (excluded ones too). An id
    can appear late: on earlier frames both its masks were empty, which scores
    J = F = 1 by the conventions, so those entries are filled in at the end.
    """
    lo = 1 if options.exclude_first else 0
    hi = num_frames - 1 if options.exclude_last else num_frames
    kept: list[str] = []
    per_obj: dict[int, dict[int, tuple[float, float]]] = {}  # id -> position -> (J, F)
    gt_ids: set[int] = set()
    pred_ids: set[int] = set()
    count = 0
    for t, (frame_name, pred, gt) in enumerate(frames):
        count += 1
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.shape != gt.shape or gt.ndim != 2:
            raise EvalInputError(
                f"{name + '/' if name else ''}{frame_name}: prediction is {pred.shape} but ground truth is {gt.shape} (H, W)"
            )
        void = None
        frame_gt = set(np.unique(gt).tolist()) - {0}
        if options.void_label is not None:
            void = gt == options.void_label
            frame_gt.discard(options.void_label)
            if not void.any():
                void = None
        frame_pred = set(np.unique(pred).tolist()) - {0}
        gt_ids |= frame_gt
        pred_ids |= frame_pred
        if not lo <= t < hi:
            continue
        position = len(kept)
        kept.append(frame_name)
        for oid in frame_gt | frame_pred | set(per_obj):
            p, g = pred == oid, gt == oid
            j = region_similarity(p, g, void)
            f = boundary_measure(p, g, void, options.bound_th)[0]
            per_obj.setdefault(oid, {})[position] = (j, f)
    if count != num_frames:
        raise EvalInputError(f"{name or 'sequence'}: expected {num_frames} frames, got {count}")
    objects = []
    for oid in sorted(gt_ids):
        scores = per_obj.get(oid, {})
        pairs = [scores.get(k, (1.0, 1.0)) for k in range(len(kept))]
        objects.append(ObjectScores(oid, list(kept), [p[0] for p in pairs], [p[1] for p in pairs]))
    return SequenceScores(name=name, objects=objects, ignored_pred_ids=sorted(pred_ids - gt_ids))


# -- folders -----------------------------------------------------------------------------
def read_label_png(path: Path) -> np.ndarray:
    """int32 [H,W] object ids from an indexed (palette) or grayscale PNG (``tam_core.video.davis``)."""
    from tam_core.video.davis import LabelImageError, read_labels

    try:
        return read_labels(path, "label image").astype(np.int32)
    except LabelImageError as exc:
        raise EvalInputError(str(exc)) from None


def _pngs(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.png"))}


def _sequence_pairs(pred_dir: Path, gt_dir: Path, name: str) -> tuple[list[str], Iterator[tuple[str, np.ndarray, np.ndarray]]]:
    gt = _pngs(gt_dir)
    pred = _pngs(pred_dir) if pred_dir.is_dir() else {}
    if not gt:
        raise EvalInputError(f"no ground-truth .png files in {gt_dir}")
    missing = [k for k in gt if k not in pred]
    if missing:
        shown = ", ".join(m + ".png" for m in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise EvalInputError(
            f"{len(missing)} of {len(gt)} ground-truth frames have no prediction in {pred_dir} ({shown}); "
            "predictions are matched to ground truth by file name"
        )
    names = sorted(gt)

    def pairs():
        for n in names:
            yield n, read_label_png(pred[n]), read_label_png(gt[n])

    return names, pairs()


def evaluate_folders(pred_dir: str | Path, gt_dir: str | Path, options: EvalOptions = EvalOptions()) -> EvalReport:
    """Evaluate DAVIS-style label PNGs.

    ``gt_dir`` holds one sequence (PNG files, frames matched to ``pred_dir`` by
    file name, time order = sorted names) or a DAVIS ``Annotations/480p`` style
    folder of sequence folders (each matched to the same-named folder in
    ``pred_dir``). Prediction files without ground truth are ignored.
    """
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for what, folder in (("prediction", pred_dir), ("ground-truth", gt_dir)):
        if not folder.is_dir():
            raise EvalInputError(f"{what} folder does not exist: {folder}")
    if any(gt_dir.glob("*.png")):
        jobs = [("", pred_dir, gt_dir)]
    else:
        subs = sorted(p for p in gt_dir.iterdir() if p.is_dir() and any(p.glob("*.png")))
        if not subs:
            raise EvalInputError(f"no ground-truth .png files in {gt_dir} or its sub-folders")
        absent = [s.name for s in subs if not (pred_dir / s.name).is_dir()]
        if absent:
            raise EvalInputError(f"no prediction folder for sequence(s) {', '.join(absent[:5])} in {pred_dir}")
        jobs = [(s.name, pred_dir / s.name, s) for s in subs]
    sequences = []
    for name, p, g in jobs:
        names, pairs = _sequence_pairs(p, g, name)
        sequences.append(evaluate_sequence(pairs, len(names), options, name=name))
    return EvalReport(sequences=sequences, options=options)


def evaluate_arrays(pred: np.ndarray, gt: np.ndarray, options: EvalOptions = EvalOptions(), name: str = "") -> EvalReport:
    """Evaluate int [T,H,W] label arrays (pixel value = object id) of one sequence."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape or pred.ndim != 3:
        raise EvalInputError(f"prediction {pred.shape} and ground truth {gt.shape} must be same-shape [T,H,W] arrays")
    frames = ((f"{t:05d}", pred[t], gt[t]) for t in range(gt.shape[0]))
    return EvalReport([evaluate_sequence(frames, gt.shape[0], options, name=name)], options)
