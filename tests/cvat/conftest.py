"""Fixtures for the CVAT tests: a fake CVAT server (tests/cvat/fake_cvat.py) on
127.0.0.1 with a synthetic video task, and the deterministic model doubles."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

pytest.importorskip("cvat_sdk")

from fake_cvat import FakeCvat  # noqa: E402


@pytest.fixture
def cvat():
    with FakeCvat() as server:
        yield server


@pytest.fixture
def cvat_env(monkeypatch, tmp_path):
    """Credentials and a private state dir in the environment."""
    monkeypatch.setenv("CVAT_USERNAME", "alice")
    monkeypatch.setenv("CVAT_PASSWORD", "s3cret-pass")
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("TAM_LABEL_CACHE", str(tmp_path / "cache"))
    return tmp_path
