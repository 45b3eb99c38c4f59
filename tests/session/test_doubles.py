"""The doubles reproduce the synthetic ground truth exactly (other tests rely on it)."""

import numpy as np
import pytest

from tests.doubles import ArrayFrames, ColorSegmenter, ColorTrackerFactory, low_res_to_mask
from tests.synthetic import make_video, write_h264


@pytest.fixture(scope="module")
def video():
    return make_video(num_frames=12)


def _center(mask):
    ys, xs = np.nonzero(mask)
    i = len(ys) // 2
    return float(xs[i]), float(ys[i])


def test_video_is_deterministic_and_objects_enter_late(video):
    again = make_video(num_frames=12)
    assert np.array_equal(video.frames, again.frames) and np.array_equal(video.gt, again.gt)
    assert video.frames.dtype == np.uint8 and video.frames.shape == (12, 64, 96, 3)
    assert not (video.gt[:5] == 3).any() and (video.gt[5] == 3).any()
    assert all((video.gt[t] == 1).any() and (video.gt[t] == 2).any() for t in range(12))
    assert len({video.index_of(f) for f in video.frames}) == 12


def test_segmenter_click_box_and_mask_give_ground_truth(video):
    seg = ColorSegmenter()
    emb = seg.embed(video.frames[4])
    gt1 = video.mask(4, 1)
    out = seg.predict(emb, points=np.array([_center(gt1)]), point_labels=np.array([1]))
    assert np.array_equal(out.mask, gt1) and out.low_res_logits.shape == (1, 256, 256)
    ys, xs = np.nonzero(video.mask(4, 2))
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], float)
    assert np.array_equal(seg.predict(emb, box=box).mask, video.mask(4, 2))
    assert np.array_equal(seg.predict(emb, mask_input=out.low_res_logits).mask, gt1)
    assert np.array_equal(seg.predict(emb, mask_input=seg.mask_to_logits(gt1)).mask, gt1)
    # A negative click on the same object removes it.
    both = seg.predict(emb, points=np.array([_center(gt1), _center(gt1)]), point_labels=np.array([1, 0]))
    assert not both.mask.any()
    assert seg.embed_calls == 1 and seg.predict_calls == 5
    # The low-res logits round-trip to the mask up to resampling at the border.
    assert (low_res_to_mask(out.low_res_logits, (64, 96)) ^ gt1).sum() < gt1.sum() * 0.1


def test_segmenter_prompts_the_embedding_it_is_given(video):
    seg = ColorSegmenter()
    emb0, emb9 = seg.embed(video.frames[0]), seg.embed(video.frames[9])
    moving = video.mask(0, 1)
    assert not np.array_equal(moving, video.mask(9, 1))  # object 1 moved between the frames
    xy = np.array([_center(moving)])
    assert np.array_equal(seg.predict(emb0, points=xy, point_labels=np.array([1])).mask, moving)
    later = video.mask(9, 1)
    assert np.array_equal(seg.predict(emb9, points=np.array([_center(later)]), point_labels=np.array([1])).mask, later)
    assert not hasattr(seg, "set_image")  # no current image to prompt by mistake
    assert emb0.original_size == (64, 96) and seg.embed_calls == 2


def test_tracker_follows_ground_truth_and_logs_calls(video):
    factory = ColorTrackerFactory(frame_index_of=video.index_of)
    tr = factory()
    probs = tr.step(video.frames[0], {1: video.mask(0, 1), 2: video.mask(0, 2)})
    assert probs.stacked.dtype == np.float32 and probs.stacked.shape == (3, 64, 96) and probs.object_ids == (1, 2)
    for t in range(1, 12):
        masks = {3: video.mask(5, 3)} if t == 5 else None
        probs = tr.step(video.frames[t], masks, end=t == 11)
        lab = probs.label_map()
        for oid in tr.object_ids:
            assert np.array_equal(lab == oid, video.mask(t, oid)), (t, oid)
    assert tr.object_ids == [1, 2, 3]
    assert factory.stepped() == list(range(12))
    assert factory.calls[5].ids == (3,) and factory.calls[-1].end


def test_tracker_with_reversed_channels_keys_them_by_id(video):
    tr = ColorTrackerFactory(frame_index_of=video.index_of, reverse_channels=True)()
    probs = tr.step(video.frames[0], {1: video.mask(0, 1), 2: video.mask(0, 2)})
    assert probs.object_ids == (2, 1) and tr.object_ids == [1, 2]
    assert np.array_equal(probs.stacked[1] > 0.5, video.mask(0, 2))  # row 1 is object 2
    assert np.array_equal(probs[1] > 0.5, video.mask(0, 1)) and np.array_equal(probs[2] > 0.5, video.mask(0, 2))


def test_tracker_degrades_until_amended(video):
    factory = ColorTrackerFactory(frame_index_of=video.index_of, degrade_on={3})
    tr = factory()
    tr.step(video.frames[0], {1: video.mask(0, 1)})
    for t in (1, 2, 3, 4):
        probs = tr.step(video.frames[t])
    assert (probs[1] > 0.5).sum() < video.mask(4, 1).sum()
    tr.amend({1: video.mask(4, 1)})
    assert np.array_equal(tr.step(video.frames[5])[1] > 0.5, video.mask(5, 1))
    assert factory.amended() == [(4, (1,))]


def test_array_frames_counts_decodes(video):
    src = ArrayFrames(video.frames)
    assert [i for i, _ in src.iter_frames(2, 5, reverse=True)] == [4, 3, 2]
    assert src.decoded == 3


def test_write_h264_roundtrip(tmp_path, video):
    import av

    path = write_h264(tmp_path / "v.mp4", video.frames, fps=10)
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert c.streams.video[0].codec_context.name == "h264"
    assert len(decoded) == 12 and decoded[0].shape == (64, 96, 3)
    assert np.abs(decoded[6].astype(int) - video.frames[6]).mean() < 6
