"""The README's main command, with doubles (via TAM_LABEL_MODEL_PROVIDER) and
--no-launch, and its offline error with the real loader."""

import fiftyone as fo
import pytest

from plugin.cli import main


@pytest.mark.slow  # ~4 s: generates, encodes and tracks the demo clip
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


def test_demo_dataset_persists_and_the_command_says_how_to_reopen_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAM_LABEL_CACHE", str(tmp_path))
    assert main(["demo", "--no-launch", "--dataset", "tam-demo-persist"]) == 0
    assert "fiftyone app launch tam-demo-persist" in capsys.readouterr().out
    assert fo.load_dataset("tam-demo-persist").persistent is True


class _FakeAppSession:
    """fo.launch_app's session: ``wait`` raises KeyboardInterrupt as Ctrl-C would."""

    def __init__(self):
        self.closed = False
        self.url = "http://localhost:0/"
        self.view = None

    def wait(self, wait=3):
        raise KeyboardInterrupt

    def close(self):
        self.closed = True


def test_demo_ctrl_c_closes_the_app_and_returns(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TAM_LABEL_CACHE", str(tmp_path))
    app = _FakeAppSession()
    monkeypatch.setattr(fo, "launch_app", lambda *a, **k: app)
    assert main(["demo", "--dataset", "tam-demo-ctrl-c"]) == 0
    assert app.closed and "stopped the App; reopen it any time" in capsys.readouterr().out


def test_demo_ctrl_c_while_tracking_keeps_the_dataset(tmp_path, monkeypatch, capsys):
    from plugin.fiftyone import api

    monkeypatch.setenv("TAM_LABEL_CACHE", str(tmp_path))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "track", interrupted)
    assert main(["demo", "--no-launch", "--dataset", "tam-demo-track-ctrl-c"]) == 130
    assert "interrupted; dataset 'tam-demo-track-ctrl-c' keeps" in capsys.readouterr().err
    assert "tam-demo-track-ctrl-c" in fo.list_datasets()


def test_demo_help_is_plain_text(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "fiftyone app launch tam-label-demo" in text and "--sam-type {vit_b,vit_l,vit_h,tiny}" in text
