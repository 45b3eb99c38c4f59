"""``tam-label cvat track --concepts``: a task pre-annotated from its label
names (SAM 3 concept prompts; a color double here, the tiny SAM 3 in the
slow test), under the ownership rules of every run: each found object gets
its own group above every group in the task, a re-run changes nothing, a
person's edit made during a run is left alone, a later ``fix`` re-tracks only
the corrected span, and a re-run with fewer labels removes only our objects."""

from __future__ import annotations

import concept_models
import numpy as np
import pytest
from helpers import auto_masks, make_task, models, source

from plugin.cli import main
from plugin.cvat import CvatOptions, fix_task
from plugin.cvat.concepts import ConceptRequest, preannotate_task
from plugin.cvat.masks import encode_mask
from tam_core.concepts.load import PROVIDER_ENV, clear_concepts
from tam_core.options import RunOptions


@pytest.fixture
def concepts(monkeypatch):
    monkeypatch.setenv(PROVIDER_ENV, concept_models.PROVIDER)
    monkeypatch.setattr(concept_models, "DAMAGE_FROM", None)
    concept_models.BUILT.clear()
    clear_concepts()
    yield concept_models
    clear_concepts()


def opts(cvat_env, **kw):
    return CvatOptions(state_dir=cvat_env / "state", run=RunOptions(batch_size=4, direction="both"), **kw)


def cli(cvat, tid, *extra):
    return main(["cvat", "track", "--server", cvat.url, "--task", str(tid), "--no-progress", "--device", "cpu",
                 "--concepts", *extra])


def test_a_task_is_pre_annotated_from_its_labels_and_a_rerun_changes_nothing(cvat, cvat_env, concepts, capsys):
    tid, video = make_task(cvat)
    car, ball = cvat.label_id(tid, "car"), cvat.label_id(tid, "ball")
    # a person's own grouped polygon elsewhere: group 7 is taken
    theirs = cvat.add_shape(tid, type="polygon", frame=4, label_id=car, group=7, points=[1.0, 1.0, 9.0, 1.0, 9.0, 9.0])
    assert cli(cvat, tid) == 0
    out = capsys.readouterr().out
    assert "looked for (label: phrase): car: 'car', ball: 'ball'" in out
    got = auto_masks(cvat, tid, video)
    groups = {(label, group) for label, group, _ in got}
    assert groups == {(car, 8), (ball, 9), (ball, 10)}  # one object each, groups above the person's 7
    for (label, group, frame), mask in got.items():
        obj = {(car, 8): 1, (ball, 9): 2, (ball, 10): 3}[(label, group)]
        assert np.array_equal(mask, video.mask(source(frame), obj)), (label, group, frame)
    assert sorted(f for (_, g, f) in got if g == 10) == list(range(2, 13))  # object 3 enters on task frame 2
    assert sorted(f for (_, g, f) in got if g == 8) == list(range(13))
    assert any(s["id"] == theirs for s in cvat.shapes(tid))

    shapes, creates = cvat.shapes(tid), len(cvat.calls("PATCH"))
    assert cli(cvat, tid, "car,ball") == 0  # the same labels spelled out: the same run
    assert "nothing changed since the last run" in capsys.readouterr().out
    assert cvat.shapes(tid) == shapes and len(cvat.calls("PATCH")) == creates
    assert len(concepts.BUILT) == 1  # the model was not loaded again

    assert cli(cvat, tid, "car=car") == 0  # only the car now: our balls go, the person's polygon stays
    left = auto_masks(cvat, tid, video)
    assert {(label, group) for label, group, _ in left} == {(car, 8)}
    assert {k: v.tobytes() for k, v in left.items()} == {k: v.tobytes() for k, v in got.items() if k[1] == 8}
    assert any(s["id"] == theirs for s in cvat.shapes(tid))


