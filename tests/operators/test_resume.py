"""The one propagation loop and the resumable job over any durable sink:
runs recorded done are skipped (never stepped again), the rest tracked in
full; nothing left means no model is loaded; the record is saved before
earlier results are discarded. An in-memory durable sink stands in for the
PNG folder and FiftyOne (both have their own end-to-end kill -9 proofs)."""

from types import SimpleNamespace

import pytest

from operators.interfaces import MemorySink
from operators.loop import propagate
from operators.resume import resumable_track
from operators.run_record import RunRecord, job_fingerprint
from operators.track import add_prompts, build_session, plan_for
from tam_core.options import RunOptions
from tests.doubles import ArrayFrames, ColorSegmenter, ColorTrackerFactory
from tests.operators.test_track_correct import assert_matches_gt, click
from tests.synthetic import make_video

FORWARD, BACKWARD = "fwd 0-11 1@0 2@6", "bwd 0-6 2@6"


@pytest.fixture
def video():
    return make_video(num_frames=12, size=(48, 64))


class Interrupt(Exception):
    pass


class DurableMemorySink(MemorySink):
    """A MemorySink keeping a record; ``fail_after``: raise after that many writes; ``log``: the order of events."""

    def __init__(self):
        super().__init__()
        self.record, self.log, self.fail_after = None, [], None

    def write(self, results):
        super().write(results)
        self.log.append(("write", tuple(r.frame for r in results)))
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise Interrupt

    def load_record(self):
        return None if self.record is None else RunRecord.from_json(self.record)

    def save_record(self, record):
        self.record = record.to_json()
        self.log.append(("save", tuple(record.done), record.finished))

    def still_written(self, run):
        return True

    def discard(self):
        self.masks.clear()
        self.log.append(("discard",))


def _prompts(video):
    return [click(video, 1, 0), click(video, 2, 6)]


def _job(video, sink, factory, prompts=None, loads=None, **kw):
    frames = ArrayFrames(video.frames)
    prompts = prompts or _prompts(video)
    options = RunOptions(batch_size=4)

    def load():
        if loads is not None:
            loads.append(1)
        return SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=factory, refiner=None)

    fp = job_fingerprint(frames, prompts, options, {"models": "doubles"})
    return resumable_track(frames, prompts, sink, load, options, fp, **kw)


def test_the_loop_writes_whole_runs_and_reports_each_after_its_last_write(video):
    frames = ArrayFrames(video.frames)
    factory = ColorTrackerFactory(frame_index_of=video.index_of)
    session = build_session(frames, SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=factory, refiner=None),
                            RunOptions(batch_size=5))
    add_prompts(session, frames, _prompts(video))
    sink, events = MemorySink(), []
    real_write = sink.write
    sink.write = lambda batch: (events.append(("write", [r.frame for r in batch])), real_write(batch))
    report = propagate(session, sink, RunOptions(batch_size=5), on_run_done=lambda run: events.append(("done", run.key)))
    # forward 0..11 (12 results: 5, 5, 2), then backward 5..0 (6 results: 5, 1): no batch spans two runs
    assert events == [("write", [0, 1, 2, 3, 4]), ("write", [5, 6, 7, 8, 9]), ("write", [10, 11]), ("done", FORWARD),
                      ("write", [5, 4, 3, 2, 1]), ("write", [0]), ("done", BACKWARD)]
    assert [r.key for r in plan_for(_prompts(video), 12, "both")] == [FORWARD, BACKWARD]
    assert (report.runs_planned, report.runs_kept, report.runs_tracked, report.frames_tracked) == (2, 0, 2, 19)
    assert_matches_gt(sink, video, (1, 2), range(12))


def test_an_interrupted_job_keeps_its_finished_runs_and_tracks_the_rest_in_full(video):
    sink = DurableMemorySink()
    sink.fail_after = 4  # the forward run's 3 writes, then 1 of the backward run
    first = ColorTrackerFactory(frame_index_of=video.index_of)
    with pytest.raises(Interrupt):
        _job(video, sink, first)
    assert RunRecord.from_json(sink.record).done == [FORWARD] and not sink.record["finished"]
    sink.fail_after = None
    again = ColorTrackerFactory(frame_index_of=video.index_of)
    job = _job(video, sink, again)
    assert job.resumed and job.started_over == () and job.loaded
    assert (job.track.runs_kept, job.track.runs_tracked, job.track.frames_tracked) == (1, 1, 7)
    assert len(again.trackers) == 1 and sorted(again.stepped()) == list(range(7))  # the backward run 6..0 only
    assert sink.record["done"] == [FORWARD, BACKWARD] and sink.record["finished"] is True
    assert_matches_gt(sink, video, (1, 2), range(12))


def test_nothing_left_loads_no_model_and_a_changed_job_starts_over_after_saving_its_record(video):
    sink, loads = DurableMemorySink(), []
    _job(video, sink, ColorTrackerFactory(frame_index_of=video.index_of), loads=loads)
    job = _job(video, sink, ColorTrackerFactory(frame_index_of=video.index_of), loads=loads)
    assert len(loads) == 1 and not job.loaded and job.track.runs_kept == 2 and job.track.runs_tracked == 0
    # redo_finished (FiftyOne's Track): a finished job is tracked again in full
    job = _job(video, sink, ColorTrackerFactory(frame_index_of=video.index_of), loads=loads, redo_finished=True)
    assert job.started_over == ("finished",) and job.track.runs_tracked == 2 and len(loads) == 2
    # another prompt: the new record is saved before the old results go
    sink.log.clear()
    told = []
    job = _job(video, sink, ColorTrackerFactory(frame_index_of=video.index_of), prompts=[click(video, 1, 0)],
               on_start_over=told.append)
    assert told == [("prompts",)] and job.started_over == ("prompts",) and not job.resumed
    assert sink.log[:2] == [("save", (), False), ("discard",)]
    assert sorted({oid for f in sink.masks.values() for oid in f}) == [1]
    job = _job(video, sink, ColorTrackerFactory(frame_index_of=video.index_of), prompts=[click(video, 1, 0)],
               restart=True)
    assert job.started_over == ("restart",) and job.track.runs_tracked == 1


def test_a_job_failing_before_tracking_leaves_the_sink_untouched(video):
    sink = DurableMemorySink()
    _job(video, sink, ColorTrackerFactory(frame_index_of=video.index_of))
    before, log, masks = dict(sink.record), list(sink.log), {f: dict(m) for f, m in sink.masks.items()}

    def broken():
        raise RuntimeError("CUDA out of memory")

    frames, prompts, options = ArrayFrames(video.frames), [click(video, 1, 0)], RunOptions()
    with pytest.raises(RuntimeError):  # another job (it would start over), failing while loading
        resumable_track(frames, prompts, sink, broken, options, job_fingerprint(frames, prompts, options))
    assert sink.record == before and sink.log == log and sink.masks == masks
