"""Helpers shared by the session and CLI tests."""

from __future__ import annotations

import numpy as np


def click(video, frame, oid):
    """A positive click (x, y) inside the object's ground truth on that frame."""
    ys, xs = np.nonzero(video.gt[frame] == oid)
    i = len(ys) // 2
    return np.array([[float(xs[i]), float(ys[i])]])


def collect(results):
    """{(frame, object id): mask} from FrameResults; fails on a duplicate."""
    out = {}
    for r in results:
        assert set(r.masks) == set(r.object_ids) == set(r.quality)
        for oid in r.object_ids:
            assert (r.frame, oid) not in out, f"object {oid} yielded twice on frame {r.frame}"
            m = r.masks[oid]
            assert m.dtype == bool and m.shape == (64, 96)
            out[(r.frame, oid)] = m
    return out
