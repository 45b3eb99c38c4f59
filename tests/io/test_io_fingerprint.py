"""Content fingerprints (tam_core.fingerprint): the same bytes by any path give
the same digest; other bytes at the same path give another."""

from __future__ import annotations

import os

import numpy as np

from tam_core.fingerprint import file_digest, files_digest, video_fingerprint
from tam_core.video import open_video


def test_file_digest_is_the_content_not_the_path(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "sub" / "b.bin"
    b.parent.mkdir()
    data = os.urandom(10_000)
    a.write_bytes(data)
    b.write_bytes(data)
    assert file_digest(a) == file_digest(b) == file_digest(tmp_path / "sub" / ".." / "a.bin")
    a.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit changed
    assert file_digest(a) != file_digest(b)


def test_large_files_are_sampled_with_size_and_mtime(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(8 << 20))  # 8 MiB, sampled when the limit is 1 MiB
    first = file_digest(path, whole_file_limit=1 << 20)
    with open(path, "r+b") as f:  # a byte inside the first sampled block
        f.seek(10)
        f.write(b"\x01")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_digest(path, whole_file_limit=1 << 20) != first
    before = file_digest(path, whole_file_limit=1 << 20)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: may have been edited
    assert file_digest(path, whole_file_limit=1 << 20) != before


def test_frame_folders_by_names_sizes_and_content(tmp_path):
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{t:05d}.png")
    one = video_fingerprint(open_video(folder))
    assert one == video_fingerprint(open_video(f"{folder}/../frames/")) and one.startswith("frames:")
    Image.fromarray(frames[1][::-1].copy()).save(folder / "00001.png")
    assert video_fingerprint(open_video(folder)) != one
    assert files_digest([folder / "00000.png"]) != files_digest([folder / "00001.png"])


def test_arrays_by_their_pixels():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    one = video_fingerprint(open_video(frames))
    frames2 = frames.copy()
    frames2[1, 0, 0, 0] = 1
    assert video_fingerprint(open_video(frames2)) != one == video_fingerprint(open_video(frames.copy()))
