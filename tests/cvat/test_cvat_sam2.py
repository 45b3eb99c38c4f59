"""`tam-label cvat track` with SAM 2.1 as the tracking engine, end to end
against the fake CVAT server on random weights (tiny SAM + a tiny SAM 2.1 in
the official Hugging Face layout): the person's mask prompt is uploaded
exactly, every other frame of the object gets at most one auto mask, a re-run
changes nothing, and switching to XMem is another run."""

from __future__ import annotations

import pytest

from helpers import auto_masks, make_task, source
from plugin.cli import main
from plugin.cvat.masks import encode_mask
from tam_core.models import clear_models

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from tam_core.trackers.sam2.tiny import save_tiny
    from tests.real_engine import write_checkpoints

    root = tmp_path_factory.mktemp("weights")
    sam, xmem = write_checkpoints(root)
    return sam, xmem, save_tiny(root / "sam2", num_maskmem=3, max_object_pointers_in_encoder=4)


@pytest.mark.slow
def test_cvat_track_with_sam2(cvat, cvat_env, weights, monkeypatch):
    monkeypatch.delenv("TAM_LABEL_MODEL_PROVIDER", raising=False)
    clear_models()
    sam, xmem, folder = weights
    tid, video = make_task(cvat, num_frames=12, start=0, step=1, stop=11)
    car = cvat.label_id(tid, "car")
    truth = video.mask(source(2, 0, 1), 1)
    cvat.add_shape(tid, type="mask", frame=2, label_id=car, points=[float(p) for p in encode_mask(truth)])
    base = ["cvat", "track", "--server", cvat.url, "--task", str(tid), "--no-progress", "--device", "cpu",
            "--sam-type", "tiny", "--sam-checkpoint", str(sam)]
    engine = ["--tracker", "sam2:test_tiny", "--tracker-checkpoint", str(folder)]
    try:
        assert main(base + engine) == 0
        got = auto_masks(cvat, tid, video)
        assert set(k[:2] for k in got) <= {(car, 0)} and got, got.keys()
        assert 2 not in {k[2] for k in got}  # the person's own mask prompt stays theirs, no auto mask on it
        first = cvat.shapes(tid)
        assert main(base + engine) == 0
        assert cvat.shapes(tid) == first  # nothing changed: nothing re-uploaded
        assert main(base + ["--xmem-checkpoint", str(xmem)]) == 0  # another engine: another run
        assert [s for s in cvat.shapes(tid) if s["source"] == "manual"] == [s for s in first if s["source"] == "manual"]
    finally:
        clear_models()
