"""``tam-label weights`` and ``tam-label eval`` through the real dispatcher."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plugin.cli import main
from io_media import PAYLOAD, fake, sequence, write_pngs


@pytest.fixture
def fake_registry(server):
    """A segmenter family "fake" whose one official checkpoint the test server
    serves: `tam-label weights` lists whatever the segmenter registry holds."""
    from tam_core.segmenters.family import SegmenterFamily
    from tam_core.segmenters.registry import registered

    ckpt = fake(server, family="fake", model_type="t")
    family = SegmenterFamily(name="fake", types=("t",), checkpoints=(ckpt,), input_size=64, low_res_size=16,
                             load=lambda *a, **k: None, mask_to_logits=lambda mask: None)
    with registered(family):
        yield ckpt


def test_weights_list_path_download_verify(fake_registry, tmp_path, capsys):
    cache = str(tmp_path)
    assert main(["weights", "list", "--cache-dir", cache]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]  # every row names its license
    assert ["sam_vit_b", "sam", "375", "MB", "Apache-2.0", "not", "cached"] in rows
    assert ["fake_sam", "fake", "1", "MB", "-", "not", "cached"] in rows
    assert ["xmem", "xmem", "~249", "MB", "MIT", "not", "cached"] in rows
    assert ["efficientvit_sam_l0", "efficientvit_sam", "?", "Apache-2.0", "not", "cached"] in rows  # size unpublished
    assert ["sam2.1_hiera_tiny", "sam2", "Hub", "repo", "Apache-2.0", "not", "cached"] in rows  # a Hub repo

    assert main(["weights", "path", "fake_sam", "--cache-dir", cache]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "fake_sam_0123.pth")

    assert main(["weights", "download", "fake_sam", "--cache-dir", cache, "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"fake_sam: downloaded {tmp_path / 'fake_sam_0123.pth'}"
    assert (tmp_path / "fake_sam_0123.pth").read_bytes() == PAYLOAD
    assert main(["weights", "download", "fake_sam", "--cache-dir", cache, "--no-progress"]) == 0
    assert "already cached" in capsys.readouterr().out

    assert main(["weights", "list", "--cache-dir", cache]) == 0
    assert ["fake_sam", "fake", "1", "MB", "-", str(tmp_path / "fake_sam_0123.pth")] in [
        line.split() for line in capsys.readouterr().out.splitlines()]

    assert main(["weights", "verify", "--cache-dir", cache]) == 0  # every cached one
    assert capsys.readouterr().out.startswith("fake_sam: OK (size and SHA-256)")

    (tmp_path / "fake_sam_0123.pth").write_bytes(PAYLOAD[:100])
    assert main(["weights", "verify", "fake_sam", "--cache-dir", cache]) == 1
    assert "fake_sam: FAILED:" in capsys.readouterr().out


def test_weights_user_errors_are_one_line(tmp_path, capsys):
    assert main(["weights", "download", "sam_vit_x", "--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tam-label: error: unknown checkpoint 'sam_vit_x'")
    assert list(tmp_path.iterdir()) == []


def test_eval_prints_scores_and_writes_json(tmp_path, capsys):
    pred, gt = sequence()
    pred[2][pred[2] == 2] = 0  # object 2 missed on frame 2: J = [1, 0, 1]
    write_pngs(tmp_path / "gt", gt)
    write_pngs(tmp_path / "pred", pred)
    out_json = tmp_path / "out" / "scores.json"
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--json", str(out_json)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["-", "1", "1.000", "1.000", "1.000"]
    assert lines[2].split() == ["-", "2", "0.667", "0.667", "0.667"]
    assert lines[3].split() == ["mean", "2", "0.833", "0.833", "0.833"]
    data = json.loads(out_json.read_text())
    assert data["jf_mean"] == pytest.approx(5 / 6)
    assert [f["j"] for f in data["sequences"][0]["objects"][1]["per_frame"]] == [1.0, 0.0, 1.0]
    assert data["options"]["exclude_first"] is True

    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--all-frames"]) == 0
    last = capsys.readouterr().out.splitlines()[-1].split()
    # Frames 0 and 4 are empty predictions: object 1 J = 3/5, object 2 J = 2/5.
    assert last[:3] == ["mean", "2", f"{np.mean([3 / 5, 2 / 5]):.3f}"]


def test_eval_missing_predictions_is_a_one_line_error(tmp_path, capsys):
    pred, gt = sequence()
    write_pngs(tmp_path / "gt", gt)
    write_pngs(tmp_path / "pred", pred[:4])
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 of 5 ground-truth frames have no prediction" in err
