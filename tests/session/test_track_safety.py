"""``tam-label track`` never loses results or reports success over missing
masks: interrupted and failed jobs, changed inputs, checks before loading."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from plugin.cli import main
from tam_core import models as tam_models
from tam_core.video.davis import read_labels, write_labels
from tests.doubles import ColorSegmenter, ColorTrackerFactory
from tests.session.helpers import click

T = 12


class _InterruptAt(ColorTrackerFactory):
    """Ctrl-C (KeyboardInterrupt) when any tracker steps frame ``frame`` in pass ``reverse``."""

    def __init__(self, video, frame, reverse=False):
        super().__init__(frame_index_of=video.index_of)
        self.at = frame

    def __call__(self, config=None):
        tracker = super().__call__(config)
        step = tracker.step

        def interrupting(image, masks=None, end=False):
            if self.frame_index_of(image) == self.at and tracker.tracker_no == 0:
                raise KeyboardInterrupt
            return step(image, masks, end)

        tracker.step = interrupting
        return tracker


@pytest.fixture
def folder(tmp_path, video):
    src = tmp_path / "frames"
    src.mkdir()
    for t in range(T):
        Image.fromarray(video.frames[t]).save(src / f"{t:05d}.png")
    return src


@pytest.fixture
def engine(monkeypatch, video):
    """Models as doubles; ``engine.factory`` can be swapped; ``engine.loads`` counts loads."""
    state = SimpleNamespace(factory=ColorTrackerFactory(frame_index_of=video.index_of), loads=0)

    def load(opts):
        state.loads += 1
        return SimpleNamespace(segmenter=ColorSegmenter(), tracker_factory=state.factory, refiner=None)

    monkeypatch.setattr(tam_models, "get_models", load)
    return state


def _argv(src, out, *prompts):
    return ["track", str(src), "--out", str(out), "--device", "cpu", *prompts]


def _pngs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}


def _gt(video, t, ids):
    return np.where(np.isin(video.gt[t], ids), video.gt[t], 0)


def _prompts_a(video):
    x, y = click(video, 0, 1)[0]
    return ["--point", f"0:1:{x:g},{y:g}"]


def _prompts_b(video):
    x, y = click(video, 0, 2)[0]
    return ["--point", f"0:2:{x:g},{y:g}"]


def test_interrupted_new_job_is_recognised_and_the_old_command_starts_over(folder, tmp_path, video, engine, capsys):
    out = tmp_path / "out"
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    capsys.readouterr()
    engine.factory = _InterruptAt(video, 5)
    assert main(_argv(folder, out, *_prompts_b(video))) == 130  # Ctrl-C in job B
    err = capsys.readouterr().err
    assert "different prompts; starting over" in err and "interrupted; re-run the same command to resume" in err
    record = json.loads((out / "progress.json").read_text())
    assert record["finished"] is False and record["done"] == [] and not (out / "summary.json").exists()
    # Job A again: the record is not A's, so A starts over and writes real masks.
    engine.factory = ColorTrackerFactory(frame_index_of=video.index_of)
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    captured = capsys.readouterr()
    assert "tracked object(s) 1 over 12 frames" in captured.out and "starting over" in captured.err
    for t in range(T):
        assert np.array_equal(read_labels(out / f"{t:05d}.png"), _gt(video, t, [1])), t


def test_a_job_failing_before_tracking_leaves_the_finished_results(folder, tmp_path, video, engine, capsys):
    out = tmp_path / "out"
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    before, record = _pngs(out), (out / "progress.json").read_bytes()
    summary = (out / "summary.json").read_bytes()
    bad = tmp_path / "rgb.png"
    Image.fromarray(video.frames[0]).save(bad)
    for prompts in (["--point", "0:300:5,5"], ["--point", "99:1:5,5"], ["--mask", f"0:{bad}"]):
        assert main(_argv(folder, out, *prompts)) == 1
    assert _pngs(out) == before and (out / "progress.json").read_bytes() == record
    assert (out / "summary.json").read_bytes() == summary and engine.loads == 1


def test_a_missing_mask_is_tracked_again_never_written_empty(folder, tmp_path, video, engine, capsys):
    out = tmp_path / "out"
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    before = _pngs(out)
    (out / "00005.png").unlink()
    capsys.readouterr()
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    assert _pngs(out) == before
    assert "12 frames tracked" in capsys.readouterr().out  # the run holding frame 5, in full


def test_no_op_resume_says_nothing_is_left(folder, tmp_path, video, engine, capsys):
    out = tmp_path / "out"
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    capsys.readouterr()
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    text = capsys.readouterr().out
    assert text.startswith("nothing left to track: object(s) 1 over 12 frames were already complete")
    assert "frames/s" not in text and "s/frame" not in text
    assert engine.loads == 1  # decided from the record: the re-run loads no model
    (out / "00004.png").unlink()
    assert main(_argv(folder, out, *_prompts_a(video))) == 0  # now there is work: models load
    assert engine.loads == 2 and "12 frames tracked" in capsys.readouterr().out


def test_fingerprint_is_the_content_not_the_path(folder, tmp_path, video, engine, capsys):
    out = tmp_path / "out"
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    capsys.readouterr()
    # the same frames by another spelling of the path: resumes (nothing to do)
    assert main(_argv(f"{folder}/../{folder.name}/", out, *_prompts_a(video))) == 0
    assert capsys.readouterr().out.startswith("nothing left to track")
    # other frames at the same path: starts over, one line says why
    flipped = video.frames[:T, ::-1].copy()
    for t in range(T):
        Image.fromarray(flipped[t]).save(folder / f"{t:05d}.png")
    engine.factory = ColorTrackerFactory()
    h, w = video.size
    x, y = click(video, 0, 1)[0]
    assert main(_argv(folder, out, "--point", f"0:1:{x:g},{h - y:g}")) == 0
    err = capsys.readouterr().err
    assert "the previous run in" in err and "was for different prompts and a different video; starting over" in err
    assert np.array_equal(read_labels(out / "00003.png"), _gt(video, 3, [1])[::-1])


def test_checks_before_any_model_loads(folder, tmp_path, video, engine, capsys):
    f = tmp_path / "a_file"
    f.write_text("x")
    small = tmp_path / "small.png"
    write_labels(small, np.ones((10, 10), np.uint8))
    ok = _prompts_a(video)
    cases = [
        (["--point", "12:1:5,5"], "frames 0..11"),
        (["--point", "0:1:96.5,5"], "outside the 96x64 frame"),
        (["--box", "0:1:100,5,200,20"], "0 <= x0 < x1 <= 96"),
        (["--mask", f"0:{small}"], "mask has shape (10, 10), expected (64, 96)"),
        (["--point", "0:256:5,5"], "object ids must be integers 1..255"),
        (["--point", "0:0:5,5"], "object ids must be integers 1..255"),
        (ok + ["--device", "tpu"], "unknown device 'tpu'"),
        (ok + ["--fp16"], "--fp16 needs a CUDA GPU but the device is cpu; drop --fp16"),
        (ok + ["--sam-checkpoint", str(tmp_path / "nope.pth")], "checkpoint file not found"),
    ]
    for prompts, needle in cases:
        assert main(_argv(folder, tmp_path / "o", *prompts)) == 1, prompts
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("tam-label: error: "), (prompts, err)
        assert needle is None or needle in err, (prompts, err)
        assert "--autocast" not in err
    for out, needle in [
        (f, "is a file; give a folder"),
        (Path("/proc/tam-label-out"), "cannot be written"),
        (folder, "inside the input frame folder"),
        (folder / "masks", "inside the input frame folder"),
    ]:
        assert main(_argv(folder, out, *ok)) == 1, out
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, (out, err)
    assert engine.loads == 0 and not (folder / "masks").exists()
    assert not (tmp_path / "o").exists()  # a refused job leaves no empty --out behind
    assert sorted(p.name for p in folder.iterdir()) == [f"{t:05d}.png" for t in range(T)]


def test_progress_lines_in_a_log(folder, tmp_path, video, engine, capsys):
    out = tmp_path / "out"
    assert main(_argv(folder, out, *_prompts_a(video))) == 0  # capsys: stderr is not a terminal
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tracking: 12/12 frames (100%), ") and ", took " in err[0]
    assert main(_argv(folder, tmp_path / "quiet", *_prompts_a(video), "--no-progress")) == 0
    assert capsys.readouterr().err == ""


def test_mask_files_black_and_white_void_and_anti_aliased(folder, tmp_path, video, engine, capsys):
    m = video.mask(0, 1)
    bw = tmp_path / "bw.png"
    Image.fromarray(np.where(m, 255, 0).astype(np.uint8), mode="L").save(bw)
    out = tmp_path / "out"
    assert main(_argv(folder, out, "--mask", f"0:{bw}")) == 0
    captured = capsys.readouterr()
    assert "note: --mask: " in captured.err and "black-and-white mask; read as one object, id 1" in captured.err
    assert set(np.unique(read_labels(out / "00000.png"))) == {0, 1}
    # anti-aliased: 0, 255 and grey edges -> refused with one line, nothing loaded
    soft = np.where(m, 255, 0).astype(np.uint8)
    edge = m & ~np.roll(m, 1, axis=1)
    soft[edge] = 128
    aa = tmp_path / "aa.png"
    Image.fromarray(soft, mode="L").save(aa)
    loads = engine.loads
    assert main(_argv(folder, tmp_path / "o2", "--mask", f"0:{aa}")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "anti-aliased" in err and engine.loads == loads
    # a palette PNG: 255 is DAVIS void, never object 255
    pal = np.where(m, 1, 0).astype(np.uint8)
    pal[:2] = 255
    vp = tmp_path / "void.png"
    write_labels(vp, pal)
    assert main(_argv(folder, tmp_path / "o3", "--mask", f"0:{vp}")) == 0
    assert "value 255 is DAVIS void" in capsys.readouterr().err
    assert 255 not in np.unique(read_labels(tmp_path / "o3" / "00000.png"))


def test_another_video_file_at_the_same_path_starts_over(tmp_path, video, engine, capsys):
    from tests.synthetic import write_h264

    src = write_h264(tmp_path / "v.mp4", video.frames[:6], fps=10)
    out = tmp_path / "out"
    engine.factory = ColorTrackerFactory()
    assert main(_argv(src, out, *_prompts_a(video))) == 0
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    capsys.readouterr()
    assert main(_argv(link, out, *_prompts_a(video))) == 0  # the same file by another name
    assert capsys.readouterr().out.startswith("nothing left to track")
    write_h264(src, video.frames[1:7], fps=10)  # another clip, same path
    assert main(_argv(src, out, *_prompts_a(video))) == 0
    captured = capsys.readouterr()
    assert "was for a different video; starting over" in captured.err and "tracked object(s) 1" in captured.out


def test_starting_over_names_what_changed_in_plain_words(folder, tmp_path, video, engine, capsys):
    out = tmp_path / "out"
    assert main(_argv(folder, out, *_prompts_a(video))) == 0
    capsys.readouterr()
    assert main(_argv(folder, out, *_prompts_a(video), "--direction", "backward")) == 0
    assert f"the previous run in {out} was for different options; starting over" in capsys.readouterr().err
    assert main(_argv(folder, out, *_prompts_b(video))) == 0
    assert (f"the previous run in {out} was for different options and different prompts; starting over"
            in capsys.readouterr().err)
