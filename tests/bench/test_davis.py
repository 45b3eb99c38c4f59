"""The accuracy harness (benchmarks/davis.py) in its short CI mode: synthetic
clips with known ground truth and the color test doubles. These tests check the
protocol (which frame and pixel the robot clicks, its polarity, what is given
to the tracker, the metric bookkeeping), not a model's score."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tam_core.evaluation.metrics import EvalOptions, evaluate_arrays
from tam_core.refinement import FrameRefinement
from tam_core.types import ObjectProbs
from tests.doubles import ColorSegmenter, ColorTracker, ColorTrackerFactory
from tests.synthetic import ObjectSpec, make_video

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


davis = _load("davis")

# One 11x17 rectangle (rows cy-5..cy+5, cols cx-8..cx+8) moving right by one pixel a frame.
RECT = ObjectSpec(1, "rect", (5, 8), (20.0, 20.0), (0.0, 1.0))


def rect_box(t: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) inclusive of RECT on frame t (by its definition, not by rendering)."""
    cy, cx = 20, 20 + t
    return cy - 5, cy + 5, cx - 8, cx + 8


def farthest_from_outside(y0, y1, x0, x1) -> tuple[int, int]:
    """Brute force over a rectangle (inclusive bounds): the pixels at the largest
    distance to the nearest pixel outside it, and of those the one nearest to
    their centroid (the first in row-major order on ties)."""
    dist = {(y, x): min(y - y0 + 1, y1 - y + 1, x - x0 + 1, x1 - x + 1)
            for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)}
    top = [p for p, d in dist.items() if d == max(dist.values())]
    cy, cx = np.mean([p[0] for p in top]), np.mean([p[1] for p in top])
    return min(top, key=lambda p: ((p[0] - cy) ** 2 + (p[1] - cx) ** 2, p))


@dataclass
class Doubles:
    segmenter: object
    tracker_factory: object
    refiner: object = None
    device: str = "cpu"


def rect_clip(num_frames=10, degrade_on=frozenset({6})):
    video = make_video(num_frames, (48, 80), [RECT])
    models = Doubles(ColorSegmenter(), ColorTrackerFactory(video.index_of, degrade_on))
    return davis.Clip("rect", video.frames, video.gt), models


def given_steps(factory: ColorTrackerFactory) -> list[list[tuple[int, tuple[int, ...]]]]:
    """Per tracker (= per propagation pass): the (frame, ids given) of steps that received masks."""
    return [[(c.frame, c.ids) for c in factory.calls if c.tracker == k and c.kind == "step" and c.ids]
            for k in range(len(factory.trackers))]


# -- pieces ------------------------------------------------------------------------------


def test_interior_point_is_the_centre_of_a_rectangle():
    region = np.zeros((20, 30), bool)
    region[2:9, 3:14] = True  # 7 x 11: row 5, columns 6..10 are all 4 px from outside
    assert davis.interior_point(region) == (5, 8)


def test_interior_point_counts_the_image_border_as_boundary():
    region = np.zeros((9, 9), bool)
    region[:, :5] = True  # touches the left border: the centre column is 2, not 4
    assert davis.interior_point(region) == (4, 2)  # rows 2..6 of column 2 are 3 px from outside


def test_next_click_positive_on_missed_and_negative_on_extra_pixels():
    gt = np.zeros((30, 40), np.uint8)
    gt[5:16, 5:20] = 1
    pred = gt.astype(np.int64).copy()
    pred[5:16, 13:20] = 0  # 11x7 of object 1 missed
    pred[20:29, 25:34] = 1  # 9x9 wrongly object 1: the largest error
    click = davis.next_click(4, pred, gt, [1])
    assert click == davis.Click(frame=4, object_id=1, x=29, y=24, positive=False)
    pred[20:29, 25:34] = 0
    assert davis.next_click(4, pred, gt, [1]) == davis.Click(4, 1, 16, 10, True)  # rows 8..12 of column 16 tie
    assert davis.next_click(4, gt.astype(np.int64), gt, [1]) is None


def test_next_click_ignores_void_pixels():
    gt = np.zeros((20, 20), np.uint8)
    gt[2:8, 2:8] = 1
    gt[10:19, 10:19] = davis.VOID
    pred = gt.astype(np.int64)
    pred[10:19, 10:19] = 1  # only over void
    assert davis.next_click(0, pred, gt, [1]) is None


def test_worst_frame_is_the_lowest_mean_j_earliest_on_ties():
    gt = np.zeros((4, 10, 10), np.uint8)
    gt[:, 2:6, 2:6] = 1
    gt[:, 6:9, 6:9] = 2
    pred = gt.astype(np.int64).copy()
    pred[1, 2:6, 2:4] = 0  # object 1 J = 0.5 -> mean 0.75
    pred[2, 6:9, 6:9] = 0  # object 2 J = 0 -> mean 0.5
    pred[3, 6:9, 6:9] = 0  # same as frame 2: the tie goes to frame 2
    assert davis.worst_frame(pred, gt, [1, 2]) == (2, 0.5)


