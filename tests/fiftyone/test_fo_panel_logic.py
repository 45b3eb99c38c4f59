"""The panel's click -> prompt -> preview path on a real dataset (no browser)."""

import numpy as np

from plugin.fiftyone import panel_logic as logic
from tests.doubles import ColorSegmenter
from tests.fiftyone.helpers import SIZE, centre_point, iou, new_dataset


def test_click_writes_sam2_keypoints_and_previews_the_object(tmp_path):
    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    nx, ny = centre_point(video, 2, 3)
    h, w = SIZE
    logic.add_click(s, 4, 2, "box", (nx * w, ny * h), True, SIZE)
    logic.add_click(s, 4, 2, "box", (1.0, 1.0), False, SIZE)  # shift+click on background
    kp = ds.first().frames[4]["tam_prompts"].keypoints
    assert len(kp) == 1 and kp[0].index == 2 and kp[0].label == "box"
    assert kp[0]["sam2_labels"] == [1, 0] and np.allclose(kp[0].points[0], [nx, ny])
    mask = logic.preview_mask(ds.first(), 4, 2, ColorSegmenter(), logic.read_frame(ds.first(), 4))
    assert iou(mask, video.mask(3, 2)) > 0.8
    img = logic.compose(video.decoded[3], {}, mask, 2)
    assert (img[mask] != video.decoded[3][mask]).any() and np.array_equal(img[~mask & ~np.roll(mask, 1, 0)][:10], video.decoded[3][~mask & ~np.roll(mask, 1, 0)][:10])
    traces, layout = logic.plot_traces(img)
    assert layout["images"][0]["source"].startswith("data:image/png;base64,")
    assert np.asarray(traces[0]["z"]).shape == SIZE
    logic.clear_clicks(ds.first(), 4, 2)
    assert ds.first().frames[4]["tam_prompts"].keypoints == []


def test_a_click_keeps_the_class_the_object_already_has(tmp_path):
    import fiftyone as fo

    from plugin.fiftyone import api
    from tests.fiftyone.helpers import add_box
    from tests.fiftyone.providers import color_models

    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    assert logic.object_class(s, 2) is None
    add_box(s, video, 2, 3, label="car")
    api.track(ds, "boxes", models=color_models(None))
    assert logic.object_class(ds.first(), 2) == "car" and logic.object_class(ds.first(), 1) is None
    s.frames[5]["tam_prompts"] = fo.Keypoints(keypoints=[fo.Keypoint(label="ball", points=[[0.2, 0.2]], index=1)])
    s.save()
    assert logic.object_class(ds.first(), 1) == "ball"  # from its clicks while not tracked yet


def test_previews_reuse_the_frames_embedding_and_never_another_videos(tmp_path):
    """The App keeps preview embeddings keyed by (video, frame): a second click on
    a frame does not re-encode it, and the same frame number of another video
    gets that video's own embedding."""
    from tam_core.segmenters.cache import EmbeddingCache
    from tests.fiftyone.helpers import add_click as add_object_click

    ds, videos = new_dataset(tmp_path, num_samples=2, seeds=[0, 4])
    a, b = list(ds)
    add_object_click(a, videos[0], 1, 3)
    add_object_click(b, videos[1], 2, 3)  # the other video: another object on the same frame
    seg, cache = ColorSegmenter(), EmbeddingCache(4)
    first = logic.preview_mask(a, 4, 1, seg, logic.read_frame(a, 4), cache=cache)
    again = logic.preview_mask(a, 4, 1, seg, logic.read_frame(a, 4), cache=cache)
    other = logic.preview_mask(b, 4, 2, seg, logic.read_frame(b, 4), cache=cache)
    assert seg.embed_calls == 2 and seg.predict_calls == 3
    assert np.array_equal(first, again) and iou(first, videos[0].mask(3, 1)) > 0.8
    assert iou(other, videos[1].mask(3, 2)) > 0.8
    assert logic.preview_cache() is logic.preview_cache()  # one App-wide cache, made on first use


def test_a_previewed_frame_is_not_encoded_again_when_the_video_is_tracked(tmp_path):
    """Previews and tracking runs of one process share the App's cache keyed by
    (video path, frame): the keyframe the panel previewed is not encoded again."""
    from plugin.fiftyone import api
    from tests.fiftyone.helpers import add_click as add_object_click
    from tests.fiftyone.providers import color_models

    ds, (video,) = new_dataset(tmp_path)
    s = ds.first()
    add_object_click(s, video, 1, 3)  # object 1 clicked on FiftyOne frame 4
    models = color_models(None)
    seg = models.segmenter
    logic.preview_mask(s, 4, 1, seg, logic.read_frame(s, 4))
    assert seg.embed_calls == 1
    (report,) = api.track(ds, models=models)
    assert report.report is not None and seg.embed_calls == 1  # the run segmented frame 4 from the preview's embedding
