"""SAM 2.1 as the tracking engine end to end, on random weights in the
official Hugging Face layout (tam_core.trackers.sam2.tiny): the CLI and a
correction through the operators, with refinement feeding masks back
(amend). Only what holds for any weights is asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from plugin.cli import main
from tam_core.video.davis import read_labels, write_labels

from .conftest import NUM_FRAMES, SIZE, click_on

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def sam2_folder(tmp_path_factory):
    from tam_core.trackers.sam2.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("sam2") / "tiny", num_maskmem=3, max_object_pointers_in_encoder=4)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, video, checkpoints, sam2_folder):
    root = tmp_path_factory.mktemp("cli_sam2")
    frames = root / "frames"
    frames.mkdir()
    for t, f in enumerate(video.frames):
        Image.fromarray(f).save(frames / f"{t:05d}.png")
    mask = root / "mask_f2.png"
    write_labels(mask, video.mask(2, 1).astype(np.uint8))
    x, y = click_on(video, 8, 3)
    prompts = ["--mask", f"2:{mask}", "--point", f"8:3:{x},{y}", "--label", "3:ball"]
    segmenter = ["--sam-type", "tiny", "--sam-checkpoint", str(checkpoints.sam), "--device", "cpu", "--no-progress"]
    sam2 = ["--tracker", "sam2:test_tiny", "--tracker-checkpoint", str(sam2_folder)]
    return dict(root=root, frames=frames, prompts=prompts, segmenter=segmenter, sam2=sam2, xmem=checkpoints.xmem)


@pytest.mark.slow
def test_cli_track_with_sam2_then_xmem_is_a_new_run(inputs, video):
    out = inputs["root"] / "out"
    args = ["track", str(inputs["frames"]), "--out", str(out), *inputs["prompts"], *inputs["segmenter"]]
    assert main(args + inputs["sam2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(p.name for p in out.glob("*.png")) == [f"{t:05d}.png" for t in range(NUM_FRAMES)]
    assert np.array_equal(read_labels(out / "00002.png") == 1, video.mask(2, 1))  # the mask prompt, exactly
    for t, objs in summary["frames"].items():
        assert set(objs) == {"1", "3"}, t  # direction both: every frame, both objects
    assert summary["fingerprint"]["models"]  # the engine is part of what identifies the run
    assert summary["timings"]["frames_tracked"] == 10 + 9 and summary["resumed"] is False
    sam2_labels = {t: read_labels(out / f"{t:05d}.png") for t in range(NUM_FRAMES)}
    assert all(v.shape == SIZE for v in sam2_labels.values())

    # the same again: nothing to do (a finished SAM 2.1 run)
    assert main(args + inputs["sam2"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["timings"]["frames_tracked"] == 0

    # XMem on the same folder is never a resume of SAM 2.1's run: it is refused or tracked anew
    assert main(args + ["--xmem-checkpoint", str(inputs["xmem"])]) == 0
    xmem = json.loads((out / "summary.json").read_text())
    assert xmem["timings"]["frames_tracked"] == 10 + 9 and xmem["resumed"] is False
    assert xmem["fingerprint"]["models"] != summary["fingerprint"]["models"]


@pytest.mark.slow
def test_session_with_sam2_yields_the_same_frames_refines_and_corrects_only_its_span(checkpoints, sam2_folder, video):
    """The propagation rule is the engine's job-independent part: SAM 2.1 yields
    exactly the (frame, objects) XMem does (tests/integration/test_session_real.py),
    refinement amends its memory, and a correction re-tracks only its span."""
    from tam_core.models import ModelOptions, load_models
    from tam_core.options import RunOptions
    from tam_core.refinement import RefineOptions
    from tam_core.sessions.session import TrackingSession
    from tam_core.types import Prompt
    from tam_core.video import open_video

    from .conftest import REFINE_ALWAYS
    from .test_session_real import EXPECTED_CORRECTION, EXPECTED_FIRST

    models = load_models(ModelOptions(sam_type="tiny", sam_checkpoint=checkpoints.sam, tracker="sam2:test_tiny",
                                      tracker_checkpoint=sam2_folder, device="cpu"))
    amends = []
    base = models.tracker_factory

    def factory(config=None):
        tracker = base(config)
        amend = tracker.amend
        tracker.amend = lambda masks: amends.append(sorted(masks)) or amend(masks)
        return tracker

    session = TrackingSession(open_video(video.frames), factory, models.segmenter, models.refiner,
                              RunOptions(direction="both", refine=True, refine_options=RefineOptions(**REFINE_ALWAYS)))
    session.add_prompt(Prompt(2, 1, mask=video.mask(2, 1)))
    x, y = click_on(video, 8, 3)
    session.add_prompt(Prompt(8, 3, points=np.array([[x, y]]), point_labels=np.array([1])))
    first = list(session.propagate())
    assert [(r.frame, r.object_ids) for r in first] == EXPECTED_FIRST
    assert amends and any(r.refined for r in first)  # refinement fed SAM's masks back into SAM 2.1's memory
    for r in first:
        assert all(r.masks[o].shape == SIZE and r.masks[o].dtype == bool for o in r.object_ids)
    assert np.array_equal(next(r for r in first if r.frame == 2).masks[1], video.mask(2, 1))
    session.add_prompt(Prompt(5, 1, mask=video.mask(5, 1)))
    second = list(session.propagate())
    assert [(r.frame, r.object_ids) for r in second] == EXPECTED_CORRECTION
    assert np.array_equal(next(r for r in second if r.frame == 5).masks[1], video.mask(5, 1))
