"""Two ``api.track`` calls on two videos in two threads, sharing one real
model set (tiny SAM + seeded XMem, SAM refinement on every frame), while a
third thread makes panel previews on a third video: the labels written equal
those of the same calls run one after the other, exactly (as in an App server,
where operators run in executor threads and panel events in a thread pool)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from plugin.fiftyone import api
from plugin.fiftyone import panel_logic as logic
from plugin.fiftyone.convert import REFINED_ATTR
from tam_core.segmenters.cache import EmbeddingCache
from tests.fiftyone.helpers import add_click, new_dataset, output_masks
from tests.real_engine import refine_every_frame, refining_models

# (object, 0-based frame) clicks per tracked video: different objects and frames
CLICKS = [[(1, 2), (2, 6)], [(3, 8), (1, 0)]]
OPTIONS = refine_every_frame()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return refining_models(tmp_path_factory.mktemp("weights"))


def prompted_dataset(tmp_path):
    """Three clips (other background noise each): two prompted for tracking, the
    third with clicks of object 1 on every frame, for previews."""
    tmp_path.mkdir()
    ds, videos = new_dataset(tmp_path, num_samples=3, seeds=[0, 5, 9])
    samples = list(ds)
    for sample, video, clicks in zip(samples, videos, CLICKS):
        for oid, frame in clicks:
            add_click(sample, video, oid, frame)
    for frame in range(videos[2].num_frames):
        add_click(samples[2], videos[2], 1, frame)
    return ds, samples


def previews(sample, segmenter) -> list[np.ndarray]:
    cache = EmbeddingCache(2)
    return [logic.preview_mask(sample, t + 1, 1, segmenter, logic.read_frame(sample, t + 1), cache=cache)
            for t in range(len(sample.frames))]


def labels(sample) -> tuple[dict, list]:
    """The masks written ({(object, frame): bool [H,W]}) and, per detection,
    (frame, object, confidence = quality, refined by SAM)."""
    masks = output_masks(sample)  # reloads the sample
    return masks, [(fn, d.index, d.confidence, d[REFINED_ATTR]) for fn, fr in sample.frames.items()
                   for d in (fr["tam_tracks"].detections if fr.has_field("tam_tracks") and fr["tam_tracks"] else [])]


def _equal(a, b) -> bool:
    (ma, da), (mb, db) = a, b
    return ma.keys() == mb.keys() and all(np.array_equal(ma[k], mb[k]) for k in ma) and da == db


@pytest.mark.slow  # real models, SAM on every frame, four tracks
def test_two_tracks_and_previews_in_threads_equal_the_same_calls_one_after_the_other(models, tmp_path):
    ds, (a, b, p) = prompted_dataset(tmp_path / "one_after_the_other")
    for s in (a, b):
        api.track(ds.select(s.id), models=models, options=OPTIONS)
    expected = [labels(a), labels(b)]
    expected_previews = previews(p, models.segmenter)
    assert all(m is not None and m.any() for m in expected_previews)
    assert any(refined for _, _, _, refined in expected[0][1] + expected[1][1])  # SAM did refine

    ds2, (a2, b2, p2) = prompted_dataset(tmp_path / "threads")
    errors, start, tracks_done, rounds = [], threading.Barrier(3), threading.Semaphore(0), []

    def tracking(sample):
        try:
            start.wait()
            api.track(ds2.select(sample.id), models=models, options=OPTIONS)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            tracks_done.release()

    def previewing():
        try:
            start.wait()
            finished = 0
            while finished < 2 or not rounds:  # previews for as long as the tracks run
                rounds.append(previews(p2, models.segmenter))
                while tracks_done.acquire(blocking=False):
                    finished += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tracking, args=(a2,)), threading.Thread(target=tracking, args=(b2,)),
               threading.Thread(target=previewing)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)
    assert not errors, errors
    assert _equal(labels(a2), expected[0]) and _equal(labels(b2), expected[1])
    assert all(len(r) == len(expected_previews) and all(np.array_equal(x, y) for x, y in zip(r, expected_previews))
               for r in rounds)
