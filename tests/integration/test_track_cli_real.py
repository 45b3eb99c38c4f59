"""``tam-label track`` end to end on the real engine: seeded XMem + tiny SAM
from .pth files, a folder of PNG frames, default refinement options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from plugin.cli import main
from plugin.cli.track_cmd import read_index_png, write_index_png

from .conftest import NUM_FRAMES, SIZE, click_on


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, video, checkpoints):
    root = tmp_path_factory.mktemp("cli")
    frames = root / "frames"
    frames.mkdir()
    for t, f in enumerate(video.frames):
        Image.fromarray(f).save(frames / f"{t:05d}.png")
    mask = root / "mask_f2.png"
    write_index_png(mask, video.mask(2, 1).astype(np.uint8))  # object 1 on frame 2
    x, y = click_on(video, 8, 3)
    prompts = ["--mask", f"2:{mask}", "--point", f"8:3:{x},{y}", "--label", "3:ball"]
    engine = ["--sam-type", "tiny", "--sam-checkpoint", str(checkpoints.sam),
              "--xmem-checkpoint", str(checkpoints.xmem), "--device", "cpu", "--no-progress"]
    return dict(root=root, frames=frames, click=(x, y), prompts=prompts, engine=engine)


def track(inputs, out, *extra, prompts=None, engine=None, video=None):
    args = ["track", str(video or inputs["frames"]), "--out", str(out)]
    return main(args + (inputs["prompts"] if prompts is None else prompts)
                + (inputs["engine"] if engine is None else engine) + list(extra))


def _state(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.glob("*.png"))}


@pytest.fixture(scope="module")
def first_run(inputs):
    out = inputs["root"] / "out"
    rc = track(inputs, out)
    return out, rc, json.loads((out / "summary.json").read_text()), _state(out)


def test_writes_a_png_for_every_frame_and_a_summary(first_run, video):
    out, rc, summary, _ = first_run
    assert rc == 0
    assert sorted(p.name for p in out.glob("*.png")) == [f"{t:05d}.png" for t in range(NUM_FRAMES)]
    for t in range(NUM_FRAMES):
        labels = read_index_png(out / f"{t:05d}.png")
        assert labels.shape == SIZE and set(np.unique(labels)) <= {0, 1, 3}
    # the mask prompt is frame 2's object 1 exactly (nothing tracked may cover it)
    assert np.array_equal(read_index_png(out / "00002.png") == 1, video.mask(2, 1))
    assert summary["num_frames"] == NUM_FRAMES and summary["size"] == list(SIZE)
    assert summary["objects"] == [{"id": 1, "label": None, "keyframes": [2]}, {"id": 3, "label": "ball", "keyframes": [8]}]
    assert sorted(map(int, summary["frames"])) == list(range(NUM_FRAMES))
    for t, objs in summary["frames"].items():
        assert set(objs) == {"1", "3"}, t  # direction both: every frame for both objects
        for o in objs.values():
            assert 0.0 <= o["quality"] <= 1.0
    assert summary["resumed"] is False and summary["timings"]["frames_tracked"] == NUM_FRAMES


def test_click_keyframe_is_sams_answer(first_run, inputs, video, checkpoints):
    from tam_core.sam import load_sam

    sam = load_sam("tiny", checkpoints.sam, "cpu")
    sam.set_image(video.frames[8])
    expected = sam.predict(points=np.array([inputs["click"]]), point_labels=np.array([1]), multimask=True).mask
    out = first_run[0]
    assert np.array_equal(read_index_png(out / "00008.png") == 3, expected)


def test_rerun_resumes_without_work(first_run, inputs):
    out, _, _, before = first_run
    assert track(inputs, out) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is True and summary["timings"]["frames_tracked"] == 0
    assert _state(out) == before  # no PNG rewritten


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tam-label: error: "), err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_missing_video(inputs, tmp_path, capsys):
    assert track(inputs, tmp_path / "o", video=tmp_path / "nope.mp4") == 1
    _one_line_error(capsys, "does not exist", "nope.mp4")


@pytest.mark.parametrize("point, needle", [("0:1:96.5,10", "outside"), ("40:1:10,10", "frames 0..11")],
                         ids=["outside-the-frame", "missing-frame"])
def test_bad_prompt(inputs, tmp_path, capsys, point, needle):
    assert track(inputs, tmp_path / "o", prompts=["--point", point]) == 1
    _one_line_error(capsys, needle)
    assert not list((tmp_path / "o").glob("*.png"))


@pytest.mark.parametrize("which", ["xmem", "sam"])
def test_truncated_checkpoint(inputs, checkpoints, tmp_path, capsys, which):
    good = getattr(checkpoints, which)
    bad = tmp_path / f"truncated_{which}.pth"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    engine = list(inputs["engine"])
    engine[engine.index(f"--{which}-checkpoint") + 1] = str(bad)
    assert track(inputs, tmp_path / "o", engine=engine) == 1
    _one_line_error(capsys, bad.name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda(inputs, tmp_path, capsys):
    engine = list(inputs["engine"])
    engine[engine.index("--device") + 1] = "cuda"
    assert track(inputs, tmp_path / "o", engine=engine) == 1
    _one_line_error(capsys, "CUDA is not available", "--device cpu")


def test_tiny_sam_needs_a_checkpoint(inputs, checkpoints, tmp_path, capsys):
    engine = ["--sam-type", "tiny", "--xmem-checkpoint", str(checkpoints.xmem), "--device", "cpu", "--no-progress"]
    assert track(inputs, tmp_path / "o", engine=engine) == 1
    _one_line_error(capsys, "tiny", "--sam-checkpoint")


def test_interrupted_run_resumes_to_the_uninterrupted_masks(inputs, video, monkeypatch):
    """Forward, object 1 keyed on frames 2 and 6, object 3 on 8: keyframe (1, 2) owns
    frames 2..5 and is complete after the first write of 4 frames; an interruption
    at the second write leaves only the spans from frames 6 and 8 to do."""
    import plugin.cli.track_cmd as track_cmd

    mask6 = inputs["root"] / "mask_f6.png"
    write_index_png(mask6, video.mask(6, 1).astype(np.uint8))
    extra = ["--mask", f"6:{mask6}", "--direction", "forward", "--batch-size", "4"]
    reference, out = inputs["root"] / "uninterrupted", inputs["root"] / "interrupted"
    assert track(inputs, reference, *extra) == 0

    real_write, calls = track_cmd.DavisPngSink.write, []

    def write_then_interrupt(self, results):
        calls.append([r.frame for r in results])
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_write(self, results)

    monkeypatch.setattr(track_cmd.DavisPngSink, "write", write_then_interrupt)
    assert track(inputs, out, *extra) == 130
    monkeypatch.setattr(track_cmd.DavisPngSink, "write", real_write)
    assert calls == [[2, 3, 4, 5], [6, 7, 8, 9]]
    assert track(inputs, out, *extra) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is True and summary["timings"]["frames_tracked"] == NUM_FRAMES - 6  # 6..11
    for t in range(NUM_FRAMES):
        name = f"{t:05d}.png"
        assert np.array_equal(read_index_png(out / name), read_index_png(reference / name)), name
