"""Pre-annotation from concept prompts (operators.preannotate): every found
object's masks are written with its label, phrase and score, its first frame
becomes a keyframe, and a person's correction afterwards re-tracks only its
span: every frame outside it stays byte-equal."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from operators.correct import correct
from operators.interfaces import MemorySink
from operators.preannotate import preannotate
from tam_core.concepts.prompt import ConceptPrompt
from tam_core.concepts.tracker import FoundObject
from tam_core.options import RunOptions
from tam_core.types import Prompt
from tests.doubles import ArrayFrames, ColorSegmenter, ColorTrackerFactory
from tests.synthetic import make_video


class TruthConcepts:
    """A ConceptTracker double: finds the synthetic video's objects (ids 1, 2)
    from the frame it is given, object 2 only from frame 3 on."""

    def __init__(self, video, prompt: ConceptPrompt):
        self.video, self.prompt = video, prompt

    def step(self, image):
        t = self.video.index_of(image)
        found = []
        for oid in (1, 2):
            if oid == 2 and t < 3:
                continue
            phrase = self.prompt.phrases[(oid - 1) % len(self.prompt.phrases)]
            found.append(FoundObject(oid, self.prompt.label_of(phrase), phrase, 0.5 + 0.01 * t,
                                     self.video.mask(t, oid)))
        return found


@pytest.fixture
def video():
    return make_video(num_frames=12, size=(48, 64))


def test_preannotation_writes_every_found_object_and_keyframes_its_first_frame(video):
    frames, sink = ArrayFrames(video.frames), MemorySink()
    prompt = ConceptPrompt.from_labels({"Ball": "ball", "Box": "box"})
    done = []
    pre = preannotate(frames, TruthConcepts(video, prompt), sink, batch_size=5,
                      progress=lambda d, t: done.append((d, t)))
    assert sink.batches == [5, 5, 2] and done[-1] == (12, 12) and pre.frames_written == 12
    assert {o: (t.label, t.phrase, t.first_frame) for o, t in pre.objects.items()} == {
        1: ("Ball", "ball", 0), 2: ("Box", "box", 3)}
    assert pre.objects[1].score == pytest.approx(0.61)
    assert [(p.object_id, p.frame, p.label) for p in pre.prompts] == [(1, 0, "Ball"), (2, 3, "Box")]
    for f in range(12):
        for oid in (1, 2):
            gt = video.mask(f, oid)
            got = sink.masks.get(f, {}).get(oid)
            if (oid == 2 and f < 3) or not gt.any():
                assert got is None
            else:
                assert np.array_equal(got, gt)
                assert sink.quality[(f, oid)] == pytest.approx(0.5 + 0.01 * f)


def test_a_correction_after_preannotation_retracks_only_its_span(video):
    frames, sink = ArrayFrames(video.frames), MemorySink()
    pre = preannotate(frames, TruthConcepts(video, ConceptPrompt(("ball", "box"))), sink)
    # stale output of object 1 from frame 7 on, and a person's correction there
    for f in range(7, 12):
        sink.masks[f][1] = np.zeros_like(sink.masks[f][1])
        sink.masks[f][1][0, 0] = True
    before = {f: {o: m.tobytes() for o, m in ms.items()} for f, ms in sink.masks.items()}
    models = SimpleNamespace(segmenter=ColorSegmenter(), refiner=None,
                             tracker_factory=ColorTrackerFactory(frame_index_of=video.index_of))
    fix = Prompt(frame=7, object_id=1, label="ball", mask=video.mask(7, 1))
    report = correct(frames, [*pre.prompts, fix], [(1, 7)], sink, models,
                     RunOptions(direction="forward", batch_size=100), stored=pre.stored)
    assert {r.object_id for r in report.records} == {1} and report.frames_written == 5
    for f in range(12):
        for oid in (1, 2):
            got = sink.masks.get(f, {}).get(oid)
            if oid == 1 and f >= 7:
                gt = video.mask(f, 1)
                assert (got is None) if not gt.any() else np.array_equal(got, gt)
            else:  # outside the corrected span: byte-equal
                assert (None if got is None else got.tobytes()) == before.get(f, {}).get(oid)


def test_preannotation_with_the_tiny_sam3_model(tmp_path, video):
    pytest.importorskip("transformers")
    from tam_core.concepts.family import SAM3
    from tam_core.concepts.tiny import save_tiny

    factory = SAM3.load("test_tiny", save_tiny(tmp_path / "tiny"), "cpu")
    frames, sink = ArrayFrames(video.frames[:4]), MemorySink()
    pre = preannotate(frames, factory(ConceptPrompt.from_labels(["dog"], threshold=0.0)), sink, batch_size=2)
    assert pre.frames_written == 4 and pre.objects and sink.batches == [2, 2]
    assert all(t.label == "dog" and t.phrase == "dog" for t in pre.objects.values())
    for p in pre.prompts:
        assert p.frame == pre.objects[p.object_id].first_frame and p.mask.shape == (48, 64)
        assert np.array_equal(sink.masks[p.frame][p.object_id], p.mask)
