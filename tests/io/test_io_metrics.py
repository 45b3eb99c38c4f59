"""J / F / J&F against values worked out by hand (see the comments)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from io_media import sequence, square, write_pngs
from tam_core.evaluation.metrics import (
    EvalInputError,
    EvalOptions,
    boundary_measure,
    boundary_pixels,
    disk,
    evaluate_arrays,
    evaluate_folders,
    mean_recall_decay,
    region_similarity,
    seg2bmap,
)


def test_j_two_squares_half_overlap():
    # 20x20 squares shifted by 10 rows: overlap 10*20 = 200, union 600.
    assert region_similarity(square(10, 10), square(20, 10)) == pytest.approx(1 / 3, abs=1e-12)


def test_j_empty_conventions():
    empty, full = np.zeros((8, 8), bool), square(2, 2, 4, (8, 8))
    assert region_similarity(empty, empty) == 1.0
    assert region_similarity(empty, full) == 0.0
    assert region_similarity(full, empty) == 0.0


def test_j_ignores_void_pixels():
    gt = square(10, 10)
    pred = gt.copy()
    pred[50:60, 50:60] = True  # spurious blob, but inside the void area
    void = np.zeros_like(gt)
    void[45:65, 45:65] = True
    assert region_similarity(pred, gt) == pytest.approx(400 / 500)
    assert region_similarity(pred, gt, void) == 1.0


def test_seg2bmap_of_a_square():
    # Boundary = fg pixels on the right/bottom edge (20 + 19) + bg pixels just
    # above/left of the square (21 + 20): the DAVIS map marks both sides.
    b = seg2bmap(square(10, 10))
    assert b.sum() == 80
    assert b[29, 10:30].all() and b[10:30, 29].all()  # bottom row, right column (inside)
    assert b[9, 9:30].all() and b[10:30, 9].all()  # row above, column left (outside)
    assert not b[11:29, 11:29].any()


def test_bound_th_in_pixels():
    assert boundary_pixels(0.008, (100, 100)) == 2  # ceil(0.008 * 141.42) = ceil(1.13)
    assert boundary_pixels(0.008, (480, 854)) == 8  # DAVIS 480p: ceil(7.84)
    assert boundary_pixels(3, (480, 854)) == 3
    assert disk(2).tolist() == [
        [0, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 0, 0],
    ]


def test_f_identical_is_one_and_disjoint_far_is_zero():
    a = square(10, 10)
    assert boundary_measure(a, a) == (1.0, 1.0, 1.0)
    f, p, r = boundary_measure(a, square(60, 60))
    assert (f, p, r) == (0.0, 0.0, 0.0)


def test_f_shift_within_tolerance_is_perfect():
    # A 1-pixel shift keeps every boundary pixel within the 2-pixel tolerance.
    a, b = square(10, 10), square(10, 11)
    assert region_similarity(a, b) < 1
    assert boundary_measure(a, b)[0] == 1.0


def test_f_half_overlapping_squares_by_hand():
    # Squares rows 10..29 and 20..39 (cols 10..29), tolerance 2 px (disk).
    # Of A's 80 boundary pixels, those within 2 px of B's boundary:
    #   right column (col 29): rows 17..29 -> 13;  left column (col 9): rows 17..29 -> 13;
    #   bottom row 29: cols 10,11 (near B's col 9) and 27,28 (near col 29) -> 4;
    #   top row 9: none.  Precision = 30/80; by symmetry recall = 30/80; F = 0.375.
    f, p, r = boundary_measure(square(10, 10), square(20, 10))
    assert (p, r) == (30 / 80, 30 / 80)
    assert f == pytest.approx(0.375)


def test_f_empty_conventions():
    empty, full = np.zeros((50, 50), bool), square(10, 10, 10, (50, 50))
    assert boundary_measure(empty, empty) == (1.0, 1.0, 1.0)
    assert boundary_measure(empty, full) == (0.0, 1.0, 0.0)  # nothing predicted: P=1, R=0
    assert boundary_measure(full, empty) == (0.0, 0.0, 1.0)  # nothing to find: P=0, R=1


def test_mean_recall_decay():
    mean, recall, decay = mean_recall_decay([1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0])
    assert mean == pytest.approx(0.5)
    assert recall == pytest.approx(4 / 8)  # 1, 1, 0.8, 0.6 are > 0.5
    # 4 bins over 8 frames: positions [0..2], [2..4], [4..5], [5..7] (DAVIS bins share edges)
    assert decay == pytest.approx(np.mean([1.0, 1.0, 0.8]) - np.mean([0.2, 0.0, 0.0]))
    assert all(np.isnan(v) for v in mean_recall_decay([]))


# -- sequences ---------------------------------------------------------------------------
def test_davis_2017_excludes_first_and_last_frames():
    pred, gt = sequence()
    report = evaluate_arrays(pred, gt)
    (seq,) = report.sequences
    assert [o.object_id for o in seq.objects] == [1, 2]
    assert seq.objects[0].frames == ["00001", "00002", "00003"]
    assert (report.j_mean, report.f_mean, report.jf_mean) == (1.0, 1.0, 1.0)
    everything = evaluate_arrays(pred, gt, EvalOptions(exclude_first=False, exclude_last=False))
    assert everything.sequences[0].objects[0].j == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert everything.j_mean == pytest.approx(0.6) and everything.f_mean == pytest.approx(0.6)


def test_object_appearing_late_and_extra_predicted_ids():
    gt = np.zeros((6, 40, 40), np.uint8)
    gt[:, 5:15, 5:15] = 1
    gt[3:, 20:30, 20:30] = 2  # object 2 appears on frame 3
    pred = gt.copy()
    pred[4][20:30, 20:30] = 0  # missed on frame 4
    pred[2][30:35, 0:5] = 7  # an id the ground truth does not have
    seq = evaluate_arrays(pred, gt).sequences[0]
    obj2 = seq.objects[1]
    # Frames 1..4 evaluated; on 1 and 2 both masks of object 2 are empty (J=F=1).
    assert obj2.j == [1.0, 1.0, 1.0, 0.0] and obj2.f == [1.0, 1.0, 1.0, 0.0]
    assert seq.ignored_pred_ids == [7]


def test_void_label_in_ground_truth():
    gt = np.zeros((3, 40, 40), np.uint8)
    gt[:, 5:15, 5:15] = 1
    gt[:, 15:17, 5:15] = 255  # void band under the object
    pred = gt.copy()
    pred[pred == 255] = 1  # predicting into void costs nothing
    report = evaluate_arrays(pred, gt, EvalOptions(exclude_first=False, exclude_last=False))
    assert report.j_mean == 1.0 and report.f_mean == 1.0
    strict = evaluate_arrays(pred, gt, EvalOptions(exclude_first=False, exclude_last=False, void_label=None))
    assert [o.object_id for o in strict.sequences[0].objects] == [1, 255]
    assert strict.sequences[0].objects[0].j_mean == pytest.approx(100 / 120)


# -- folders -----------------------------------------------------------------------------
def test_folders_single_sequence(tmp_path):
    pred, gt = sequence()
    write_pngs(tmp_path / "gt", gt)
    write_pngs(tmp_path / "pred", pred, palette=False)
    (tmp_path / "pred" / "99999.png").write_bytes(b"")  # extra prediction: ignored
    report = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert report.jf_mean == 1.0
    assert report.sequences[0].objects[0].frames == ["00001", "00002", "00003"]
    data = report.to_dict()
    json.dumps(data)
    assert data["jf_mean"] == 1.0 and data["sequences"][0]["objects"][1]["object_id"] == 2


def test_folders_davis_layout_means_over_all_objects(tmp_path):
    pred, gt = sequence()
    write_pngs(tmp_path / "gt" / "a", gt)
    write_pngs(tmp_path / "pred" / "a", pred)
    one = gt[:, :, :].copy()
    one[one == 2] = 0
    bad = np.zeros_like(one)
    write_pngs(tmp_path / "gt" / "b", one)
    write_pngs(tmp_path / "pred" / "b", bad)
    report = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert [s.name for s in report.sequences] == ["a", "b"]
    # Objects: a/1, a/2 perfect (J=1), b/1 missed (J=0): mean over 3 objects.
    assert report.j_mean == pytest.approx(2 / 3)


def test_folder_errors(tmp_path):
    pred, gt = sequence()
    write_pngs(tmp_path / "gt", gt)
    write_pngs(tmp_path / "pred", pred[:3])
    with pytest.raises(EvalInputError, match=r"2 of 5 ground-truth frames have no prediction .*\(00003.png, 00004.png\)"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    with pytest.raises(EvalInputError, match="prediction folder does not exist"):
        evaluate_folders(tmp_path / "nope", tmp_path / "gt")
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    for t in range(5):
        Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(rgb / f"{t:05d}.png")
    with pytest.raises(EvalInputError, match="is a RGB image; label PNGs must be indexed"):
        evaluate_folders(rgb, tmp_path / "gt")
    small = tmp_path / "small"
    write_pngs(small, np.zeros((5, 50, 50), np.uint8))
    with pytest.raises(EvalInputError, match=r"00000: prediction is \(50, 50\) but ground truth is \(100, 100\)"):
        evaluate_folders(small, tmp_path / "gt")
