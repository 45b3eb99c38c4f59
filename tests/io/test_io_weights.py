"""Checkpoint registry, cache and download, against a local HTTP server on
127.0.0.1 serving a small fake checkpoint (never the internet)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tam_core import weights
from tam_core.errors import CheckpointError, WeightsUnavailableError
from io_media import PAYLOAD, fake
from tam_core.weights import Checkpoint, REGISTRY, cached_path, download_checkpoint, resolve_checkpoint, verify_checkpoint

def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


# -- registry ------------------------------------------------------------------------
def test_registry_holds_the_official_files():
    assert set(REGISTRY) == {"sam_vit_h", "sam_vit_l", "sam_vit_b", "xmem", "sam3"} | {
        f"efficientvit_sam_{t}" for t in ("l0", "l1", "l2", "xl0", "xl1")} | {
        f"sam2.1_hiera_{t}" for t in ("tiny", "small", "base_plus", "large")}
    b = REGISTRY["sam_vit_b"]
    assert b.url == "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    assert (b.size, b.model_type, b.family, b.flag) == (375042383, "vit_b", "sam", "--sam-checkpoint")
    assert REGISTRY["sam_vit_h"].size == 2564550879 and REGISTRY["sam_vit_l"].size == 1249524607
    assert REGISTRY["xmem"].url.endswith("/v1.0/XMem-s012.pth") and REGISTRY["xmem"].flag == "--xmem-checkpoint"
    for ckpt in REGISTRY.values():
        assert ckpt.url.rsplit("/", 1)[1] == ckpt.filename or ckpt.url == f"https://huggingface.co/{ckpt.repo_id}"
        assert ckpt.sha256 is None or len(ckpt.sha256) == 64


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("TAM_LABEL_CACHE", str(tmp_path / "env"))
    assert cached_path("xmem") == tmp_path / "env" / "XMem-s012.pth"
    assert cached_path("xmem", tmp_path / "flag") == tmp_path / "flag" / "XMem-s012.pth"
    monkeypatch.delenv("TAM_LABEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.default_cache_dir() == tmp_path / "xdg" / "tam-label"


# -- resolve ---------------------------------------------------------------------------
def test_existing_local_path_is_returned_unchanged(tmp_path):
    own = tmp_path / "my_finetuned.pth"
    own.write_bytes(b"anything")
    assert resolve_checkpoint(str(own), download=False) == own
    assert resolve_checkpoint(own) == own


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint file not found: .*missing\.pth"):
        resolve_checkpoint(str(tmp_path / "missing.pth"))
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        resolve_checkpoint("weights/sam.pth")
    with pytest.raises(CheckpointError, match="unknown checkpoint 'sam_vit_x': use one of efficientvit_sam_l0, .*, sam_vit_b, sam_vit_h, sam_vit_l, xmem"):
        resolve_checkpoint("sam_vit_x", cache_dir=tmp_path)
    with pytest.raises(CheckpointError, match="is a folder"):
        resolve_checkpoint(tmp_path)


def test_not_cached_without_download_says_where_to_put_it(tmp_path):
    with pytest.raises(WeightsUnavailableError) as err:
        resolve_checkpoint("sam_vit_b", cache_dir=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path / "sam_vit_b_01ec64.pth") in msg
    assert "tam-label weights download sam_vit_b" in msg and "--sam-checkpoint PATH" in msg


# -- download ------------------------------------------------------------------------
def test_download_success_then_cached(server, tmp_path):
    ckpt = fake(server)
    registry = {ckpt.name: ckpt}
    path = resolve_checkpoint("fake_sam", cache_dir=tmp_path, progress=False, registry=registry)
    assert path == tmp_path / "fake_sam_0123.pth"
    assert path.read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["fake_sam_0123.pth", "fake_sam_0123.pth.verified"]
    # Second resolve: no network, no re-hash (the note matches size and mtime).
    server.mode = "404"
    calls = []
    real = weights.sha256_file
    weights.sha256_file = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        assert resolve_checkpoint("fake_sam", cache_dir=tmp_path, progress=False, registry=registry) == path
    finally:
        weights.sha256_file = real
    assert len(server.requests) == 1 and calls == []


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.mode = "wrong"
    with pytest.raises(CheckpointError, match=r"not the expected file \(SHA-256 mismatch\) and was deleted; .*put it at ") as err:
        download_checkpoint(fake(server), cache_dir=tmp_path, progress=False)
    assert not isinstance(err.value, WeightsUnavailableError)
    assert leftovers(tmp_path) == []


def test_interrupted_download_never_looks_complete_and_resumes(server, tmp_path):
    ckpt = fake(server)
    server.mode = "close_early"
    with pytest.raises(WeightsUnavailableError, match=r"interrupted after \d+ bytes.*run the same command again to resume"):
        download_checkpoint(ckpt, cache_dir=tmp_path, progress=False)
    assert not (tmp_path / ckpt.filename).exists()
    part = tmp_path / (ckpt.filename + ".part")
    assert 0 < part.stat().st_size < len(PAYLOAD)
    kept = part.stat().st_size
    server.mode = "ok"
    path = download_checkpoint(ckpt, cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[-1]["Range"] == f"bytes={kept}-"
    assert not part.exists()


def test_resume_when_server_ignores_range_starts_over(server, tmp_path):
    ckpt = fake(server)
    (tmp_path / (ckpt.filename + ".part")).write_bytes(b"garbage" * 10)
    server.mode = "no_range"
    assert download_checkpoint(ckpt, cache_dir=tmp_path, progress=False).read_bytes() == PAYLOAD


def test_offline_message_names_file_url_and_destination(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ckpt = Checkpoint("fake_xmem", "fake_xmem.pth", f"http://127.0.0.1:{port}/fake_xmem.pth", family="xmem")
    with pytest.raises(WeightsUnavailableError) as err:
        resolve_checkpoint("fake_xmem", cache_dir=tmp_path, progress=False, registry={"fake_xmem": ckpt})
    msg = str(err.value)
    assert msg.startswith(f"cannot download fake_xmem.pth from {ckpt.url} (connection refused)")
    assert f"put it at {tmp_path / 'fake_xmem.pth'}" in msg and "--xmem-checkpoint PATH" in msg
    assert "\n" not in msg
    assert leftovers(tmp_path) == []


def test_http_error(server, tmp_path):
    server.mode = "404"
    with pytest.raises(WeightsUnavailableError, match=r"\(HTTP 404\)"):
        download_checkpoint(fake(server), cache_dir=tmp_path, progress=False)


# -- verify ----------------------------------------------------------------------------
def test_verify_truncated_and_corrupt(server, tmp_path):
    ckpt = fake(server)
    path = tmp_path / ckpt.filename
    path.write_bytes(PAYLOAD[:1000])
    with pytest.raises(CheckpointError, match=r"is truncated \(1000 of 1048576 bytes\); delete it and run `tam-label weights download fake_sam`"):
        verify_checkpoint(ckpt, path)
    path.write_bytes(PAYLOAD[:-1] + b"\x00")
    with pytest.raises(CheckpointError, match="SHA-256"):
        verify_checkpoint(ckpt, path)
    path.write_bytes(PAYLOAD)
    assert verify_checkpoint(ckpt, path) == path


def test_cached_file_edited_after_verification_is_rehashed(server, tmp_path):
    ckpt = fake(server)
    registry = {ckpt.name: ckpt}
    path = resolve_checkpoint("fake_sam", cache_dir=tmp_path, progress=False, registry=registry)
    path.write_bytes(PAYLOAD[:-1] + b"\x00")  # same size, new mtime: the note no longer applies
    with pytest.raises(CheckpointError, match="SHA-256"):
        resolve_checkpoint("fake_sam", cache_dir=tmp_path, progress=False, registry=registry)


def test_unhashed_checkpoint_is_checked_as_a_zip(tmp_path):
    import torch

    ckpt = Checkpoint("fake_sam_nohash", "x.pth", "http://127.0.0.1:9/x.pth", family="sam")
    good = tmp_path / "x.pth"
    torch.save({"w": torch.zeros(1000)}, good)
    assert verify_checkpoint(ckpt, good) == good
    data = good.read_bytes()
    good.write_bytes(data[: len(data) - 200])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        verify_checkpoint(ckpt, good)
    good.write_bytes(b"<html>not found</html>")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        verify_checkpoint(ckpt, good)


@pytest.fixture(scope="module")
def xmem_state():
    import torch

    from tam_core.trackers.xmem.network import XMemNetwork

    torch.manual_seed(0)
    return XMemNetwork().state_dict()


def test_xmem_is_checked_by_size_and_layout_not_only_as_a_zip(tmp_path, xmem_state, capsys):
    """XMem-s012 has no published hash: `weights verify xmem` used to say OK for
    any PyTorch zip; now the size must fit XMem's tensors and keys/shapes must match."""
    import torch

    from plugin.cli import main

    path = cached_path("xmem", tmp_path)
    torch.save(xmem_state, path)
    assert main(["weights", "verify", "xmem", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("xmem: OK (size and layout of XMem's weights")
    torch.save({"w": torch.zeros(1000)}, path)  # a valid PyTorch zip, not XMem
    assert main(["weights", "verify", "xmem", "--cache-dir", str(tmp_path)]) == 1
    assert "xmem: FAILED: " in capsys.readouterr().out
    with pytest.raises(CheckpointError, match=r"is truncated for an XMem checkpoint \(\d+ bytes; XMem's weights alone are 248881648\)"):
        verify_checkpoint("xmem", path)
    renamed = dict(xmem_state)
    renamed["key_proj.renamed.weight"] = renamed.pop("key_proj.key_proj.weight")  # same size, other layout
    torch.save(renamed, path)
    with pytest.raises(CheckpointError, match="1 missing keys: key_proj.key_proj.weight; 1 unexpected keys"):
        verify_checkpoint("xmem", path)
