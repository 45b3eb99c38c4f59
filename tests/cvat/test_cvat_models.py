"""`tam-label cvat` loads its models through the one cached loader
(``tam_core.models.get_models``, doubles via TAM_LABEL_MODEL_PROVIDER), with the
shared model flags; run flags (--no-refine, --direction, --batch-size) never
reload, and --no-refine reaches the tracking session."""

from __future__ import annotations

import pytest

from helpers import click, make_task, source
from plugin.cli import main
from plugin.cvat import CvatOptions, connect, fix_task, track_task
from plugin.cvat.credentials import Credentials
from tam_core.models import ModelOptions, clear_models, get_models, load_count
from tam_core.options import RunOptions

TRACKED = list(range(1, 13))  # one click on task frame 0 of 13: frames 1..12 are tracked (and refined)


@pytest.fixture
def task(cvat, cvat_env, monkeypatch):
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:recording_models")
    clear_models()
    tid, video = make_task(cvat)
    cvat.add_shape(tid, type="points", frame=0, label_id=cvat.label_id(tid, "car"), points=click(video, source(0), 1))
    yield tid, video
    clear_models()


def cli(cvat, tid, action, *extra):
    return main(["cvat", action, "--server", cvat.url, "--task", str(tid), "--no-progress", "--device", "cpu", *extra])


@pytest.mark.slow
def test_cli_runs_differing_in_run_flags_load_once_and_no_refine_never_refines(cvat, task, capsys):
    tid, _ = task
    before = load_count()
    for extra, calls, said in (
        ((), TRACKED, "upload 13 masks"),
        (("--no-refine",), TRACKED, "keep 13 unchanged"),
        (("--no-refine", "--direction", "forward"), TRACKED, "keep 13 unchanged"),
        (("--batch-size", "3"), TRACKED + TRACKED, "keep 13 unchanged"),
    ):
        assert cli(cvat, tid, "track", *extra) == 0
        assert said in capsys.readouterr().out
        refiner = get_models(ModelOptions.for_segmenter("auto", device="cpu")).refiner  # the CLI's default
        assert refiner.calls == calls, extra
    assert load_count() - before == 1


def test_cli_model_flags_become_the_model_options(cvat, task, tmp_path, capsys):
    tid, _ = task
    ckpt = tmp_path / "sam.pth"
    ckpt.write_bytes(b"")  # the provider does not read it; the flag only needs an existing file
    assert cli(cvat, tid, "track", "--sam-type", "tiny", "--sam-checkpoint", str(ckpt), "--cache-dir", str(tmp_path),
               "--offline", "--no-refine") == 0
    asked = get_models(ModelOptions(sam_type="tiny", sam_checkpoint=str(ckpt), device="cpu", cache_dir=str(tmp_path),
                                    download=False)).options
    assert asked.sam_type == "tiny" and asked.sam_checkpoint == str(ckpt) and asked.download is False
    assert get_models(asked).refiner.calls == []


def test_the_old_sam_flag_still_works_and_says_so(cvat, task, capsys):
    tid, _ = task
    before = load_count()
    assert cli(cvat, tid, "track", "--sam", "vit_l") == 0
    assert "--sam is deprecated; use --sam-type" in capsys.readouterr().err
    assert get_models(ModelOptions(sam_type="vit_l", device="cpu")).options.sam_type == "vit_l"
    assert load_count() - before == 1


def test_option_errors_come_before_connecting_or_loading(capsys):
    before = load_count()
    # Nothing listens on port 9: reaching the server would be a different error.
    assert main(["cvat", "track", "--server", "http://127.0.0.1:9", "--task", "1", "--sam-type", "tiny"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sam-checkpoint" in err
    assert load_count() == before


@pytest.mark.parametrize("flags, message", [
    (["--fp16", "--device", "cpu"], "--fp16 needs a CUDA GPU but the device is cpu; drop --fp16"),
    (["--device", "tpu"], "unknown device 'tpu': use 'cpu', 'cuda', 'cuda:N' or 'auto'"),
])
def test_device_errors_come_before_connecting(flags, message, capsys):
    before = load_count()
    assert main(["cvat", "fix", "--server", "http://127.0.0.1:9", "--task", "1", *flags]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert load_count() == before


def test_a_dry_run_does_not_check_the_device(cvat, task, capsys):
    tid, _ = task
    assert cli(cvat, tid, "track", "--dry-run", "--fp16") == 0  # plans on a machine without the GPU
    assert "dry run" in capsys.readouterr().out


@pytest.mark.parametrize("refine, calls", [(True, TRACKED), (False, [])])
def test_track_and_fix_task_refine_only_when_the_run_says_so(cvat, task, cvat_env, refine, calls):
    tid, video = task
    options = CvatOptions(state_dir=cvat_env / "state", run=RunOptions(direction="forward", refine=refine))
    models = get_models(ModelOptions())
    with connect(cvat.url, Credentials("alice", "s3cret-pass")) as conn:
        track_task(conn, tid, ModelOptions(), options)
        assert models.refiner.calls == calls
        # A new click on task frame 6 is a correction: fix re-tracks frames 7..12 from it.
        cvat.add_shape(tid, type="points", frame=6, label_id=cvat.label_id(tid, "car"), points=click(video, source(6), 1))
        fix_task(conn, tid, ModelOptions(), options)
    assert models.refiner.calls == calls + ([7, 8, 9, 10, 11, 12] if refine else [])
