"""FiftyOne test environment, set before fiftyone is imported (FiftyOne reads
its config at import): a private database folder and name per test session,
no analytics, our plugin discoverable from the repo root."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Importing this file a second time (as a plain module) must not point the
# environment at another database: App servers started by the tests inherit it.
if "TAM_TEST_FO_DB_DIR" not in os.environ:
    os.environ.update(
        TAM_TEST_FO_DB_DIR=tempfile.mkdtemp(prefix="tam-fo-db-"),
        FIFTYONE_DATABASE_NAME=f"tam-test-{uuid.uuid4().hex[:8]}",
    )
_DB_DIR = os.environ["TAM_TEST_FO_DB_DIR"]
os.environ.update(
    FIFTYONE_DATABASE_DIR=_DB_DIR,
    FIFTYONE_DATABASE_VALIDATION="false",
    FIFTYONE_DO_NOT_TRACK="true",
    FIFTYONE_PLUGINS_DIR=str(REPO),
    FIFTYONE_SHOW_PROGRESS_BARS="false",
)

fo = pytest.importorskip("fiftyone")


@pytest.fixture(scope="package", autouse=True)
def color_model_provider():
    """Operators here load models through the provider hook: deterministic
    doubles (tests/fiftyone/providers.py). Set for this package's tests only,
    not at import, so other packages collected in the same run keep their own
    models; restored, with ``get_models``' cache, afterwards."""
    from tam_core.models import clear_models

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.fiftyone.providers:color_models")
        clear_models()
        yield
        clear_models()


def pytest_sessionfinish(session, exitstatus):
    # Stop our mongod before deleting its folder (deleting it under a running
    # mongod made it abort with a scary "exited with error -6" message).
    import fiftyone.core.odm.database as fodb

    fodb._disconnect()
    if fodb._db_service is not None:
        fodb._db_service.stop()
    shutil.rmtree(_DB_DIR, ignore_errors=True)
