from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from tam_core.errors import VideoError
from tam_core.video import FileVideo, FrameIndexError, VideoOptions, open_video, write_video

from io_media import H, T, W, index_frame, read_index


def ids(items):
    return [(i, read_index(f)) for i, f in items]


# -- video files -------------------------------------------------------------------
def test_file_metadata_and_forward_order(clip_mp4):
    video = open_video(clip_mp4)
    assert (video.num_frames, video.size, video.fps) == (T, (H, W), 25.0)
    assert [read_index(video[t]) for t in (T - 1, 0, 3)] == [T - 1, 0, 3]  # random access, any order
    assert video.rotation == 0
    frames = list(video.iter_frames())
    assert [i for i, _ in frames] == list(range(T))
    assert all(f.dtype == np.uint8 and f.shape == (H, W, 3) for _, f in frames)
    # Each decoded frame shows its own index: presentation order, 0-based.
    assert ids(frames) == [(i, i) for i in range(T)]


def test_file_has_several_keyframes(clip_mp4):
    video = open_video(clip_mp4)
    assert len(video._keyframes) >= 3  # otherwise the seek/reverse tests test nothing


def test_random_access_in_any_order(clip_mp4):
    video = open_video(clip_mp4, options=VideoOptions(cache_frames=2))
    order = [39, 0, 17, 18, 19, 5, 30, 29, 10, 9, 39, 1]
    assert [read_index(video[i]) for i in order] == order
    assert read_index(video[np.int64(7)]) == 7


def test_reverse_equals_forward_reversed(clip_mp4):
    video = open_video(clip_mp4)
    forward = ids(video.iter_frames(3, 33))
    backward = ids(video.iter_frames(3, 33, reverse=True))
    assert backward == forward[::-1]
    assert backward[0] == (32, 32) and backward[-1] == (3, 3)


def test_reverse_decodes_each_block_once(clip_mp4, monkeypatch):
    """Reverse iteration seeks once per keyframe interval, never once per frame."""
    video = open_video(clip_mp4)
    seeks = []
    original = FileVideo._decode_from

    def counting(self, container, first):
        seeks.append(first)
        return original(self, container, first)

    monkeypatch.setattr(FileVideo, "_decode_from", counting)
    assert ids(video.iter_frames(reverse=True)) == [(i, i) for i in reversed(range(T))]
    assert len(seeks) == len(video._keyframes)


def test_sequential_indexing_continues_one_decode(clip_mp4, monkeypatch):
    """video[i] for increasing i (the usual loop) must not seek per frame."""
    video = open_video(clip_mp4, options=VideoOptions(cache_frames=0))
    seeks = []
    original = FileVideo._decode_from
    monkeypatch.setattr(FileVideo, "_decode_from", lambda self, c, first: seeks.append(first) or original(self, c, first))
    assert [read_index(video[i]) for i in range(T)] == list(range(T))
    assert seeks == [0]
    read_index(video[3])  # going back: one new seek
    assert len(seeks) == 2


def test_reverse_with_memory_bound_smaller_than_a_keyframe_interval(clip_mp4):
    three_frames = 3 * H * W * 3
    video = open_video(clip_mp4, options=VideoOptions(reverse_block_bytes=three_frames))
    assert ids(video.iter_frames(0, T, reverse=True)) == [(i, i) for i in reversed(range(T))]


def test_empty_and_partial_ranges(clip_mp4):
    video = open_video(clip_mp4)
    assert list(video.iter_frames(5, 5)) == []
    assert ids(video.iter_frames(38)) == [(38, 38), (39, 39)]
    assert ids(video.iter_frames(0, 1, reverse=True)) == [(0, 0)]


def test_mkv_without_frame_count_in_header(tmp_path):
    """Matroska stores no frame count (stream.frames == 0): we count packets."""
    import av

    path = tmp_path / "clip.mkv"
    write_video(path, (index_frame(i) for i in range(23)), fps=30)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0
    video = open_video(path)
    assert video.num_frames == 23 and video.fps == 30.0
    assert ids(video.iter_frames(reverse=True)) == [(i, i) for i in reversed(range(23))]


