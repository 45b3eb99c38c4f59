"""Behaviour of XMemTracker beyond the reference runs: bounded memory, objects
arriving and leaving, amend (refinement feedback), eviction with several value
groups, and the errors a user can hit."""

import numpy as np
import pytest
import torch

from tam_core.errors import CheckpointError, ConfigError, PromptError, TamError
from tam_core.trackers.xmem import XMemConfig, XMemTracker, load_xmem

H, W = 40, 56  # pads to 48x64 -> 3x4 = 12 memory elements per frame
HW = 12


def frames(n, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    for t in range(n):
        yield np.roll(base, t, axis=1)


def box(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


SMALL = XMemConfig(mem_every=1, min_mid_term_frames=2, max_mid_term_frames=4, num_prototypes=4, max_long_term_elements=16)


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_memory_is_bounded_by_config_not_video_length(seed1_network):
    tr = XMemTracker(seed1_network, SMALL)
    work, long = [], []
    for t, img in enumerate(frames(30)):
        tr.step(img, {1: box(5, 20, 5, 25)} if t == 0 else None)
        tr.commit()
        work.append(tr.memory.work_size)
        long.append(tr.memory.long_size)
    assert max(work) <= SMALL.max_mid_term_frames * HW
    assert max(long) <= SMALL.max_long_term_elements
    # consolidation ran far more often than long-term memory could hold without eviction
    consolidations = int(np.sum(np.diff(work) < 0))
    assert consolidations * SMALL.num_prototypes > 2 * SMALL.max_long_term_elements
    assert max(long) == SMALL.max_long_term_elements
    # the tail of the run keeps a constant footprint
    assert len(set(zip(work[-8:], long[-8:]))) <= 4


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_eviction_with_objects_added_at_different_times(seed1_network):
    # The original refuses to evict once long-term memory holds two value groups.
    tr = XMemTracker(seed1_network, SMALL)
    for t, img in enumerate(frames(30)):
        masks = {1: box(5, 20, 5, 25)} if t == 0 else {2: box(22, 38, 30, 50)} if t == 3 else None
        out = tr.step(img, masks)
        tr.commit()
        assert out.stacked.shape == (1 + len(tr.object_ids), H, W) and out.object_ids == tuple(tr.object_ids)
        assert np.isfinite(out.stacked).all()
    assert len(tr.memory.long.values) == 2
    for v in tr.memory.long.values + tr.memory.work.values:
        assert v.shape[2] <= tr.memory.long.size + tr.memory.work.size
    assert tr.memory.long.size <= SMALL.max_long_term_elements
    assert tr.object_ids == [1, 2]


def test_first_frame_returns_given_masks_and_new_objects_keep_order(seed1_network):
    tr = XMemTracker(seed1_network)
    imgs = list(frames(4))
    out = tr.step(imgs[0], {7: box(0, 10, 0, 10), 3: box(20, 30, 20, 30)})
    assert tr.object_ids == [3, 7] and out.object_ids == (3, 7)  # ids sorted within a frame
    assert out.stacked.shape == (3, H, W)
    assert out[3][25, 25] > 0.99 and out[7][5, 5] > 0.99 and out.background[35, 50] > 0.99
    out = tr.step(imgs[1], {5: box(30, 40, 0, 10)})
    assert tr.object_ids == [3, 7, 5] and out.object_ids == (3, 7, 5)
    assert out[5][35, 5] > 0.99
    # the old objects are predicted, and zeroed under the new object's mask
    assert out[3][30:40, 0:10].max() < 1e-3 and out[7][30:40, 0:10].max() < 1e-3


def test_frames_before_any_object_are_background(seed1_network):
    tr = XMemTracker(seed1_network)
    imgs = list(frames(3))
    out = tr.step(imgs[0])
    assert out.object_ids == () and out.stacked.shape == (1, H, W) and np.allclose(out.background, 1)
    out = tr.step(imgs[1], {1: box(0, 10, 0, 10)})  # object first given mid-video
    assert out.stacked.shape == (2, H, W) and out[1][5, 5] > 0.99
    assert tr.step(imgs[2]).object_ids == (1,)


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_amend_writes_the_frame_into_memory_and_steers_later_frames(seed1_network):
    cfg = XMemConfig(mem_every=5)
    imgs = list(frames(4))
    mask0 = box(5, 20, 5, 25)
    plain = XMemTracker(seed1_network, cfg)
    amended = XMemTracker(seed1_network, cfg)
    for tr in (plain, amended):
        tr.step(imgs[0], {1: mask0})
        tr.step(imgs[1])
    fixed = box(20, 38, 30, 54)
    probs = amended.amend({1: fixed})
    assert probs[1][fixed].min() > 0.99 and probs[1][~fixed].max() < 1e-3
    plain.commit()
    amended.commit()
    assert plain.memory.work_size == HW  # frame 1 is not a memory frame by itself
    assert amended.memory.work_size == 2 * HW  # the amended frame reached memory
    a, b = plain.step(imgs[2]), amended.step(imgs[2])
    assert np.abs(a.stacked - b.stacked).max() > 1e-3


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_remove_object(seed1_network):
    tr = XMemTracker(seed1_network)
    imgs = list(frames(3))
    tr.step(imgs[0], {1: box(0, 10, 0, 10), 2: box(20, 30, 20, 30)})
    tr.step(imgs[1])
    tr.remove_object(1)
    assert tr.object_ids == [2]
    out = tr.step(imgs[2])
    assert out.object_ids == (2,) and out.stacked.shape == (2, H, W)
    with pytest.raises(PromptError, match="unknown object id 1"):
        tr.remove_object(1)


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_ids_follow_their_objects_when_a_middle_channel_is_removed(seed1_network):
    """Object ids, not positions: after the middle object of three leaves, the
    others keep their own masks under their own ids (channels shift down)."""
    tr = XMemTracker(seed1_network)
    imgs = list(frames(4))
    a, b, c = box(0, 10, 0, 10), box(20, 30, 20, 30), box(30, 40, 44, 56)
    tr.step(imgs[0], {9: a, 4: b})  # channels: 4, 9
    tr.step(imgs[1], {2: c})  # channels: 4, 9, 2
    assert tr.objects.ids == (4, 9, 2) and tr.objects.channel(2) == 2
    tr.remove_object(9)
    assert tr.objects.ids == (4, 2) and tr.objects.channel(2) == 1
    out = tr.step(imgs[2], {4: b, 2: c})
    assert out.object_ids == (4, 2)
    assert out[4][b].min() > 0.99 and out[2][c].min() > 0.99 and out[2][b].max() < 1e-3
    assert set(out.hard_masks()) == {4, 2} and np.array_equal(out.hard_masks()[2], c)
    probs = tr.amend({2: a})
    assert probs[2][a].min() > 0.99 and probs[4][b].min() > 0.99


def test_correction_of_a_known_object(seed1_network):
    tr = XMemTracker(seed1_network)
    imgs = list(frames(3))
    tr.step(imgs[0], {1: box(0, 10, 0, 10), 2: box(20, 30, 20, 30)})
    tr.step(imgs[1])
    new = box(25, 40, 40, 56)
    out = tr.step(imgs[2], {2: new})
    assert out[2][new].min() > 0.99 and out[2][~new].max() < 1e-3
    assert out[1][new].max() < 1e-3


def test_errors(seed1_network):
    tr = XMemTracker(seed1_network)
    img = next(frames(1))
    with pytest.raises(ConfigError, match="uint8"):
        tr.step(img.astype(np.float32))
    with pytest.raises(PromptError, match="mask shape"):
        tr.step(img, {1: np.zeros((H + 1, W), bool)})
    tr.reset()
    tr.step(img, {1: box(0, 10, 0, 10)}, end=True)
    with pytest.raises(TamError, match="ended"):
        tr.step(img)
    tr.reset()
    tr.step(img, {1: box(0, 10, 0, 10)})
    with pytest.raises(ConfigError, match="frame size changed"):
        tr.step(img[:-2])
    with pytest.raises(ConfigError, match="CUDA"):
        XMemTracker(seed1_network, autocast_dtype="fp16")
    with pytest.raises(ConfigError, match="min_mid_term_frames"):
        XMemConfig(min_mid_term_frames=1)


def test_strict_checkpoint_errors(seed1_weights, tmp_path):
    state = torch.load(seed1_weights, weights_only=True)
    broken = dict(state)
    broken.pop("decoder.pred.bias")
    broken["decoder.extra.weight"] = torch.zeros(1)
    broken["key_proj.key_proj.bias"] = torch.zeros(3)
    path = tmp_path / "broken.pth"
    torch.save(broken, path)
    with pytest.raises(CheckpointError) as err:
        load_xmem(path)
    msg = str(err.value)
    assert "missing keys: decoder.pred.bias" in msg
    assert "unexpected keys: decoder.extra.weight" in msg
    assert "key_proj.key_proj.bias (3,) != (64,)" in msg
    assert "XMem-s012.pth" in msg

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(seed1_weights.read_bytes()[: 1 << 20])
    with pytest.raises(CheckpointError, match="truncated"):
        load_xmem(truncated)
    with pytest.raises(CheckpointError, match="not found"):
        load_xmem(tmp_path / "nope.pth")


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_removing_the_first_object_drops_the_memory_only_it_used(seed1_network):
    cfg = XMemConfig(mem_every=1)
    tr = XMemTracker(seed1_network, cfg)
    imgs = list(frames(5))
    tr.step(imgs[0], {1: box(0, 10, 0, 10)})
    tr.step(imgs[1])
    tr.step(imgs[2], {2: box(20, 30, 20, 30)})
    tr.commit()
    assert tr.memory.work_size == 3 * HW
    tr.remove_object(1)
    # object 2's values cover only the frame it arrived on: the older keys go
    assert tr.memory.work_size == HW
    assert [v.shape[2] for v in tr.memory.work.values] == [HW]
    ro = np.asarray(imgs[3]).copy()
    ro.setflags(write=False)  # decoded frames are often read-only
    out = tr.step(ro)
    assert out.object_ids == (2,) and np.isfinite(out.stacked).all()
