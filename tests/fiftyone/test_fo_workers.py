"""Scale-out: "Whole view, one delegated job per video" shared by two real
``fiftyone delegated launch`` workers on this machine (the README's "Label a
whole dataset on several GPUs").

Every video is labeled by exactly one completed job and none is missed; a
worker killed in the middle of a job leaves that job "running" and its video
re-runnable: after ``fail`` + ``rerun`` (what ``fiftyone delegated fail ID`` /
``rerun ID`` call) the other worker labels it completely. Workers use the
color doubles with slow tracker steps (tests/fiftyone/providers.py) so a job
can be caught midway.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService
from fiftyone.operators.executor import ExecutionRunState

from tests.fiftyone.helpers import NUM_FRAMES, add_click, iou, new_dataset, output_masks, triggers
from tests.fiftyone.providers import event_lines

REPO = Path(__file__).resolve().parents[2]
URI = "@tam-label/track-anything/track_objects"
VIDEOS = 4
COMPLETED, RUNNING = ExecutionRunState.COMPLETED, ExecutionRunState.RUNNING


def _worker(env, log: Path) -> subprocess.Popen:
    exe = shutil.which("fiftyone", path=str(Path(sys.executable).parent)) or shutil.which("fiftyone")
    assert exe, "the fiftyone command is not installed"
    return subprocess.Popen([exe, "delegated", "launch"], cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _ops(service, ds):
    return service.list_operations(dataset_name=ds.name, operator=URI)


def _states(service, ds):
    return [op.run_state for op in _ops(service, ds)]


def _steps_in_current_pass(events, pid) -> int:
    """Tracker steps ``pid`` made since it started its latest tracking pass."""
    n = 0
    for p, e in event_lines(events):
        if p == pid:
            n = 0 if e == "tracker" else n + (e == "step")
    return n


def _wait(cond, timeout, what, logs):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs if p.exists())
    pytest.fail(f"timed out waiting for {what}\n{tails}")


@pytest.mark.slow
def test_two_workers_label_every_video_once_and_a_killed_job_is_rerunnable(tmp_path):
    ds, videos = new_dataset(tmp_path, num_samples=VIDEOS)
    ds.persistent = True  # the workers are other clients of this database
    for s, v in zip(ds, videos):
        add_click(s, v, 1, 0)
    events = tmp_path / "events.txt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               TAM_LABEL_MODEL_PROVIDER="tests.fiftyone.providers:observed_models",
               TAM_TEST_EVENTS=str(events), TAM_TEST_STEP_DELAY="0.4")
    service = DelegatedOperationService()
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = []
    try:
        res = foo.execute_operator(URI, ctx={"view": ds.view(), "params": {
            "target": "EACH_VIDEO", "prompt_field": "tam_prompts", "label_field": "tam_tracks", "direction": "forward"}})
        assert triggers(res, "notify")[-1]["message"].startswith(f"queued {VIDEOS} delegated job(s), one per video")
        queued = _ops(service, ds)
        assert len(queued) == VIDEOS and set(_states(service, ds)) == {ExecutionRunState.QUEUED}
        assert not ds.has_frame_field("tam_tracks")  # nothing ran yet

        workers = [_worker(env, log) for log in logs]
        a, b = workers
        # Both workers take jobs at the same time ...
        _wait(lambda: {a.pid, b.pid} <= {pid for pid, e in event_lines(events) if e == "step"}, 240,
              "both workers to run a job", logs)
        # ... then worker A is killed in the middle of one (it stepped, its pass is far from done).
        _wait(lambda: 1 <= _steps_in_current_pass(events, a.pid) <= 6, 120, "worker A in the middle of a job", logs)
        _stop(a, signal.SIGKILL)
        _wait(lambda: sorted(_states(service, ds)) == sorted([COMPLETED] * (VIDEOS - 1) + [RUNNING]), 240,
              "worker B to finish every other job", logs)
        (stuck,) = [op for op in _ops(service, ds) if op.run_state == RUNNING]
        # The killed job stays "running" forever: fail it and re-run it, as
        # `fiftyone delegated fail ID` and `fiftyone delegated rerun ID` do.
        service.set_failed(stuck.id)
        service.rerun_operation(stuck.id)
        _wait(lambda: _states(service, ds).count(COMPLETED) == VIDEOS, 180, "worker B to run the re-queued job", logs)

        done = [op for op in _ops(service, ds) if op.run_state == COMPLETED]
        labeled = [v for op in done for v in op.result.result["videos"]]
        assert sorted(labeled) == sorted(ds.values("filepath"))  # every video exactly once, none missed
        assert {pid for pid, e in event_lines(events) if e == "load"} <= {a.pid, b.pid}
        for s, v in zip(ds, videos):
            got = output_masks(s)
            assert sorted(got) == [(1, f) for f in range(NUM_FRAMES)]
            assert min(iou(got[(1, f)], v.mask(f, 1)) for f in range(NUM_FRAMES)) > 0.8
    finally:
        for w in workers:
            _stop(w)
        ds.delete()
