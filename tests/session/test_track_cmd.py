"""``tam-label track``: DAVIS PNG output, resume, prompt parsing and user errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from plugin.cli import main
from tam_core import models as tam_models
from plugin.cli.track_args import parse_box, parse_labels, parse_mask, parse_point
from operators.folder_job import track_to_folder
from tam_core.video.davis import write_labels
from tam_core.options import RunOptions
from tam_core.errors import PromptError
from tam_core.types import Prompt
from tests.doubles import ArrayFrames, ColorSegmenter, ColorTrackerFactory
from tests.session.helpers import click

T = 30


def _models(factory):
    return SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=factory, refiner=None)


def _read(out, t):
    with Image.open(out / f"{t:05d}.png") as img:
        assert img.mode == "P"
        return np.array(img)


def _prompts(video):
    return [
        Prompt(0, 1, label="ball", points=click(video, 0, 1)),
        Prompt(20, 2, mask=video.mask(20, 2)),
        Prompt(8, 3, mask=video.mask(8, 3)),
    ]


def test_track_to_folder_writes_ground_truth_pngs_and_summary(tmp_path, video, factory):
    out = tmp_path / "out"
    summary = track_to_folder(ArrayFrames(video.frames), _prompts(video), out, _models(factory), RunOptions())
    for t in range(T):
        assert np.array_equal(_read(out, t), video.gt[t]), t
    assert sorted(p.name for p in out.glob("*.png")) == [f"{t:05d}.png" for t in range(T)]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert summary["objects"] == [
        {"id": 1, "label": "ball", "keyframes": [0]},
        {"id": 2, "label": None, "keyframes": [20]},
        {"id": 3, "label": None, "keyframes": [8]},
    ]
    assert set(summary["frames"]) == {str(t) for t in range(T)}
    assert summary["frames"]["0"]["1"]["quality"] == 0.95  # the segmenter's predicted IoU on the keyframe
    # a tracked frame: the quality score; the doubles are sure (0.95 >= confidence_ok), sharp and steady there
    assert summary["frames"]["5"]["2"]["quality"] == 1.0
    assert summary["options"]["direction"] == "both" and summary["resumed"] is False
    assert json.loads((out / "progress.json").read_text())["finished"] is True
    assert not list(out.glob(".*.tmp"))
    # A re-run of the same command finds everything done and tracks nothing.
    factory.clear()
    again = track_to_folder(ArrayFrames(video.frames), _prompts(video), out, _models(factory), RunOptions())
    assert factory.stepped() == [] and again["resumed"] and again["frames"] == summary["frames"]


def test_forward_only_leaves_frames_before_keyframe_empty(tmp_path, video, factory):
    out = tmp_path / "out"
    track_to_folder(ArrayFrames(video.frames), [Prompt(10, 2, mask=video.mask(10, 2))], out, _models(factory),
              RunOptions(direction="forward"))
    assert all(not _read(out, t).any() for t in range(10))
    assert all(np.array_equal(_read(out, t), np.where(video.gt[t] == 2, 2, 0)) for t in range(10, T))


class _Interrupting(ColorTrackerFactory):
    """Raises KeyboardInterrupt when tracker ``tracker_no`` steps frame ``frame``."""

    def __init__(self, video, tracker_no, frame):
        super().__init__(frame_index_of=video.index_of)
        self.stop_at = (tracker_no, frame)

    def __call__(self, config=None):
        tracker = super().__call__(config)
        step = tracker.step

        def interrupting_step(image, masks=None, end=False):
            if (tracker.tracker_no, self.frame_index_of(image)) == self.stop_at:
                raise KeyboardInterrupt
            return step(image, masks, end)

        tracker.step = interrupting_step
        return tracker


def test_resume_retracks_only_unfinished_runs(tmp_path, video):
    out = tmp_path / "out"
    prompts = [Prompt(0, 1, mask=video.mask(0, 1)), Prompt(20, 2, mask=video.mask(20, 2))]
    # Interrupted in the backward pass (tracker 1) on frame 10: the forward run
    # (objects 1 and 2 jointly, frames 0..29) is complete, the backward run
    # (object 2 from its keyframe 20 down to 0) is not and is redone in full.
    factory = _Interrupting(video, 1, 10)
    with pytest.raises(KeyboardInterrupt):
        track_to_folder(ArrayFrames(video.frames), prompts, out, _models(factory), RunOptions(batch_size=2))
    progress = json.loads((out / "progress.json").read_text())
    assert progress["done"] == ["fwd 0-29 1@0 2@20"] and progress["finished"] is False
    factory = ColorTrackerFactory(frame_index_of=video.index_of)
    summary = track_to_folder(ArrayFrames(video.frames), prompts, out, _models(factory), RunOptions(batch_size=2))
    assert summary["resumed"] is True
    assert factory.stepped() == list(range(20, -1, -1))
    assert {c.ids for c in factory.calls if c.ids} == {(2,)}
    for t in range(T):
        assert np.array_equal(_read(out, t), np.where(np.isin(video.gt[t], (1, 2)), video.gt[t], 0)), t
    assert set(summary["frames"]) == {str(t) for t in range(T)}


def test_changed_prompts_start_over(tmp_path, video, factory):
    out = tmp_path / "out"
    track_to_folder(ArrayFrames(video.frames), [Prompt(0, 1, mask=video.mask(0, 1))], out, _models(factory))
    summary = track_to_folder(ArrayFrames(video.frames), [Prompt(0, 2, mask=video.mask(0, 2))], out, _models(factory))
    assert summary["resumed"] is False and [o["id"] for o in summary["objects"]] == [2]
    assert all(set(np.unique(_read(out, t))) <= {0, 2} for t in range(T))


def test_refuses_a_folder_with_foreign_pngs(tmp_path, video, factory):
    (tmp_path / "00000.png").write_bytes(b"x")
    with pytest.raises(Exception, match="did not write; choose an empty --out"):
        track_to_folder(ArrayFrames(video.frames), [Prompt(0, 1, mask=video.mask(0, 1))], tmp_path, _models(factory))


def test_prompt_parsing():
    p = parse_point("3:2:10.5,20")
    assert (p.frame, p.object_id) == (3, 2) and p.points.tolist() == [[10.5, 20.0]] and p.point_labels.tolist() == [1]
    assert parse_point("3:2:10,20:neg").point_labels.tolist() == [0]
    assert parse_point("0:1:5,6", positive=False).point_labels.tolist() == [0]
    assert parse_box("4:1:1,2,30,40").box.tolist() == [1, 2, 30, 40]
    assert parse_labels(["1:person", "2: car"]) == {1: "person", 2: "car"}
    for bad, msg in [
        (lambda: parse_point("3:2"), "expected FRAME:OBJ:X,Y"),
        (lambda: parse_point("a:2:1,2"), "FRAME and OBJ must be integers"),
        (lambda: parse_point("1:0:1,2"), "object ids must be integers 1..255"),
        (lambda: parse_point("1:256:1,2"), "object ids must be integers 1..255"),
        (lambda: parse_box("1:300:1,2,3,4"), "object ids must be integers 1..255"),
        (lambda: parse_point("1:1:1"), "X,Y must be 2 comma-separated numbers"),
        (lambda: parse_point("1:1:1,2:maybe"), "pos, neg, 1 or 0"),
        (lambda: parse_box("1:1:1,2,3"), "X0,Y0,X1,Y1 must be 4"),
        (lambda: parse_labels(["person"]), "expected OBJ:NAME"),
        (lambda: parse_mask("0:/nonexistent.png"), "file not found"),
    ]:
        with pytest.raises(PromptError, match=msg.replace("(", r"\(")):
            bad()


def test_mask_png_prompt(tmp_path, video):
    path = tmp_path / "first.png"
    write_labels(path, video.gt[0])
    prompts, note = parse_mask(f"0:{path}")
    assert [p.object_id for p in prompts] == [1, 2] and note is None
    assert np.array_equal(prompts[1].mask, video.mask(0, 2))
    Image.fromarray(video.frames[0]).save(tmp_path / "rgb.png")
    with pytest.raises(PromptError, match="is a RGB image; give an indexed"):
        parse_mask(f"0:{tmp_path / 'rgb.png'}")


def test_cli_end_to_end_and_user_errors(tmp_path, video, monkeypatch, capsys):
    from tests.synthetic import write_h264

    factory = ColorTrackerFactory()
    monkeypatch.setattr(tam_models, "get_models", lambda opts: _models(factory))
    src = write_h264(tmp_path / "v.mp4", video.frames[:6], fps=10)
    out = tmp_path / "out"
    x, y = click(video, 0, 1)[0]
    rc = main(["track", str(src), "--point", f"0:1:{x:g},{y:g}", "--label", "1:ball", "--out", str(out), "--no-progress"])
    assert rc == 0 and "tracked object(s) 1 (ball) over 6 frames" in capsys.readouterr().out
    assert len(list(out.glob("*.png"))) == 6 and json.loads((out / "summary.json").read_text())["video"] == str(src)
    # H.264 blurs the edges a little; the object must still be found on every frame.
    for t in range(6):
        iou = (np.logical_and(_read(out, t) == 1, video.mask(t, 1)).sum()
               / np.logical_or(_read(out, t) == 1, video.mask(t, 1)).sum())
        assert iou > 0.8, (t, iou)
    for argv, msg in [
        ([str(tmp_path / "missing.mp4"), "--point", "0:1:5,5"], "does not exist"),
        ([str(src), "--point", "0:1:5"], "X,Y must be 2 comma-separated numbers"),
        ([str(src), "--point", "0:1:500,5"], "outside the 96x64 frame"),
        ([str(src), "--point", "9:1:5,5"], "the video has frames 0..5"),
        ([str(src)], "no prompts"),
        ([str(src), "--point", "0:1:5,5", "--label", "2:car"], "no prompt"),
    ]:
        rc = main(["track", *argv, "--out", str(tmp_path / "o2"), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 1 and msg in err and err.count("\n") == 1, (argv, err)


def test_cli_wrong_checkpoint_is_one_line_error(tmp_path, video, capsys):
    from tests.synthetic import write_h264

    src = write_h264(tmp_path / "v.mp4", video.frames[:2], fps=10)
    rc = main(["track", str(src), "--point", "0:1:5,5", "--sam-checkpoint", str(tmp_path / "nope.pth"),
               "--device", "cpu", "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "checkpoint file not found" in err and err.count("\n") == 1
