"""Pre-annotation from class names in FiftyOne (SAM 3 concept prompts):
found objects are written with their class, phrase, score and a keyframe;
a re-run changes nothing; a person's edits and click-tracked objects are
never overwritten; a correction afterwards re-tracks only its span; the
operator runs immediately and as one delegated job per video; the tiny SAM 3
(random weights) runs end to end."""

from __future__ import annotations

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService

from plugin.fiftyone import api
from plugin.fiftyone.convert import PHRASE_ATTR, PROMPT_ATTR, box_to_pixels, paste_mask
from plugin.fiftyone.preannotate import preannotate
from tam_core.errors import ConfigError
from tam_core.options import RunOptions
from tests.doubles import COLOR_TOL, ColorConceptFactory
from tests.fiftyone.helpers import SIZE, add_click, iou, new_dataset, output_masks, triggers
from tests.fiftyone.providers import color_concepts

PLUGIN = "@tam-label/track-anything"


def found_masks(video, color):
    """What the color double finds on the decoded frames (the stand-in for SAM 3's output)."""
    return [np.abs(f.astype(int) - np.asarray(color)).max(axis=2) <= COLOR_TOL for f in video.decoded]


def detections(sample, field="tam_tracks"):
    """{(index, frame0): detection}."""
    sample.reload()
    return {(d.index, fn - 1): d for fn, fr in sample.frames.items()
            for d in (fr[field].detections if fr.has_field(field) and fr[field] else [])}


