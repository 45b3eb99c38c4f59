"""benchmarks/peers.py and plot_peers.py on a tiny clip (ours only: SAM 2 is an optional extra)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.bench.test_davis import _load

peers = _load("peers")
plot_peers = _load("plot_peers")


def test_summarise_means_the_per_frame_times():
    row = peers.summarise("ours", 3, {"load_s": 0.0, "wall": [1.0, 3.0], "cpu": [0.5, 1.5], "peak_rss_mib": 900.0})
    assert row == {"impl": "ours", "length": 3, "wall_s_per_frame": 2.0, "cpu_s_per_frame": 1.0, "load_s": 0.0,
                   "peak_rss_mib": 900.0, "peak_gpu_mib": None}


@pytest.mark.slow  # > 3 s on the 2-core CPU (pytest --durations)
def test_run_ours_times_every_frame_but_the_annotated_one():
    r = peers.run_ours(4, (32, 48), 1)
    assert len(r["wall"]) == len(r["cpu"]) == 3
    assert all(w > 0 for w in r["wall"])


@pytest.mark.slow
def test_one_child_process_per_length_and_a_plot(tmp_path):
    out = tmp_path / "peers.json"
    assert peers.main(["--impls", "ours", "--lengths", "2", "3", "--size", "32", "48", "--objects", "1",
                       "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [(r["impl"], r["length"]) for r in data["rows"]] == [("ours", 2), ("ours", 3)]
    # each row is its own process: a fresh peak RSS (a whole torch process is > 100 MiB)
    assert all(r["peak_rss_mib"] > 100 for r in data["rows"])
    png = tmp_path / "peers.png"
    plot_peers.main([str(out), "--out", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lengths_below_two_are_refused():
    with pytest.raises(SystemExit):
        peers.main(["--lengths", "1"])


def test_clip_is_the_speed_benchmarks_clip():
    frames, first = peers._clip(3, (32, 48), 2)
    assert frames.shape == (3, 32, 48, 3) and frames.dtype == np.uint8
    assert set(np.unique(first)) == {0, 1, 2}
