"""CvatMaskSink on its own: replace, skip identical, empty masks remove ours."""

from __future__ import annotations

import numpy as np

from helpers import make_task, source
from plugin.cvat import connect
from plugin.cvat.credentials import Credentials
from plugin.cvat.ledger import Ledger
from plugin.cvat.shapes import classify
from plugin.cvat.sink import CvatMaskSink
from plugin.cvat.task import load_task
from tam_core.types import FrameResult


def test_sink_replaces_skips_identical_and_removes_on_empty(cvat, cvat_env):
    tid, video = make_task(cvat)
    car = cvat.label_id(tid, "car")
    manual = cvat.add_shape(tid, type="points", frame=2, label_id=car, points=[1.0, 1.0])
    with connect(cvat.url, Credentials("alice", "s3cret-pass")) as conn:
        task = load_task(conn, tid)
        ledger = Ledger(tid)

        def sink():
            return CvatMaskSink(conn, task, ledger, classify(conn.annotations(tid), ledger), {1: (car, 5)}, first=2)

        m = video.mask(source(3), 1)
        sink().write([FrameResult(0, (1,), {1: m}, {1: 1.0}), FrameResult(1, (1,), {1: m}, {1: 1.0})])
        first = [s for s in cvat.shapes(tid) if s["source"] == "auto"]
        assert [(s["frame"], s["group"]) for s in first] == [(2, 5), (3, 5)]  # window offset 2, object's group
        s2 = sink()
        s2.write([FrameResult(0, (1,), {1: m}, {1: 1.0}), FrameResult(1, (1,), {1: np.zeros_like(m)}, {1: 0.0})])
        assert (s2.counts.unchanged, s2.counts.empty, s2.counts.created, s2.counts.deleted) == (1, 1, 0, 1)
        after = cvat.shapes(tid)
        assert [s["id"] for s in after] == [manual, first[0]["id"]]
        assert [(w, [e.id for e in es]) for w, es in ledger.masks.items()] == [(((car, 5), 2), [first[0]["id"]])]
