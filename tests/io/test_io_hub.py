"""Hugging Face Hub weights (``tam_core.weights.hub``): a snapshot in HF's cache
layout is found offline and checked against the SHA-256 the Hub published
(its blob name); offline, gated and missing repos give one line saying what to
do. Never the internet: a hand-made cache and a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time

import pytest

from tam_core.errors import CheckpointError, WeightsUnavailableError
from tam_core.weights import Checkpoint, resolve_checkpoint
from tam_core.weights.hub import download_snapshot, verify_snapshot

COMMIT = "0123456789abcdef0123456789abcdef01234567"
WEIGHTS = b"\x00safetensors-bytes" * 100


def toy(**fields) -> Checkpoint:
    base = dict(name="toy_hub", filename="org/toy", url="https://huggingface.co/org/toy", family="toy",
                repo_id="org/toy", license="Apache-2.0", cli_flag="--tracker-checkpoint")
    return Checkpoint(**{**base, **fields})


def make_snapshot(cache, repo="org/toy", weights=WEIGHTS):
    """HF's cache layout: blobs named by SHA-256 (LFS files), a snapshot of links, refs/main."""
    root = cache / "huggingface" / ("models--" + repo.replace("/", "--"))
    (root / "blobs").mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    digest = hashlib.sha256(weights).hexdigest()
    (root / "blobs" / digest).write_bytes(weights)
    (root / "blobs" / "cfg").write_text('{"model_type": "toy"}')  # small files: git blob names, not SHA-256
    os.symlink(f"../../blobs/{digest}", snap / "model.safetensors")
    os.symlink("../../blobs/cfg", snap / "config.json")
    return snap, root / "blobs" / digest


def test_cached_snapshot_resolves_offline_and_is_verified(tmp_path):
    snap, _ = make_snapshot(tmp_path)
    ckpt = toy()
    found = resolve_checkpoint("toy_hub", cache_dir=tmp_path, download=False, registry={"toy_hub": ckpt})
    assert found == snap
    assert (found / "config.json").read_text() == '{"model_type": "toy"}'


def test_corrupt_weights_fail_the_hub_digest(tmp_path):
    snap, blob = make_snapshot(tmp_path)
    blob.write_bytes(WEIGHTS[:-1] + b"!")
    with pytest.raises(CheckpointError, match=r"SHA-256 .* the Hub published .*tam-label weights download toy_hub"):
        verify_snapshot(toy(), snap)


def test_a_file_changed_after_verification_is_hashed_again(tmp_path):
    snap, blob = make_snapshot(tmp_path)
    verify_snapshot(toy(), snap)  # writes the note
    verify_snapshot(toy(), snap, full_hash=False)  # trusts the note: nothing changed
    time.sleep(0.01)
    blob.write_bytes(b"X" + WEIGHTS[1:])  # same size, new mtime
    with pytest.raises(CheckpointError, match="SHA-256"):
        verify_snapshot(toy(), snap, full_hash=False)


def test_not_cached_and_no_download_says_what_to_do(tmp_path):
    with pytest.raises(WeightsUnavailableError) as err:
        resolve_checkpoint("toy_hub", cache_dir=tmp_path, download=False, registry={"toy_hub": toy()})
    text = str(err.value)
    assert "\n" not in text
    assert "tam-label weights download toy_hub" in text and "--tracker-checkpoint PATH" in text


def test_offline_download_is_one_line_naming_the_repo(tmp_path):
    with pytest.raises(WeightsUnavailableError) as err:
        download_snapshot(toy(), cache_dir=tmp_path, progress=False, endpoint="http://127.0.0.1:9")
    text = str(err.value)
    assert "\n" not in text
    assert "org/toy" in text and "connection refused" in text and "--tracker-checkpoint PATH" in text


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A Hub that refuses: gated (401 + X-Error-Code: GatedRepo) or an unknown repo (404)."""

    def do_GET(self):
        gated = self.server.mode == "gated"
        self.send_response(401 if gated else 404)
        self.send_header("X-Error-Code", "GatedRepo" if gated else "RepoNotFound")
        self.send_header("X-Error-Message", "Access to model org/toy is restricted." if gated else "Repository not found")
        self.send_header("Content-Type", "application/json")
        body = b'{"error": "refused"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    httpd.mode = "gated"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("mode", ["gated", "missing"])
def test_gated_repo_says_accept_the_license_and_set_a_token(tmp_path, hub, mode):
    hub.mode = mode  # the Hub answers "not found" to anonymous requests for some gated repos
    endpoint = f"http://127.0.0.1:{hub.server_address[1]}"
    with pytest.raises(WeightsUnavailableError) as err:
        download_snapshot(toy(gated=True, license="SAM License"), cache_dir=tmp_path, progress=False,
                          endpoint=endpoint)
    text = str(err.value)
    assert "\n" not in text
    assert "gated under the SAM License" in text and "https://huggingface.co/org/toy" in text
    assert "HF_TOKEN" in text and "hf auth login" in text


def test_unknown_public_repo_is_not_called_gated(tmp_path, hub):
    hub.mode = "missing"
    endpoint = f"http://127.0.0.1:{hub.server_address[1]}"
    with pytest.raises(CheckpointError, match="org/toy is not on the Hugging Face Hub") as err:
        download_snapshot(toy(), cache_dir=tmp_path, progress=False, endpoint=endpoint)
    assert not isinstance(err.value, WeightsUnavailableError)


def test_local_folder_in_hub_layout_is_accepted_and_a_bare_folder_is_not(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="folder without config.json"):
        resolve_checkpoint(folder)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    assert resolve_checkpoint(folder) == folder


def test_the_hubs_gated_answer_is_recognised_even_for_a_repo_not_declared_gated(tmp_path, hub):
    endpoint = f"http://127.0.0.1:{hub.server_address[1]}"
    with pytest.raises(WeightsUnavailableError, match="gated under the Apache-2.0"):
        download_snapshot(toy(), cache_dir=tmp_path, progress=False, endpoint=endpoint)
