"""`tam-label cvat ...` in-process: credentials never leak, clear errors, dry run."""

from __future__ import annotations

import logging
import re

import pytest

from helpers import click, make_task, source
from plugin.cli import main
from tam_core.models import clear_models, load_count

SECRET = "s3cret-pass"


def cli(cvat, tid, *extra):
    return main(["cvat", *extra[:1], "--server", cvat.url, "--task", str(tid), "--no-progress", *extra[1:]])


@pytest.fixture
def task(cvat, cvat_env):
    tid, video = make_task(cvat)
    car = cvat.label_id(tid, "car")
    cvat.add_shape(tid, type="points", frame=0, label_id=car, points=click(video, source(0), 1))
    return tid, video


@pytest.mark.slow
def test_track_then_fix_from_the_command_line(cvat, task, monkeypatch, capsys, caplog):
    tid, video = task
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:color_models")
    caplog.set_level(logging.DEBUG)
    assert cli(cvat, tid, "track") == 0
    out = capsys.readouterr()
    assert "upload 13 masks" in out.out
    assert cli(cvat, tid, "fix") == 0
    out2 = capsys.readouterr()
    assert "no corrected frames" in out2.out
    for text in (out.out, out.err, out2.out, out2.err, caplog.text):
        assert SECRET not in text


def test_progress_reaches_a_log(cvat, task, monkeypatch, capsys):
    """stderr piped to a file (capsys: not a terminal): progress comes as log
    lines with frames done and the rate, not as nothing; --no-progress is quiet."""
    tid, _ = task
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:color_models")
    assert main(["cvat", "track", "--server", cvat.url, "--task", str(tid)]) == 0
    err = capsys.readouterr().err
    assert re.search(rf"^task {tid}: 13/13 frames \(100%\), [0-9.]+ (frames/s|s/frame), took ", err, re.M), err
    assert main(["cvat", "track", "--server", cvat.url, "--task", str(tid), "--no-progress"]) == 0
    assert "frames (" not in capsys.readouterr().err


def test_dry_run_changes_nothing_and_loads_no_model(cvat, task, monkeypatch, capsys):
    tid, _ = task
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:color_models")
    clear_models()  # any get_models call now counts as a load
    loads = load_count()
    before = cvat.shapes(tid)
    assert cli(cvat, tid, "track", "--dry-run") == 0
    assert load_count() == loads
    out = capsys.readouterr().out
    assert "dry run" in out and "keyframes (object, frame): [(1, 0)]" in out
    assert cvat.shapes(tid) == before and not cvat.calls("PATCH")


def test_wrong_password_is_one_line_without_the_secret(cvat, task, monkeypatch, capsys, caplog):
    tid, _ = task
    monkeypatch.setenv("CVAT_PASSWORD", "wrong-" + SECRET)
    caplog.set_level(logging.DEBUG)
    assert cli(cvat, tid, "track") == 1
    err = capsys.readouterr().err
    assert "refused the credentials" in err and err.count("\n") == 1
    assert SECRET not in err and SECRET not in caplog.text


def test_missing_credentials_say_what_to_set(cvat, task, monkeypatch, capsys):
    tid, _ = task
    monkeypatch.delenv("CVAT_PASSWORD")
    monkeypatch.setattr("sys.stdin", None)
    assert cli(cvat, tid, "track") == 1
    assert "CVAT_USERNAME and CVAT_PASSWORD" in capsys.readouterr().err


def test_access_token_works_and_a_bad_one_is_refused(cvat, task, monkeypatch, capsys):
    tid, _ = task
    cvat.version = "2.48.0"  # API access tokens exist from 2.48
    monkeypatch.delenv("CVAT_USERNAME")
    monkeypatch.delenv("CVAT_PASSWORD")
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", cvat.token)
    assert cli(cvat, tid, "track", "--dry-run") == 0
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", "not-the-token")
    assert cli(cvat, tid, "track", "--dry-run") == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "not-the-token" not in err


def test_a_token_on_a_server_without_tokens_says_to_use_a_password(cvat, task, monkeypatch, capsys):
    """Issue 11 item 3: CVAT 2.23 answers any Bearer token with 401; say why instead."""
    tid, _ = task
    assert cvat.version == "2.23.1"
    monkeypatch.delenv("CVAT_USERNAME")
    monkeypatch.delenv("CVAT_PASSWORD")
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", cvat.token)
    assert cli(cvat, tid, "track", "--dry-run") == 1
    err = capsys.readouterr().err
    assert "CVAT 2.23.1 has no API access tokens (they exist from 2.48)" in err
    assert "CVAT_USERNAME and CVAT_PASSWORD" in err and err.count("\n") == 1
    assert [c[1] for c in cvat.requests] == ["/api/server/about"]  # refused before any other request


def test_the_fake_refuses_bearer_before_2_48(cvat):
    """The fake models the real 2.23.1 server (docs/cvat.md): Bearer -> 401 'not provided'."""
    import urllib3

    r = urllib3.request("GET", f"{cvat.url}/api/labels?task_id=1", headers={"Authorization": f"Bearer {cvat.token}"})
    assert r.status == 401 and r.json() == {"detail": "Authentication credentials were not provided."}
    assert r.headers["WWW-Authenticate"] == "Token"
    cvat.version = "2.48.0"
    r = urllib3.request("GET", f"{cvat.url}/api/labels?task_id=1", headers={"Authorization": f"Bearer {cvat.token}"})
    assert r.status == 200