def test_rotation_is_reported_not_applied(tmp_path):
    import av

    path = tmp_path / "rotated.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.set_display_rotation(90)
        for i in range(4):
            for packet in stream.encode(av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    video = open_video(path)
    assert video.rotation == 90
    assert video.size == (H, W) and video[2].shape == (H, W, 3)
    assert read_index(video[2]) == 2


# -- errors ------------------------------------------------------------------------
def test_missing_path(tmp_path):
    with pytest.raises(VideoError, match="does not exist: .*nope.mp4"):
        open_video(tmp_path / "nope.mp4")


def test_corrupt_and_empty_files(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(VideoError, match="not a readable video file"):
        open_video(junk)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="is empty"):
        open_video(empty)


def test_truncated_file(tmp_path, clip_mp4):
    cut = tmp_path / "cut.mp4"
    data = clip_mp4.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated"):
        open_video(cut)


def test_no_video_stream(tmp_path):
    import av

    path = tmp_path / "audio.mka"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    with pytest.raises(VideoError, match="no video stream"):
        open_video(path)


def test_index_out_of_range(clip_mp4):
    video = open_video(clip_mp4)
    for bad in (T, -1, 1000):
        with pytest.raises(IndexError, match=r"out of range: the video has frames 0\.\.39"):
            video[bad]
    with pytest.raises(FrameIndexError):
        list(video.iter_frames(0, T + 1))
    with pytest.raises(VideoError, match="must be an integer"):
        video["3"]


# -- folders -----------------------------------------------------------------------
def test_png_folder_exact_pixels_sorted_by_name(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(12, 20, 30, 3), dtype=np.uint8)
    for i in range(12):  # written out of order; zero-padded names sort by index
        j = 11 - i
        Image.fromarray(frames[j]).save(tmp_path / f"{j:05d}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    video = open_video(tmp_path, fps=24)
    assert (video.num_frames, video.size, video.fps) == (12, (20, 30), 24)
    assert np.array_equal(video[7], frames[7])
    got = list(video.iter_frames(2, 9, reverse=True))
    assert [i for i, _ in got] == list(range(8, 1, -1))
    assert all(np.array_equal(f, frames[i]) for i, f in got)


def test_jpeg_folder_and_grayscale_frames_become_rgb(tmp_path):
    Image.fromarray(index_frame(5)).save(tmp_path / "00000.jpg", quality=95)
    Image.fromarray(index_frame(6)[..., 0]).save(tmp_path / "00001.jpg", quality=95)  # mode L
    video = open_video(tmp_path)
    assert video.num_frames == 2
    assert video[1].shape == (H, W, 3)
    assert [read_index(f) for _, f in video.iter_frames()] == [5, 6]


def test_folder_with_mixed_sizes(tmp_path):
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "00000.png")
    Image.fromarray(np.zeros((20, 32, 3), np.uint8)).save(tmp_path / "00001.png")
    with pytest.raises(VideoError, match="different sizes: 00000.png is 30x20, 00001.png is 32x20"):
        open_video(tmp_path)


def test_folder_without_frames(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(VideoError, match="no .jpg/.jpeg/.png frames"):
        open_video(tmp_path)


# -- arrays ------------------------------------------------------------------------
def test_array_source_is_exact_and_read_only():
    frames = np.stack([index_frame(i) for i in range(5)])
    video = open_video(frames, fps=10)
    assert (video.num_frames, video.size, video.fps) == (5, (H, W), 10)
    assert np.shares_memory(video[3], frames)  # no copy of the whole video
    with pytest.raises(ValueError):
        video[3][0, 0, 0] = 1
    assert frames.flags.writeable  # the caller's array is untouched
    assert ids(video.iter_frames(1, 4, reverse=True)) == [(3, 3), (2, 2), (1, 1)]


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((4, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8, 3), np.uint8), r"shape \[T,H,W,3\].*got \(8, 8, 3\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), r"got \(2, 8, 8, 4\)"),
        (np.zeros((0, 8, 8, 3), np.uint8), "zero frames"),
    ],
)
def test_array_validation(array, message):
    with pytest.raises(VideoError, match=message):
        open_video(array)


def test_unsupported_source_type():
    with pytest.raises(VideoError, match="cannot open list"):
        open_video([1, 2, 3])


# -- writing -----------------------------------------------------------------------
def test_write_video_is_h264_yuv420p(tmp_path):
    import av

    path = tmp_path / "out.mp4"
    assert write_video(path, [index_frame(i) for i in range(6)], fps=29.97) == 6
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert abs(float(stream.average_rate) - 29.97) < 1e-3
    assert [read_index(f) for _, f in open_video(path).iter_frames()] == list(range(6))


def test_write_video_errors_leave_no_file(tmp_path):
    path = tmp_path / "odd.mp4"
    with pytest.raises(VideoError, match="even frame sizes"):
        write_video(path, [np.zeros((9, 10, 3), np.uint8)], fps=10)
    assert not path.exists()
    with pytest.raises(VideoError, match="no frames"):
        write_video(path, [], fps=10)
    assert not path.exists()
    with pytest.raises(VideoError, match=r"frame 1 is 12x10, expected 10x10"):
        write_video(path, [np.zeros((10, 10, 3), np.uint8), np.zeros((10, 12, 3), np.uint8)], fps=10)
    assert not path.exists()
