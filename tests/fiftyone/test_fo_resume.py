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
from tam_core.options import RunOptions
from tests.fiftyone.helpers import NUM_FRAMES, add_click, new_dataset, output_masks
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
        assert done.returncode == -9, (done.stderr.decode()[-3000:], service.get(op.id).run_state)
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


class Interrupted(Exception):
    pass


def _interrupt_after(monkeypatch, writes: int) -> None:
    """The sink's ``writes``-th write raises once it has saved (a run stopped there)."""
    from plugin.fiftyone.sink import FrameDetectionsSink

    real, done = FrameDetectionsSink.write, []

    def write(self, results):
        real(self, results)
        done.append(len(results))
        if len(done) == writes:
            raise Interrupted

    monkeypatch.setattr(FrameDetectionsSink, "write", write)


def test_an_interrupted_correction_is_finished_by_the_next_one(tmp_path, monkeypatch):
    """The keyframe of an interrupted correction already holds its new mask
    (and digest): without the record the next correction saw nothing changed
    and left the rest of its span stale."""
    from tam_core.models import ModelOptions
    from tests.providers import color_models

    ds, (video,) = new_dataset(tmp_path, num_frames=FRAMES)
    sample, options = ds.first(), RunOptions(batch_size=4)
    add_click(sample, video, 1, 0)
    api.track(ds.view(), options=options)
    add_click(sample, video, 1, 20)  # re-tracks 20..39 forward (5 writes), then 19..11 backward (3 writes)
    with monkeypatch.context() as mp:
        _interrupt_after(mp, 6)
        with pytest.raises(Interrupted):
            api.correct(ds.view(), options=options)
    sample.reload()
    record = sample[job_field("tam_tracks")]
    assert (record["done"], record["changed"], record["finished"]) == (["fwd 20-39 1@20"], [[1, 20]], False)
    models = color_models(ModelOptions())
    (rep,) = api.correct(ds.view(), models=models, options=options)
    assert rep.report is not None, rep.note
    assert (rep.report.runs_kept, rep.report.runs_tracked) == (1, 1) and len(models.tracker_factory.trackers) == 1
    assert sorted({r.frame for r in rep.report.records}) == list(range(11, 20))
    (again,) = api.correct(ds.view(), options=options)
    assert again.report is None and again.note == "nothing changed since the last run"


def test_a_correction_after_an_unfinished_track_is_refused(tmp_path, monkeypatch):
    from tam_core.errors import PromptError

    ds, (video,) = new_dataset(tmp_path)
    add_click(ds.first(), video, 1, 0)
    with monkeypatch.context() as mp:
        _interrupt_after(mp, 1)
        with pytest.raises(Interrupted):
            api.track(ds.view(), options=RunOptions(batch_size=4))
    add_click(ds.first(), video, 1, 6)
    with pytest.raises(PromptError, match="did not finish .* run Track again"):
        api.correct(ds.view())
    (rep,) = api.track(ds.view())  # a Track finishes the output; corrections work again after it
    assert rep.report.runs_tracked == 3  # forward 0..3, forward 6..11, backward 6..4
    add_click(ds.first(), video, 1, 9)
    (rep,) = api.correct(ds.view())
    assert rep.report.runs_tracked == 2  # keyframe 9's forward and backward spans


def test_a_deleted_output_field_is_not_resumed(tmp_path, monkeypatch):
    ds, (video,) = new_dataset(tmp_path)
    add_click(ds.first(), video, 1, 0)
    add_click(ds.first(), video, 1, 8)
    with monkeypatch.context() as mp:
        _interrupt_after(mp, 3)  # the forward run 0..7 is done (2 writes), then 1 write of the next
        with pytest.raises(Interrupted):
            api.track(ds.view(), options=RunOptions(batch_size=4))
    ds.delete_frame_field("tam_tracks")
    (rep,) = api.track(ds.view(), options=RunOptions(batch_size=4))
    assert (rep.report.runs_kept, rep.report.runs_tracked) == (0, 3)
    assert sorted(output_masks(ds.first())) == [(1, f) for f in range(NUM_FRAMES)]
