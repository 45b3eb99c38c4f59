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
from tam_core.video.davis import read_labels as read_index_png, write_labels as write_index_png

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
    # frames stepped: the forward run 2..11 (both objects) and the backward run 8..0
    assert summary["resumed"] is False and summary["timings"]["frames_tracked"] == 10 + 9
    assert summary["timings"]["runs"] == {"planned": 2, "kept": 0, "tracked": 2}


def test_click_keyframe_is_sams_answer(first_run, inputs, video, checkpoints):
    from tam_core.segmenters.sam import load_sam

    sam = load_sam("tiny", checkpoints.sam, "cpu")
    expected = sam.predict(sam.embed(video.frames[8]), points=np.array([inputs["click"]]), point_labels=np.array([1]), multimask=True).mask
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


def test_late_failing_prompt_keeps_the_finished_results(first_run, inputs, capsys):
    """A new command into a folder holding a finished run, with a prompt that
    cannot be written (object id 300), fails before anything is touched; the
    old command then finds its results complete and writes nothing."""
    out, _, summary, before = first_run
    record = (out / "progress.json").read_bytes()
    assert track(inputs, out, prompts=inputs["prompts"] + ["--point", "0:300:5,5"]) == 1
    _one_line_error(capsys, "object ids must be integers 1..255")
    assert _state(out) == before and (out / "progress.json").read_bytes() == record
    assert json.loads((out / "summary.json").read_text())["frames"] == summary["frames"]
    assert track(inputs, out) == 0
    assert "nothing left to track" in capsys.readouterr().out and _state(out) == before


_CHILD = """
import sys, time, torch
torch.set_num_threads(1)
from pathlib import Path
from plugin.cli import main
from operators import davis_folder
if sys.argv[1] != "-":  # count the writes in a file and slow them down, so the test can kill in between
    counter = Path(sys.argv[1])
    real_write = davis_folder.DavisPngSink.write
    def slow_write(self, results):
        real_write(self, results)
        done = int(counter.read_text() or 0) if counter.exists() else 0
        tmp = counter.with_suffix(".tmp")
        tmp.write_text(str(done + len(results)))
        tmp.replace(counter)  # atomic: the test never reads a half-written number
        time.sleep(0.15)
    davis_folder.DavisPngSink.write = slow_write
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_kill_9_then_resume_equals_the_uninterrupted_run(inputs, video, tmp_path):
    """Objects 1 (frame 0) and 2 (frame 6) overlap in time: the forward run tracks
    both jointly over frames 0..11, the backward run object 2 over 5..0. The
    process is killed (SIGKILL) in the backward run; the resumed run keeps the
    forward run and redoes the backward one in full: PNGs byte for byte and
    summary areas equal the uninterrupted run's. Every run is a fresh process
    with the same settings (one thread), as a user's would be."""
    import os
    import signal
    import subprocess
    import sys
    import time

    m0, m6 = tmp_path / "m0.png", tmp_path / "m6.png"
    write_index_png(m0, video.mask(0, 1).astype(np.uint8))
    write_index_png(m6, video.mask(6, 2).astype(np.uint8) * 2)
    prompts = ["--mask", f"0:{m0}", "--mask", f"6:{m6}", "--batch-size", "1"]
    reference, out, counter = tmp_path / "uninterrupted", tmp_path / "killed", tmp_path / "writes"
    env = {k: v for k, v in os.environ.items() if k != "TAM_LABEL_MODEL_PROVIDER"}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))

    def cli(dest: Path, count: str = "-") -> subprocess.Popen:
        argv = ["track", str(inputs["frames"]), "--out", str(dest), *prompts, *inputs["engine"]]
        return subprocess.Popen([sys.executable, "-c", _CHILD, count, *argv], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def finish(child: subprocess.Popen) -> None:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err.decode()[-2000:]

    finish(cli(reference))
    ref_summary = json.loads((reference / "summary.json").read_text())
    assert ref_summary["timings"]["runs"] == {"planned": 2, "kept": 0, "tracked": 2}

    def writes() -> int:  # the child rewrites the counter: an empty read is "not yet"
        try:
            return int(counter.read_text() or 0)
        except (OSError, ValueError):
            return 0

    child = cli(out, str(counter))
    deadline = time.monotonic() + 300
    while writes() < NUM_FRAMES + 2:  # the forward run (12 frames) and 2 frames of the backward run
        assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    record = json.loads((out / "progress.json").read_text())
    assert record["finished"] is False and record["done"] == ["fwd 0-11 1@0 2@6"]
    assert not (out / "summary.json").exists()

    finish(cli(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is True and summary["timings"]["runs"] == {"planned": 2, "kept": 1, "tracked": 1}
    assert summary["timings"]["frames_tracked"] == 7  # the backward run 6..0 again, in full
    for t in range(NUM_FRAMES):
        name = f"{t:05d}.png"
        labels = read_index_png(out / name)
        differ = int((labels != read_index_png(reference / name)).sum())
        assert (out / name).read_bytes() == (reference / name).read_bytes(), (name, differ)
        for oid, rec in summary["frames"].get(str(t), {}).items():
            assert rec["area"] == int((labels == int(oid)).sum()), (t, oid)
    assert summary["frames"] == ref_summary["frames"]
    assert set(summary["frames"]["3"]) == {"1", "2"}  # both objects on the frames where they overlap in time
