"""An interrupted FiftyOne track resumes instead of starting over.

The proof is the CLI's (tests/integration/test_track_cli_real.py): a
delegated track job runs in its own process and is killed with SIGKILL after
a fixed number of batches were written (``killing_models``,
tests/fiftyone/providers.py); the job is failed and re-run as ``fiftyone
delegated fail``/``rerun`` do, in a fresh process. The labels equal an
uninterrupted run's exactly, and the tracker run finished before the kill is
not tracked again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService
from fiftyone.operators.executor import ExecutionRunState

from plugin.fiftyone import api
from plugin.fiftyone.sink import job_field
from tests.fiftyone.helpers import add_click, new_dataset
from tests.fiftyone.providers import event_lines

REPO = Path(__file__).resolve().parents[2]
URI = "@tam-label/track-anything/track_objects"
FRAMES = 40  # batches of 16: the forward run 0..39 is 3 writes, the backward run 19..0 is 2
FORWARD, BACKWARD = "fwd 0-39 1@0 2@20", "bwd 0-20 2@20"

_CHILD = """
import sys
from bson import ObjectId
from fiftyone.operators.delegated import DelegatedOperationService
service = DelegatedOperationService()
service.execute_operation(service.get(ObjectId(sys.argv[1])))
"""


def _labels(sample, field="tam_tracks"):
    """{frame number: [every detection's content but its database id]}, masks as bytes."""
    sample.reload()
    out = {}
    for fn, frame in sample.frames.items():
        dets = frame[field] if frame.has_field(field) else None
        if dets is None:
            continue
        rows = []
        for d in dets.detections:
            row = {k: v for k, v in d.to_dict().items() if k not in ("_id", "mask")}
            row["mask"] = (d.mask.dtype.str, d.mask.shape, d.mask.tobytes())
            rows.append(row)
        out[fn] = rows
    return out


def _run_job(op_id, env, events=None, kill_after=None) -> subprocess.CompletedProcess:
    env = dict(env, TAM_TEST_EVENTS=str(events) if events else "")
    if kill_after:
        env["TAM_TEST_KILL_AFTER_WRITES"] = str(kill_after)
    return subprocess.run([sys.executable, "-c", _CHILD, str(op_id)], env=env, cwd=REPO, capture_output=True,
                          timeout=300)


@pytest.mark.slow
def test_killed_delegated_track_resumes_to_the_uninterrupted_labels(tmp_path):
    ds, videos = new_dataset(tmp_path, num_samples=2, num_frames=FRAMES)
    ds.persistent = True  # the job processes are other clients of this database
    reference, killed = ds.first(), ds.last()
    for s, v in zip((reference, killed), videos):
        add_click(s, v, 1, 0)
        add_click(s, v, 2, 20)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               TAM_LABEL_MODEL_PROVIDER="tests.fiftyone.providers:killing_models")
    service = DelegatedOperationService()
    try:
        # The uninterrupted run (in this process, the same color doubles).
        (rep,) = api.track(ds.select(reference.id))
        assert (rep.report.runs_planned, rep.report.runs_kept, rep.report.runs_tracked) == (2, 0, 2)
        expected = _labels(reference)
        assert sorted(expected) == list(range(1, FRAMES + 1))

        # The same job, delegated, killed after 4 batches: the forward run's 3 and 1 of the backward run.
        foo.execute_operator(URI, ctx={"view": ds.select(killed.id), "params": {
            "target": "EACH_VIDEO", "prompt_field": "tam_prompts", "label_field": "tam_tracks"}})
        (op,) = service.list_operations(dataset_name=ds.name, operator=URI)
        done = _run_job(op.id, env, kill_after=4)
        assert done.returncode == -9, (done.stderr.decode()[-3000:], service.get(op.id).run_state,
                                       service.get(op.id).result.result, service.get(op.id).result.error)
        assert service.get(op.id).run_state == ExecutionRunState.RUNNING  # a killed worker's job
        killed.reload()
        assert killed[job_field("tam_tracks")]["done"] == [FORWARD]
        assert killed[job_field("tam_tracks")]["finished"] is False
        partial = _labels(killed)
        assert partial != expected and all(partial[fn] == expected[fn] for fn in range(21, FRAMES + 1))

        # `fiftyone delegated fail` + `rerun`, run by a fresh process.
        service.set_failed(op.id)
        service.rerun_operation(op.id)
        (rerun,) = service.list_operations(dataset_name=ds.name, operator=URI, run_state=ExecutionRunState.QUEUED)
        events = tmp_path / "events.txt"
        done = _run_job(rerun.id, env, events=events)
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        result = service.get(rerun.id)
        assert result.run_state == ExecutionRunState.COMPLETED, result.result
        summary = result.result.result
        assert (summary["runs_kept"], summary["runs_tracked"]) == (1, 1)
        assert sum(e == "tracker" for _, e in event_lines(events)) == 1  # only the backward run was tracked
        assert _labels(killed) == expected  # masks byte for byte, boxes, scores, keyframe tags, frame numbers
        killed.reload()
        assert killed[job_field("tam_tracks")] == {**killed[job_field("tam_tracks")], "done": [FORWARD, BACKWARD],
                                                   "finished": True}

        # A finished job is tracked again in full by the next Track (it never trusts a finished record).
        (again,) = api.track(ds.select(killed.id))
        assert (again.report.runs_kept, again.report.runs_tracked) == (0, 2) and _labels(killed) == expected
    finally:
        ds.delete()
