"""One model set shared by threads, as in a FiftyOne App server (operators in
executor threads, panel events in a thread pool): a track with SAM refinement
on every frame and panel-style previews on another video, at the same time,
give exactly what the same calls give one after the other.

The failure this guards against: a "current image" on the shared segmenter
(``set_image`` then ``predict``) let one caller's predictions run on the other
caller's image - wrong masks, no error."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from operators.interfaces import MemorySink
from operators.track import track
from tam_core.segmenters.cache import EmbeddingCache
from tam_core.types import Prompt
from tam_core.video import open_video
from tests.real_engine import refine_every_frame, refining_models
from tests.synthetic import make_video

from .conftest import click_on


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return refining_models(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def other_video():
    """Another clip (other seed and size): previews run on its frames."""
    return make_video(num_frames=6, size=(72, 80), seed=3)


def run_track(models, video) -> MemorySink:
    prompts = [Prompt(2, 1, points=np.array([click_on(video, 2, 1)]), point_labels=np.array([1])),
               Prompt(8, 3, points=np.array([click_on(video, 8, 3)]), point_labels=np.array([1]))]
    sink = MemorySink()
    track(open_video(video.frames), prompts, sink, models, refine_every_frame())
    return sink


def run_previews(models, video) -> list[tuple]:
    """What the panel does per click: the frame's embedding (cached by video
    and frame), then SAM on the clicks so far; a second click re-prompts."""
    seg, cache, out = models.segmenter, EmbeddingCache(2), []
    for t in range(video.num_frames):
        for oid in (1, 2):
            first = np.array([click_on(video, t, oid)])
            clicks = [(first, np.array([1])), (np.concatenate([first, [[1.5, 1.5]]]), np.array([1, 0]))]
            for points, labels in clicks:
                r = seg.predict(cache.embed(seg, ("other", t), video.frames[t]), points=points, point_labels=labels)
                out.append((t, oid, r.mask, r.iou, r.low_res_logits))
    return out


def _same_previews(a, b) -> bool:
    return len(a) == len(b) and all(x[:2] == y[:2] and np.array_equal(x[2], y[2]) and x[3] == y[3]
                                    and np.array_equal(x[4], y[4]) for x, y in zip(a, b))


@pytest.mark.slow  # a real track with SAM on every frame, twice
def test_track_and_previews_in_two_threads_equal_the_same_calls_one_after_the_other(models, video, other_video):
    expected_sink = run_track(models, video)
    expected_previews = run_previews(models, other_video)
    assert len(expected_sink.refined) >= 12  # SAM did refine (forced on every tracked frame)

    results, errors, start = {}, [], threading.Barrier(2)
    done = threading.Event()

    def tracker():
        try:
            start.wait()
            results["sink"] = run_track(models, video)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    def previewer():
        try:
            start.wait()
            rounds = []
            while not done.is_set() or not rounds:  # previews for as long as the track runs
                rounds.append(run_previews(models, other_video))
            results["previews"] = rounds
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tracker), threading.Thread(target=previewer)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)
    assert not errors, errors
    sink = results["sink"]
    assert sink.masks.keys() == expected_sink.masks.keys()
    for f, objs in expected_sink.masks.items():
        assert objs.keys() == sink.masks[f].keys(), f
        for oid, m in objs.items():
            assert np.array_equal(sink.masks[f][oid], m), (f, oid)
    assert sink.quality == expected_sink.quality and sink.refined == expected_sink.refined
    assert all(_same_previews(r, expected_previews) for r in results["previews"])
