"""track/correct over the real TrackingSession with the deterministic doubles:
exact masks on every frame, batching, progress, and correction spans."""

from types import SimpleNamespace

import numpy as np
import pytest

from operators.correct import correct
from operators.interfaces import MemorySink
from operators.track import track
from tam_core.errors import ConfigError, PromptError
from tam_core.options import RunOptions
from tam_core.types import FrameResult, Prompt
from tests.doubles import ArrayFrames, ColorSegmenter, ColorTrackerFactory
from tests.synthetic import make_video


@pytest.fixture
def video():
    return make_video(num_frames=12, size=(48, 64))


def models_for(video):
    return SimpleNamespace(
        segmenter=ColorSegmenter(),
        tracker_factory=ColorTrackerFactory(frame_index_of=video.index_of),
        refiner=None,
    )


def click(video, oid, frame, label=None):
    ys, xs = np.nonzero(video.mask(frame, oid))
    i = len(ys) // 2
    return Prompt(frame=frame, object_id=oid, label=label, points=np.array([[xs[i], ys[i]]], float), point_labels=np.array([1]))


def assert_matches_gt(sink, video, oids, frames):
    for f in frames:
        for oid in oids:
            gt = video.mask(f, oid)
            got = sink.masks.get(f, {}).get(oid)
            if not gt.any():
                assert got is None, f"object {oid} should be absent on frame {f}"
            else:
                assert got is not None and np.array_equal(got, gt), f"object {oid} frame {f}"


def test_memory_sink_keeps_the_label_sink_contract():
    """LabelSink's promises, checked on what MemorySink holds: a write replaces
    exactly the listed objects on its frame, an all-False mask removes one, other
    labels stay, and the same write twice changes nothing."""
    a, b, c = (np.zeros((4, 5), bool) for _ in range(3))
    a[0, 0], b[1, 1], c[2, 2] = True, True, True
    sink = MemorySink()
    sink.write([FrameResult(3, (1, 2), {1: a, 2: b}, {1: 0.9, 2: 0.8}), FrameResult(4, (1,), {1: a}, {1: 0.7})])
    sink.write([FrameResult(3, (2,), {2: c}, {2: 0.5}, frozenset({2}))])  # object 1 on frame 3 untouched
    once = ({f: {o: m.copy() for o, m in ms.items()} for f, ms in sink.masks.items()}, dict(sink.quality))
    assert {f: sorted(ms) for f, ms in sink.masks.items()} == {3: [1, 2], 4: [1]}
    assert sink.masks[3][1][0, 0] and sink.masks[3][2].sum() == 1 and sink.masks[3][2][2, 2]
    assert sink.quality == {(3, 1): 0.9, (3, 2): 0.5, (4, 1): 0.7} and sink.refined == {(3, 2)}
    sink.write([FrameResult(3, (2,), {2: c}, {2: 0.5}, frozenset({2}))])  # idempotent
    assert {f: {o: m.tolist() for o, m in ms.items()} for f, ms in sink.masks.items()} == \
        {f: {o: m.tolist() for o, m in ms.items()} for f, ms in once[0].items()} and sink.quality == once[1]
    sink.write([FrameResult(4, (1,), {1: np.zeros((4, 5), bool)}, {1: 0.0})])  # absent there: removed
    assert sorted(sink.masks) == [3] and (4, 1) not in sink.quality