def test_found_objects_are_written_with_class_phrase_score_and_keyframe(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    ds.default_classes = ["ball", "box"]  # no classes given: the dataset's
    sample = ds.first()
    factory = color_concepts(None)
    (rep,) = preannotate(ds, concepts=factory, batch_size=5)
    assert [p.phrases for p in factory.prompts] == [("ball", "box")]
    # ids from 1 (nothing else in the field); object 3 appears on frame 5
    assert {o: (t.label, t.phrase, t.first_frame) for o, t in rep.objects.items()} == {
        1: ("ball", "ball", 0), 2: ("box", "box", 0), 3: ("box", "box", 5)}
    dets = detections(sample)
    for oid, obj, color in ((1, 1, video.colors[1]), (2, 2, video.colors[2]), (3, 3, video.colors[3])):
        expected = found_masks(video, color)
        for t in range(12):
            d = dets.get((oid, t))
            if not expected[t].any():
                assert d is None
                continue
            mask = paste_mask(d.mask, box_to_pixels(d.bounding_box, SIZE), SIZE)
            assert np.array_equal(mask, expected[t]), (oid, t)
            assert iou(mask, video.mask(t, obj)) > 0.8  # H.264 smears a few edge pixels
            assert (d.label, d[PHRASE_ATTR], d.confidence) == (rep.objects[oid].label, rep.objects[oid].phrase, 0.9)
            is_keyframe = t == rep.objects[oid].first_frame
            assert (d.has_field(PROMPT_ATTR) and str(d[PROMPT_ATTR]).startswith("concept:")) == is_keyframe
    assert sample["tam_tracks_job"]["finished"] is True

    before = {k: (d.mask.tobytes(), d.bounding_box) for k, d in detections(sample).items()}
    (again,) = preannotate(ds, concepts=factory)
    assert again.note.startswith("already pre-annotated") and len(factory.prompts) == 1  # no model run
    assert {k: (d.mask.tobytes(), d.bounding_box) for k, d in detections(sample).items()} == before


def test_a_persons_objects_and_edits_survive_and_a_rerun_drops_only_its_own_stale_objects(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    add_click(sample, video, 1, 0)  # a click-tracked object 1 in the same field
    api.track(ds, options=RunOptions(refine=False, direction="forward"))
    clicked = {k: v for k, v in output_masks(sample).items()}
    mine = fo.Detection(label="mine", bounding_box=[0.1, 0.1, 0.2, 0.2])  # a person's own box, no index
    sample.frames[4]["tam_tracks"].detections.append(mine)
    sample.save()
    factory = color_concepts(None)
    (rep,) = preannotate(ds, ["ball", "box"], concepts=factory)
    assert sorted(rep.objects) == [2, 3, 4]  # above the click-tracked object's id
    before = detections(sample)
    # a person edits the found ball on frame 3 (erases its left half)
    det = detections(sample)[(2, 3)]
    edited = det.mask.copy()
    edited[:, : edited.shape[1] // 2] = False
    det.mask = edited
    sample.save()
    (rep2,) = preannotate(ds, ["box"], concepts=factory)  # the ball is no longer asked for
    dets = detections(sample)
    assert sorted(rep2.objects) == [3, 4] and {t.label for t in rep2.objects.values()} == {"box"}  # same ids
    # the ball's masks are gone, except the one the person edited
    assert [k for k in dets if k[0] == 2] == [(2, 3)]
    assert np.array_equal(dets[(2, 3)].mask, edited) and dets[(2, 3)].label == "ball"
    assert sorted(k for k in dets if k[0] in (3, 4)) == sorted(k for k in before if k[0] in (3, 4))
    now = output_masks(sample)
    assert all(np.array_equal(now[k], v) for k, v in clicked.items())  # the click-tracked object is untouched
    assert any(d.label == "mine" and d.index is None for d in sample.frames[4]["tam_tracks"].detections)


def test_a_correction_after_preannotation_retracks_only_its_span_and_keeps_the_phrase(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    sample = ds.first()
    preannotate(ds, ["ball", "box"], concepts=color_concepts(None))
    first = output_masks(sample)
    det = detections(sample)[(3, 9)]  # object 3 (first found on frame 5): a person redraws it on frame 9
    truth = video.mask(9, 3)
    ys, xs = np.nonzero(truth)
    h, w = SIZE
    det.bounding_box = [xs.min() / w, ys.min() / h, (xs.max() - xs.min() + 1) / w, (ys.max() - ys.min() + 1) / h]
    det.mask = truth[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    sample.save()
    (rep,) = api.correct(ds, prompt_field=None, options=RunOptions(refine=False))
    assert rep.report is not None and {r.object_id for r in rep.report.records} == {3}
    second = output_masks(sample)
    span = set(range((5 + 9) // 2 + 1, 12))  # keyframes 5 (pre-annotation) and 9 (the edit)
    for key, mask in first.items():
        if key[0] == 3 and key[1] in span:
            continue
        assert np.array_equal(second[key], mask), key  # outside the span: byte-equal
    assert np.array_equal(second[(3, 9)], truth)
    for t in span - {9}:
        assert iou(second[(3, t)], video.mask(t, 3)) > 0.8
        assert detections(sample)[(3, t)][PHRASE_ATTR] == "box"


def test_no_classes_anywhere_is_one_line_before_any_model(tmp_path):
    ds, _ = new_dataset(tmp_path)
    factory = ColorConceptFactory({})
    with pytest.raises(ConfigError, match="no classes to look for"):
        preannotate(ds, concepts=factory)
    assert factory.prompts == []


@pytest.fixture
def concept_provider(monkeypatch):
    from tam_core.concepts.load import clear_concepts

    monkeypatch.setenv("TAM_LABEL_CONCEPT_PROVIDER", "tests.fiftyone.providers:color_concepts")
    clear_concepts()
    yield
    clear_concepts()


def test_the_operator_runs_immediately_and_as_one_delegated_job_per_video(tmp_path, concept_provider):
    ds, videos = new_dataset(tmp_path, num_samples=2)
    s0, s1 = list(ds)
    res = foo.execute_operator(f"{PLUGIN}/preannotate_objects", ctx={"view": ds.view(), "current_sample": s0.id,
                               "params": {"target": "CURRENT_SAMPLE", "classes": "ball, box", "device": "cpu"}})
    progress = triggers(res, "set_progress")
    assert progress[-1]["progress"] == 1.0 and progress[-1]["label"] == "pre-annotate: video 1/1, frame 12/12"
    assert triggers(res, "notify")[-1]["message"] == "pre-annotate: 1 video(s), 3 object(s) found, 12 frame(s) written"
    assert sorted({k[0] for k in output_masks(s0)}) == [1, 2, 3] and not output_masks(s1)

    res = foo.execute_operator(f"{PLUGIN}/preannotate_objects", ctx={"view": ds.view(), "params": {
        "target": "EACH_VIDEO", "classes": "Ball=ball", "threshold": 0.5}})
    assert triggers(res, "notify")[-1]["message"].startswith("queued 2 delegated pre-annotation job(s)")
    results = DelegatedOperationService().execute_queued_operations(dataset_name=ds.name)
    assert [r.error for r in results] == [None, None]
    found = sorted((v["filepath"], [(o["index"], o["label"], o["phrase"], o["score"], o["first_frame"])
                                    for o in v["objects"]]) for r in results for v in r.result["videos"])
    assert found == [(s0.filepath, [(1, "Ball", "ball", 0.9, 1)]), (s1.filepath, [(1, "Ball", "ball", 0.9, 1)])]
    # s0's boxes from the first run are gone (not asked for any more); the ball is relabelled "Ball"
    assert sorted({k[0] for k in output_masks(s0)}) == [1]
    assert {d.label for d in detections(s1).values()} == {"Ball"}


@pytest.mark.slow
def test_the_tiny_sam3_pre_annotates_a_dataset_end_to_end(tmp_path):
    pytest.importorskip("transformers")
    from tam_core.concepts.load import ConceptOptions, get_concepts
    from tam_core.concepts.prompt import ConceptPrompt
    from tam_core.concepts.tiny import save_tiny

    ds, (video,) = new_dataset(tmp_path)
    opts = ConceptOptions(model="sam3:test_tiny", checkpoint=save_tiny(tmp_path / "sam3"), device="cpu")
    (rep,) = preannotate(ds, ["dog", "cat"], concepts=opts, threshold=0.0)
    assert rep.objects and rep.frames_written == 12
    # the same model run directly on the decoded frames gives exactly the masks written
    tracker = get_concepts(opts)(ConceptPrompt.from_labels(["dog", "cat"], threshold=0.0))
    expected = {}
    for t, frame in enumerate(video.decoded):
        for obj in tracker.step(frame):
            if obj.mask.any():
                expected[(1 + obj.object_id, t)] = (obj.mask, obj.phrase, obj.score)
    dets = detections(ds.first())
    assert set(dets) == set(expected)
    for key, (mask, phrase, score) in expected.items():
        d = dets[key]
        assert np.array_equal(paste_mask(d.mask, box_to_pixels(d.bounding_box, SIZE), SIZE), mask)
        assert d[PHRASE_ATTR] == phrase == d.label and d.confidence == pytest.approx(score)


@pytest.mark.slow
def test_two_preannotations_in_threads_on_one_model_equal_one_after_the_other(tmp_path):
    """As in an App server: two delegated/immediate runs in two threads share the one loaded SAM 3."""
    import threading

    pytest.importorskip("transformers")
    from tam_core.concepts.load import ConceptOptions
    from tam_core.concepts.tiny import save_tiny

    ds, _ = new_dataset(tmp_path, num_samples=2, seeds=[0, 3])
    opts = ConceptOptions(model="sam3:test_tiny", checkpoint=save_tiny(tmp_path / "sam3"), device="cpu")
    s0, s1 = list(ds)
    for s in (s0, s1):
        preannotate(ds.select(s.id), ["dog"], "seq", concepts=opts, threshold=0.0)
    errors = []

    def work(sample):
        try:
            preannotate(ds.select(sample.id), ["dog"], "par", concepts=opts, threshold=0.0, batch_size=3)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in (s0, s1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for s in (s0, s1):
        seq, par = detections(s, "seq"), detections(s, "par")
        assert seq and set(seq) == set(par)
        for key, d in seq.items():
            assert (d.mask.tobytes(), d.bounding_box, d.confidence, d[PHRASE_ATTR]) == (
                par[key].mask.tobytes(), par[key].bounding_box, par[key].confidence, par[key][PHRASE_ATTR]), key