def test_an_unknown_label_is_one_line_before_any_model(cvat, cvat_env, concepts, capsys):
    tid, _ = make_task(cvat)
    assert cli(cvat, tid, "truck") == 1
    err = capsys.readouterr().err
    assert "--concepts names ['truck'], not labels of task" in err and len(err.strip().splitlines()) == 1
    assert concepts.BUILT == [] and not [s for s in cvat.shapes(tid)]
    assert main(["cvat", "track", "--server", cvat.url, "--task", str(tid), "--concepts", "--concept-threshold", "2"]) == 1
    assert "threshold must be in [0, 1]" in capsys.readouterr().err


@pytest.mark.slow  # three runs on the fake server
def test_a_persons_edit_during_a_rerun_wins_and_fix_retracks_only_its_span(cvat, conn, cvat_env, concepts):
    tid, video = make_task(cvat)
    ball = cvat.label_id(tid, "ball")
    concepts.DAMAGE_FROM = 3  # a poor pre-annotation: every mask loses its right half from task frame 3 on
    preannotate_task(conn, tid, concepts.provide(None), ConceptRequest(), opts(cvat_env))
    first = {(s["label_id"], s["group"], s["frame"]): s for s in cvat.shapes(tid) if s["source"] == "auto"}
    g = next(grp for (label, grp, _) in first if label == ball and (label, grp, 0) in first)  # object 2's group
    edited = [float(p) for p in encode_mask(video.mask(source(10), 2))]
    acted = []

    def person(method, path, query):  # after the re-run's first upload: the person redraws the ball on frame 10
        if not acted and method == "PATCH" and path.startswith("/api/jobs/"):
            cvat.edit_shape(tid, first[(ball, g, 10)]["id"], points=edited, source="semi-auto")
            acted.append(True)

    cvat.hooks.append(person)
    concepts.DAMAGE_FROM = 2  # a re-run that differs (another threshold) and would rewrite frame 2 on
    report = preannotate_task(conn, tid, concepts.provide(None), ConceptRequest(threshold=0.4), opts(cvat_env))
    cvat.hooks.clear()
    assert acted and f"'ball' (group {g})@10 (edited)" in report.touched
    now = {(s["label_id"], s["group"], s["frame"]): s for s in cvat.shapes(tid) if s["frame"] == 10}
    assert now[(ball, g, 10)]["points"] == edited and now[(ball, g, 10)]["source"] == "semi-auto"

    before = {(s["label_id"], s["group"], s["frame"]): (s["id"], s["points"]) for s in cvat.shapes(tid)}
    fixed = fix_task(conn, tid, models(video), opts(cvat_env))
    assert [key for key in fixed.changed] == [(next(o for o, d in fixed.objects.items() if f"group {g}" in d), 10)]
    after = {(s["label_id"], s["group"], s["frame"]): (s["id"], s["points"]) for s in cvat.shapes(tid)}
    span = set(range((0 + 10) // 2 + 1, 13))  # keyframes: the found object's first frame 0 and the edit on 10
    masks = auto_masks(cvat, tid, video)
    for key, value in before.items():
        if key[:2] == (ball, g) and key[2] in span - {10}:
            assert np.array_equal(masks[key], video.mask(source(key[2]), 2)), key  # re-tracked: whole again
        else:
            assert after.get(key) == value, key  # outside the span (and the person's edit): untouched


@pytest.mark.slow
def test_the_tiny_sam3_pre_annotates_a_task_end_to_end(cvat, cvat_env, tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from tam_core.concepts.tiny import save_tiny

    monkeypatch.delenv(PROVIDER_ENV, raising=False)
    clear_concepts()
    folder = save_tiny(tmp_path / "sam3")
    tid, video = make_task(cvat)
    extra = ["--concept-model", "sam3:test_tiny", "--concept-checkpoint", str(folder), "--concept-threshold", "0"]
    try:
        assert cli(cvat, tid, *extra) == 0
        got = auto_masks(cvat, tid, video)
        assert got and all(m.any() for m in got.values())
        assert all(group > 0 for _, group, _ in got)
        shapes = cvat.shapes(tid)
        assert cli(cvat, tid, *extra) == 0  # the same run again: nothing changes
        assert cvat.shapes(tid) == shapes
    finally:
        clear_concepts()