# -- protocol on a synthetic clip ----------------------------------------------------------


def test_mask_init_gives_each_object_on_its_first_frame():
    video = make_video(8)  # objects 1, 2 from frame 0; 3 enters on frame 5
    clip = davis.Clip("v", video.frames, video.gt)
    given = davis.mask_init(clip)
    assert {t: sorted(m) for t, m in given.items()} == {0: [1, 2], 5: [3]}
    assert np.array_equal(given[5][3], video.gt[5] == 3)


def test_click_init_clicks_each_object_centre_once():
    clip, models = rect_clip()
    given, clicks = davis.click_init(clip, models.segmenter)
    y0, y1, x0, x1 = rect_box(0)
    y, x = farthest_from_outside(y0, y1, x0, x1)
    assert clicks == [davis.Click(0, 1, x, y, True)]
    assert models.segmenter.calls[0]["points"].tolist() == [[x, y]]
    assert np.array_equal(given[0][1], clip.gt[0] == 1)


def test_robot_clicks_the_missed_half_on_the_first_damaged_frame_then_stops():
    clip, models = rect_clip(degrade_on={6})  # from frame 6 on the tracker loses the rectangle's right half
    run = davis.robot(clip, models, max_clicks=3, refine=False)

    y0, y1, x0, x1 = rect_box(6)
    mid = (x0 + x1) // 2
    y, x = farthest_from_outside(y0, y1, mid + 1, x1)  # centre of the missed part of frame 6
    assert run.clicks == [davis.Click(0, 1, *reversed(farthest_from_outside(*rect_box(0))), True),
                          davis.Click(6, 1, x, y, True)]
    # The second pass got SAM's mask as a correction on frame 6; after it nothing is
    # wrong, so the robot stops after one click (3 were allowed).
    assert given_steps(models.tracker_factory) == [[(0, (1,))], [(0, (1,)), (6, (1,))]]
    assert [n for n, _ in run.curve] == [1, 2]
    # J&F bookkeeping: all frames count (no annotated frame in click mode).
    damaged = clip.gt.astype(np.int64).copy()
    for t in range(6, 10):
        b = rect_box(t)
        damaged[t, b[0]:b[1] + 1, (b[2] + b[3]) // 2 + 1:b[3] + 1] = 0
    expected = evaluate_arrays(damaged, clip.gt, EvalOptions(exclude_first=False, exclude_last=False)).jf_mean
    assert run.curve[0][1] == pytest.approx(expected)
    assert run.curve[1][1] == 1.0


class ExtraBlobTracker(ColorTracker):
    """A ColorTracker that wrongly gives a 5x5 background patch to object 1 on
    frame 3 unless object 1's mask is given there."""

    def step(self, image, masks=None, end=False):
        probs = super().step(image, masks, end)
        if self.frame_index_of(image) == 3 and 1 not in (masks or {}):
            stacked = probs.stacked.copy()
            stacked[:, 30:35, 60:65] = 0.0
            stacked[1, 30:35, 60:65] = 1.0
            probs = ObjectProbs(probs.object_ids, stacked)
        return probs


def test_robot_negative_click_removes_a_false_positive():
    clip, models = rect_clip(degrade_on=frozenset())
    factory = models.tracker_factory
    trackers = []

    def make(config=None):
        trackers.append(ExtraBlobTracker(clip_index, calls=factory.calls, tracker_no=len(trackers)))
        return trackers[-1]

    clip_index = factory.frame_index_of
    models.tracker_factory = make
    run = davis.robot(clip, models, max_clicks=2, refine=False)
    assert run.clicks[1] == davis.Click(3, 1, 62, 32, False)
    sam = models.segmenter.calls[-1]
    assert sam["point_labels"].tolist() == [0] and sam["mask_input"]  # the current mask is the prior
    assert [n for n, _ in run.curve] == [1, 2] and run.curve[-1][1] == 1.0


class FixingRefiner:
    """Records the frames it is asked about; 'repairs' frame 6 with the ground truth."""

    def __init__(self, gt):
        self.gt, self.frames = gt, []

    def refine_frame(self, t, image, probs, histories, options=None, scored=None, embeddings=None):
        self.frames.append(t)
        masks = probs.hard_masks()
        refined = frozenset()
        if t == 6:
            masks, refined = {1: self.gt[t] == 1}, frozenset({1})
        return FrameRefinement(masks=masks, quality={1: 1.0}, refined=refined)


def test_refinement_runs_on_frames_without_given_masks_and_is_written_back():
    clip, models = rect_clip(degrade_on={6})
    models.refiner = FixingRefiner(clip.gt)
    labels = davis.propagate(clip, models, davis.mask_init(clip), refine=True)
    assert models.refiner.frames == list(range(1, 10))  # frame 0 holds the given mask
    amends = [(c.frame, c.ids) for c in models.tracker_factory.calls if c.kind == "amend"]
    assert amends == [(6, (1,))]
    assert np.array_equal(labels[6], clip.gt[6])  # the refined mask is the output
    assert np.array_equal(labels[7] == 1, clip.gt[7] == 1)  # and the tracker followed it
    plain = davis.propagate(clip, Doubles(models.segmenter, ColorTrackerFactory(clip_index_of(clip), {6})),
                            davis.mask_init(clip), refine=False)
    assert not np.array_equal(plain[6], clip.gt[6])


def clip_index_of(clip):
    lookup = {f.tobytes(): t for t, f in enumerate(clip.frames)}
    return lambda image: lookup.get(np.ascontiguousarray(image).tobytes())


def test_mean_curve_keeps_the_last_value_of_finished_sequences():
    assert davis.mean_curve([[(1, 0.5), (2, 1.0)], [(1, 0.2), (2, 0.4), (3, 0.6)]], 2) == [0.35, 0.7, 0.8]


# -- the command on a DAVIS-format folder ----------------------------------------------------


def write_davis(root: Path, name: str, frames: np.ndarray, gt: np.ndarray) -> None:
    img_dir, ann_dir = root / "JPEGImages" / "480p" / name, root / "Annotations" / "480p" / name
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    for t, (f, g) in enumerate(zip(frames, gt)):
        cv2.imwrite(str(img_dir / f"{t:05d}.jpg"), f[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
        png = Image.fromarray(g, mode="P")
        png.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * 756)
        png.save(ann_dir / f"{t:05d}.png")


def test_command_short_mode_reports_every_sequence_and_mode(tmp_path):
    video = make_video(6, (48, 64))
    write_davis(tmp_path, "alpha", video.frames, video.gt)
    write_davis(tmp_path, "beta", video.frames[::-1].copy(), video.gt[::-1].copy())
    out = tmp_path / "report.json"

    def loader(args):
        assert args.sam_type is None and args.segmenter is None and args.no_refine  # shared flags parsed (auto)
        return Doubles(ColorSegmenter(), ColorTrackerFactory())

    report = davis.main(["--davis", str(tmp_path), "--max-clicks", "2", "--max-frames", "5", "--no-refine",
                         "--json", str(out)], models_loader=loader)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert [s["name"] for s in report["sequences"]] == ["alpha", "beta"]
    for s in report["sequences"]:
        assert s["frames"] == 5
        assert [r["refine"] for r in s["robot"]] == [False]  # --no-refine: the plain robot only
        curve = s["robot"][0]["curve"]
        clicks = s["robot"][0]["clicks"]
        assert [n for n, _ in curve] == list(range(len(s["objects"]), len(clicks) + 1))
        assert 1 <= len(curve) <= 3
    summary = report["summary"]
    assert summary["mask_jf"] == pytest.approx(np.mean([s["mask_jf"] for s in report["sequences"]]))
    assert len(summary["robot_plain"]) == 3 and "robot_refine" not in summary


@pytest.mark.slow
def test_command_runs_the_real_engine(tmp_path, monkeypatch):
    """Our XMem (random init) and a tiny random SAM through the ordinary model
    flags and loader: the real ObjectProbs, refiner and SAM mask prompts fit the
    protocol (scores of random weights mean nothing)."""
    import torch

    from tam_core.models import PROVIDER_ENV, clear_models
    from tam_core.segmenters.sam import SamConfig, build_sam
    from tam_core.trackers.xmem import XMemNetwork

    monkeypatch.delenv(PROVIDER_ENV, raising=False)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(build_sam(SamConfig.tiny()).state_dict(), tmp_path / "sam.pth")
        torch.save(XMemNetwork().state_dict(), tmp_path / "xmem.pth")
    video = make_video(5, (48, 64))
    write_davis(tmp_path / "davis", "syn", video.frames, video.gt)
    clear_models()
    try:
        report = davis.main(["--davis", str(tmp_path / "davis"), "--max-clicks", "1", "--sam-type", "tiny",
                             "--sam-checkpoint", str(tmp_path / "sam.pth"), "--xmem-checkpoint",
                             str(tmp_path / "xmem.pth"), "--device", "cpu", "--offline"])
    finally:
        clear_models()
    (seq,) = report["sequences"]
    assert seq["objects"] == [1, 2] and [r["refine"] for r in seq["robot"]] == [False, True]
    for run in seq["robot"]:
        assert [n for n, _ in run["curve"]] == [2, 3]  # one robot click: SAM was prompted with a mask prior
        assert all(0.0 <= v <= 1.0 for _, v in run["curve"])
