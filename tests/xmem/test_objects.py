"""ObjectManager: the one owner of object id <-> channel in an XMem pass."""

import numpy as np
import pytest

from tam_core.errors import PromptError
from tam_core.trackers.xmem.objects import ObjectManager


def test_channels_follow_arrival_then_shift_down_on_removal():
    om = ObjectManager()
    assert om.add([7, 3]) == [3, 7]  # new ids of one frame: increasing order
    assert om.add([5, 3]) == [5]  # known ids keep their channel
    assert om.ids == (3, 7, 5) and [om.channel(o) for o in (3, 7, 5)] == [0, 1, 2]
    assert len(om) == 3 and 7 in om and 4 not in om
    assert om.remove(7) == 1
    assert om.ids == (3, 5) and om.channel(5) == 1
    with pytest.raises(PromptError, match=r"unknown object id 7; known: \[3, 5\]"):
        om.channel(7)
    with pytest.raises(PromptError, match="unknown object id 9"):
        om.remove(9)


def test_to_probs_keys_rows_by_id():
    om = ObjectManager()
    om.add([8])
    om.add([2])
    stacked = np.stack([np.full((2, 2), v, np.float32) for v in (0.1, 0.8, 0.1)])
    probs = om.to_probs(stacked)
    assert probs.object_ids == (8, 2)
    assert probs[8][0, 0] == np.float32(0.8) and probs[2][0, 0] == np.float32(0.1)
    assert probs.label_map().tolist() == [[8, 8], [8, 8]]