def test_track_writes_exact_masks_in_batches_with_progress(video):
    frames = ArrayFrames(video.frames)
    sink = MemorySink()
    seen = []
    report = track(frames, [click(video, 1, 0, "ball"), click(video, 2, 0)], sink, models_for(video),
                   RunOptions(direction="forward", batch_size=5), progress=lambda d, t: seen.append((d, t)))
    assert_matches_gt(sink, video, (1, 2), range(12))
    assert sink.batches == [5, 5, 2]
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert report.frames_written == 12 and report.batches == 3
    obj1 = report.objects[0]
    assert (obj1.object_id, obj1.label, obj1.frames) == (1, "ball", 12)
    assert report.refined_frames == ()
    rec = [r for r in report.records if r.frame == 4 and r.object_id == 2][0]
    assert rec.area == int(video.mask(4, 2).sum())
    ys, xs = np.nonzero(video.mask(4, 2))
    assert rec.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_object_starting_later_is_tracked_both_ways_and_absent_before(video):
    # object 3 enters on frame 5: prompt it on frame 8, track both ways.
    sink = MemorySink()
    track(ArrayFrames(video.frames), [click(video, 3, 8)], sink, models_for(video), RunOptions(direction="both"))
    assert_matches_gt(sink, video, (3,), range(12))
    assert all(3 not in sink.masks.get(f, {}) for f in range(5))


def test_forward_only_leaves_frames_before_the_keyframe_alone(video):
    sink = MemorySink()
    track(ArrayFrames(video.frames), [click(video, 1, 6)], sink, models_for(video), RunOptions(direction="forward"))
    assert sorted(sink.masks) == list(range(6, 12))


def test_track_is_idempotent(video):
    sink = MemorySink()
    opts = RunOptions(direction="both", batch_size=4)
    prompts = [click(video, 1, 3), click(video, 2, 3)]
    track(ArrayFrames(video.frames), prompts, sink, models_for(video), opts)
    first = {f: {o: m.copy() for o, m in d.items()} for f, d in sink.masks.items()}
    track(ArrayFrames(video.frames), prompts, sink, models_for(video), opts)
    assert first.keys() == sink.masks.keys()
    assert all(np.array_equal(first[f][o], sink.masks[f][o]) for f in first for o in first[f])


def test_invalid_inputs_raise_before_any_write(video):
    sink = MemorySink()
    with pytest.raises(PromptError, match="frames 0..11"):
        track(ArrayFrames(video.frames), [click(video, 1, 0), Prompt(40, 1, points=[[1, 1]])], sink, models_for(video))
    assert sink.batches == []
    with pytest.raises(ConfigError, match="direction 'sideways'"):
        RunOptions(direction="sideways")


def test_correct_retracks_only_the_span_of_the_changed_keyframe(video):
    frames = ArrayFrames(video.frames)
    models = models_for(video)
    sink = MemorySink()
    p1, p2 = click(video, 1, 0), click(video, 2, 0)
    opts = RunOptions(direction="forward", batch_size=100)
    track(frames, [p1, p2], sink, models, opts)
    # Simulate stale output of object 1 after frame 7 and a user correction there.
    for f in range(7, 12):
        sink.masks[f][1] = np.zeros_like(sink.masks[f][1])
        sink.masks[f][1][0, 0] = True
    before2 = {f: sink.masks[f][2].copy() for f in range(12)}
    models.tracker_factory.clear()
    fix = click(video, 1, 7)
    report = correct(frames, [p1, p2, fix], [(1, 7)], sink, models, opts)
    assert_matches_gt(sink, video, (1,), range(12))
    stepped = [f for f in models.tracker_factory.stepped() if f is not None]
    assert min(stepped) == 7 and sorted(set(stepped)) == list(range(7, 12))
    assert all(np.array_equal(before2[f], sink.masks[f][2]) for f in range(12))  # object 2 untouched
    assert {r.object_id for r in report.records} == {1} and report.frames_written == 5


def test_correct_rejects_unknown_or_empty_changes(video):
    frames, sink = ArrayFrames(video.frames), MemorySink()
    with pytest.raises(PromptError, match=r"\(object 1, frame 5\) has no prompt"):
        correct(frames, [click(video, 1, 0)], [(1, 5)], sink, models_for(video))
    with pytest.raises(PromptError, match="nothing to correct"):
        correct(frames, [click(video, 1, 0)], [], sink, models_for(video))
