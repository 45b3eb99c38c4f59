"""SAM 2.1 behind the Tracker contract (tam_core.trackers.sam2), on a tiny
random-weight model in the official layout.

The key property: pruning the streaming session to the frames the model reads
changes nothing - masks equal the unpruned model's exactly, over a pass much
longer than the window, with an object arriving mid-pass, an amend and a
removal - while the memory held stays flat."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("transformers")

from tam_core.errors import CheckpointError, PromptError  # noqa: E402
from tam_core.trackers.hf_stream import kept_frames  # noqa: E402

H, W, T = 48, 64, 14


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    """A tiny SAM 2.1 with a short memory (3 memory frames, 4 object pointers:
    a window of 3 frames) so a 14-frame pass is several windows long."""
    from tam_core.trackers.registry import get_family
    from tam_core.trackers.sam2.tiny import save_tiny

    folder = save_tiny(tmp_path_factory.mktemp("sam2") / "tiny", num_maskmem=3, max_object_pointers_in_encoder=4)
    return get_family("sam2").load("test_tiny", folder, "cpu")


def frames(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(T)]


def box(r0, r1, c0, c1):
    m = np.zeros((H, W), bool)
    m[r0:r1, c0:c1] = True
    return m


A, B = box(5, 20, 5, 30), box(25, 45, 35, 60)


def run(factory, video, **kw):
    """Object 1 from frame 0, object 2 arrives on frame 3, frame 6 amended, object 2 removed on frame 9."""
    from tam_core.trackers.sam2.tracker import Sam2Tracker

    tracker = Sam2Tracker(factory.model, factory.processor, **kw)
    out, held = [], []
    for t, image in enumerate(video):
        probs = tracker.step(image, {1: A} if t == 0 else {2: B} if t == 3 else None, end=t == T - 1)
        if t == 6:
            probs = tracker.amend({1: A})
        if t == 9:
            tracker.remove_object(2)
        out.append(probs)
        held.append(kept_frames(tracker.session))
    return out, held, tracker


@pytest.mark.slow
def test_pruned_stream_equals_the_unpruned_model_exactly_and_holds_a_window(factory):
    video = frames()
    full, full_held, _ = run(factory, video, prune=False)
    pruned, held, tracker = run(factory, video)
    assert tracker.window == 3
    assert [p.object_ids for p in pruned] == [(1,)] * 3 + [(1, 2)] * 7 + [(1,)] * 4
    for t, (a, b) in enumerate(zip(full, pruned)):
        assert a == b, f"frame {t} differs"  # ObjectProbs equality: same ids, bit-equal arrays
    assert full_held[-1] == (T, T - 1)  # unpruned: every frame and every tracked output kept
    assert max(f for f, _ in held) == 1  # only the current frame's pixels
    assert max(o for _, o in held) <= 2 * (tracker.window + 1)
    # and the test can fail: a window shorter than what the model reads changes the masks
    short, _, _ = run(factory, video, window=1)
    assert any(a != b for a, b in zip(full, short))


@pytest.mark.slow
def test_memory_is_flat_over_a_long_pass(factory):
    from tam_core.trackers.sam2.tracker import Sam2Tracker

    tracker = Sam2Tracker(factory.model, factory.processor)
    image = frames()[0]
    held = []
    for t in range(24):
        tracker.step(image, {1: A} if t == 0 else None)
        held.append(kept_frames(tracker.session))
    assert held[8] == held[16] == held[23] == (1, tracker.window + 1)


def test_probabilities_are_a_distribution_keyed_by_id_and_a_returning_id_is_a_new_object(factory):
    from tam_core.trackers.sam2.tracker import Sam2Tracker

    tracker = Sam2Tracker(factory.model, factory.processor)
    video = frames(1)
    probs = tracker.step(video[0], {7: A, 3: B})
    assert probs.object_ids == (3, 7) and probs.stacked.shape == (3, H, W) and probs.stacked.dtype == np.float32
    np.testing.assert_allclose(probs.stacked.sum(0), 1.0, atol=1e-5)
    assert probs.hard_masks()[7][A].mean() > 0.9  # a given mask is the object's mask on its own frame
    tracker.remove_object(7)
    assert tracker.object_ids == [3]
    probs = tracker.step(video[1], {7: B})
    assert tracker.object_ids == [3, 7] and probs.object_ids == (3, 7)
    with pytest.raises(PromptError, match="unknown object ids"):
        tracker.amend({9: A})
    with pytest.raises(PromptError, match="the frame is"):
        tracker.step(video[2], {3: np.zeros((H + 2, W), bool)})


def test_frames_before_any_object_are_kept_empty(factory):
    from tam_core.trackers.sam2.tracker import Sam2Tracker

    tracker = Sam2Tracker(factory.model, factory.processor)
    video = frames(2)
    empty = tracker.step(video[0])
    assert empty.object_ids == () and np.all(empty.background == 1)
    assert tracker.step(video[1], {1: A}).object_ids == (1,)


@pytest.mark.slow
def test_two_threads_on_one_model_equal_one_after_the_other(factory):
    videos = [frames(3), frames(4)]
    alone = [run(factory, v)[0] for v in videos]
    got = [None, None]

    def work(i):
        got[i] = run(factory, videos[i])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(a == b for i in range(2) for a, b in zip(alone[i], got[i]))


def test_a_renamed_weight_is_refused_in_one_line(tmp_path):
    from safetensors.torch import load_file, save_file

    from tam_core.trackers.registry import get_family
    from tam_core.trackers.sam2.tiny import save_tiny

    folder = save_tiny(tmp_path / "tiny")
    state = load_file(folder / "model.safetensors")
    key = next(k for k in sorted(state) if k.startswith("memory_encoder"))
    state[key + "_renamed"] = state.pop(key)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as err:
        get_family("sam2").load("test_tiny", folder, "cpu")
    assert "\n" not in str(err.value) and key in str(err.value) and "SAM 2.1 test_tiny" in str(err.value)


def test_a_missing_package_is_one_line_before_any_download(monkeypatch):
    import importlib.util

    from tam_core.errors import ConfigError
    from tam_core.models import ModelOptions, load_models

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(ConfigError, match=r"the SAM 2.1 tracker needs transformers: pip install 'tam-label\[hf\]'"):
        load_models(ModelOptions(sam_type="vit_b", tracker="sam2", device="cpu", download=False))
