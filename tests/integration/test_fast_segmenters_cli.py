"""``tam-label track`` end to end with the fast segmenter families (random
weights of their test architectures, seeded XMem): every frame written, the
click keyframe is the family's own answer, and the run record names the
family:type (a change of segmenter is a new job, not a resume)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from plugin.cli import main
from tam_core.video.davis import read_labels

from .conftest import NUM_FRAMES, click_on


def _efficientvit(root):
    from tam_core.segmenters.efficientvit import build_efficientvit_sam, load_efficientvit_sam

    path = root / "efficientvit_sam_tiny.pt"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(build_efficientvit_sam("tiny").state_dict(), path)
    return "efficientvit_sam:tiny", path, lambda: load_efficientvit_sam("tiny", path)


def _sam2(root):
    from tam_core.segmenters.sam2 import build_sam2, load_sam2

    path = root / "sam2_tiny"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        build_sam2("tiny").save_pretrained(path)
    return "sam2:tiny", path, lambda: load_sam2("tiny", path)


@pytest.mark.slow
@pytest.mark.parametrize("family", [_efficientvit, _sam2])
def test_track_with_a_fast_family(tmp_path, video, checkpoints, family):
    spec, weights, load = family(tmp_path)
    frames = tmp_path / "frames"
    frames.mkdir()
    from PIL import Image

    for t, f in enumerate(video.frames):
        Image.fromarray(f).save(frames / f"{t:05d}.png")
    x, y = click_on(video, 3, 1)
    out = tmp_path / "out"
    args = ["track", str(frames), "--out", str(out), "--point", f"3:1:{x},{y}", "--segmenter", spec,
            "--sam-checkpoint", str(weights), "--xmem-checkpoint", str(checkpoints.xmem), "--device", "cpu",
            "--no-progress"]
    assert main(args) == 0
    assert sorted(p.name for p in out.glob("*.png")) == [f"{t:05d}.png" for t in range(NUM_FRAMES)]
    seg = load()
    expected = seg.predict(seg.embed(video.frames[3]), points=np.array([[x, y]]), point_labels=np.array([1])).mask
    assert np.array_equal(read_labels(out / "00003.png") == 1, expected)
    record = json.loads((out / "progress.json").read_text())
    assert record["finished"] is True
    assert main(args) == 0 and json.loads((out / "summary.json").read_text())["resumed"] is True
