"""``tam-label export``: a finished track folder as YouTube-VIS JSON whose COCO
RLE masks decode to exactly the folder's PNGs (and the ground truth)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from operators.folder_job import track_to_folder
from plugin.cli import main
from tam_core.options import RunOptions
from tam_core.types import Prompt
from tests.doubles import ArrayFrames, ColorSegmenter
from tests.session.helpers import click

pytest.importorskip("pycocotools")


def _decode_coco_string(rle: dict) -> np.ndarray:
    """COCO's compressed RLE decoded without pycocotools (maskApi.c's rleFrString):
    counts of alternating 0/1 runs, column-major, starting with zeros."""
    s, counts, p = rle["counts"].encode("ascii"), [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = s[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    h, w = rle["size"]
    flat = np.repeat(np.arange(len(counts)) % 2, counts).astype(bool)
    assert flat.size == h * w
    return flat.reshape(w, h).T


@pytest.fixture
def run_dir(tmp_path, video, factory):
    out = tmp_path / "run"
    prompts = [Prompt(0, 1, label="ball", points=click(video, 0, 1)), Prompt(8, 3, mask=video.mask(8, 3))]
    models = SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=factory, refiner=None)
    track_to_folder(ArrayFrames(video.frames), prompts, out, models, RunOptions())
    return out


def test_export_rle_round_trips_exactly_to_the_tracked_masks(run_dir, tmp_path, video, capsys):
    from pycocotools import mask as coco_mask

    out = tmp_path / "x" / "ytvis.json"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"exported 2 object(s) over 30 frames -> {out}"
    data = json.loads(out.read_text())
    h, w = video.size
    assert data["videos"] == [{"id": 1, "width": w, "height": h, "length": 30, "source": "ArrayFrames",
                               "file_names": [f"ArrayFrames/{t:05d}.jpg" for t in range(30)]}]
    assert data["categories"] == [{"id": 1, "name": "ball", "supercategory": "object"},
                                  {"id": 2, "name": "object", "supercategory": "object"}]
    anns = {a["track_id"]: a for a in data["annotations"]}
    assert sorted(anns) == [1, 3] and [anns[1]["category_id"], anns[3]["category_id"]] == [1, 2]
    for oid, ann in anns.items():
        assert (ann["video_id"], ann["iscrowd"], ann["height"], ann["width"]) == (1, 0, h, w)
        assert len(ann["segmentations"]) == len(ann["bboxes"]) == len(ann["areas"]) == 30
        for t in range(30):
            gt = video.gt[t] == oid  # the tracker double reproduces the ground truth exactly
            rle = ann["segmentations"][t]
            if not gt.any():
                assert rle is None and ann["bboxes"][t] is None and ann["areas"][t] is None, (oid, t)
                continue
            assert rle["size"] == [h, w]
            assert np.array_equal(_decode_coco_string(rle), gt), (oid, t)
            assert np.array_equal(coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()}), gt)
            ys, xs = np.nonzero(gt)
            assert ann["bboxes"][t] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert ann["areas"][t] == int(gt.sum())
    assert anns[3]["segmentations"][4] is None and anns[3]["segmentations"][5] is not None  # enters on frame 5


def test_export_refuses_an_unfinished_or_edited_folder_in_one_line(run_dir, tmp_path, capsys):
    from tam_core.video.davis import read_labels, write_labels

    out = tmp_path / "ytvis.json"
    labels = read_labels(run_dir / "00003.png")
    labels[0, 0] = 7
    write_labels(run_dir / "00003.png", labels)
    assert main(["export", str(run_dir), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds object 7, which the run did not track" in err
    (run_dir / "summary.json").unlink()
    assert main(["export", str(run_dir), "--out", str(out)]) == 1
    assert "no summary.json: not a finished `tam-label track` folder" in capsys.readouterr().err
    assert not out.exists()
