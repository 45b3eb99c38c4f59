"""The README's main command, with doubles (via TAM_LABEL_MODEL_PROVIDER) and
--no-launch, and its offline error with the real loader."""

import os

import fiftyone as fo

from plugin.cli import main


def test_demo_builds_and_tracks_the_generated_clip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAM_LABEL_CACHE", str(tmp_path))
    assert main(["demo", "--no-launch", "--dataset", "tam-demo-test"]) == 0
    ds = fo.load_dataset("tam-demo-test")
    assert (tmp_path / "demo" / "shapes.mp4").exists()
    idx = ds.values("frames.tam_tracks.detections.index")[0]
    assert len(idx) == 48 and all(sorted(i) == [1, 2] for i in idx)  # both shapes on every frame
    assert "tracked 2 object(s) over 48 frames" in capsys.readouterr().out


def test_demo_offline_without_weights_says_how_to_give_checkpoints(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TAM_LABEL_MODEL_PROVIDER")
    monkeypatch.setenv("TAM_LABEL_CACHE", str(tmp_path / "empty"))
    assert main(["demo", "--no-launch", "--offline", "--dataset", "tam-demo-offline"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--sam-checkpoint" in err and "--xmem-checkpoint" in err
    assert "tam-demo-offline" not in fo.list_datasets()
