"""ObjectManager is the one owner of object id <-> channel, for the tracker and
its memory: the memory is asked by id, so no order of arrivals and removals,
and no channel policy, can hand one object another's memory."""

import numpy as np
import torch

from tam_core.trackers.xmem import XMemConfig, XMemTracker
from tam_core.trackers.xmem.memory import MemoryManager
from tam_core.trackers.xmem.objects import ObjectManager

H, W = 40, 56  # pads to 48x64 -> 3x4 = 12 memory elements per frame
# memory on every frame, consolidated into long-term memory early
SMALL = XMemConfig(mem_every=1, min_mid_term_frames=2, max_mid_term_frames=4, num_prototypes=4, max_long_term_elements=16)


def frames(n, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    return [np.roll(base, t, axis=1) for t in range(n)]


def box(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


class NewestFirst(ObjectManager):
    """Another valid channel policy: new objects take the first channels."""

    def add(self, object_ids):
        new = sorted({int(o) for o in object_ids} - set(self._ids))
        self._ids[:0] = new[::-1]
        return new


class NewestFirstTracker(XMemTracker):
    object_manager = NewestFirst


def _script(tracker, imgs):
    """Objects arrive on different frames, the first one leaves, a new one comes."""
    a, b, c = box(0, 10, 0, 10), box(20, 30, 20, 30), box(26, 40, 40, 56)
    given = {0: {1: a}, 2: {2: b}, 5: {3: c}}
    out = []
    for t, img in enumerate(imgs):
        if t == 5:
            tracker.remove_object(1)
        out.append(tracker.step(img, given.get(t), end=(t == len(imgs) - 1)))
    return out


def test_a_different_channel_order_gives_every_object_the_same_result(seed1_network):
    imgs = frames(10)
    plain, other = XMemTracker(seed1_network, SMALL), NewestFirstTracker(seed1_network, SMALL)
    a, b = _script(plain, imgs), _script(other, imgs)
    assert plain.objects.ids == (2, 3) and other.objects.ids == (3, 2)  # channels differ ...
    assert plain.memory.groups == [[2], [3]]  # ... and the memory's groups follow arrival, not channels
    assert plain.memory.long_size > 0  # consolidation ran with several groups
    for t, (x, y) in enumerate(zip(a, b)):
        assert set(x.object_ids) == set(y.object_ids), t
        for oid in x.object_ids:
            np.testing.assert_allclose(x[oid], y[oid], atol=1e-5, err_msg=f"frame {t} object {oid}")


def test_removing_the_first_object_then_adding_one_gives_it_a_fresh_memory(seed1_network):
    """Object 1 leaves, object 2 arrives: object 2's memory and results equal a
    fresh tracker's that only ever saw object 2."""
    cfg = XMemConfig(mem_every=1)
    imgs = frames(6)
    reused, fresh = XMemTracker(seed1_network, cfg), XMemTracker(seed1_network, cfg)
    reused.step(imgs[0], {1: box(0, 10, 0, 10)})
    reused.step(imgs[1])
    reused.remove_object(1)
    b = box(20, 30, 20, 30)
    for t in range(2, 6):
        given = {2: b} if t == 2 else None
        x, y = reused.step(imgs[t], given), fresh.step(imgs[t], given)
        assert x.object_ids == y.object_ids == (2,)
        np.testing.assert_allclose(x[2], y[2], atol=1e-6)
    qk = torch.randn(64, 12, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():  # the memory's tensors are inference tensors (read counts usage in place)
        mine, theirs = reused.memory.read(qk, None, [2]), fresh.memory.read(qk, None, [2])
    np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-6)


def test_the_memory_answers_by_id_in_the_order_asked():
    mem = MemoryManager(XMemConfig(enable_long_term=False))
    g = torch.Generator().manual_seed(0)
    key = lambda: torch.randn(8, 6, generator=g)  # noqa: E731  CK=8, HW=6
    mem.add(key(), torch.ones(6), None, torch.randn(1, 4, 6, generator=g), [5])
    mem.add(key(), torch.ones(6), None, torch.randn(2, 4, 6, generator=g), [3, 5])  # 3 arrives (after 5)
    assert mem.groups == [[5], [3]] and mem.object_ids == {3, 5} and 3 in mem and 4 not in mem
    qk = torch.randn(8, 6, generator=g)
    both = mem.read(qk, None, [3, 5])
    assert torch.equal(both[0], mem.read(qk, None, [3])[0]) and torch.equal(both[1], mem.read(qk, None, [5])[0])
    assert torch.equal(mem.read(qk, None, [5, 3]), both.flip(0))
    mem.remove_object(5)
    assert torch.equal(mem.read(qk, None, [3]), both[:1])  # 3 keeps its own values
