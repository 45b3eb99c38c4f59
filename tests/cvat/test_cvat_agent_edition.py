"""Issue 22 item 10: ``tam-label cvat agent`` on a community server (no
``/api/functions``, as CVAT 2.23.1 CE) is one line naming the version and
pointing to ``cvat track``/``fix``, before cvat-cli runs or a model loads."""

from __future__ import annotations

import pytest

from fake_agent import FakeAgentCvat
from plugin.cli import main
from plugin.cvat.credentials import Credentials
from plugin.cvat.edition import NoFunctionsError, require_functions
from tam_core.models import clear_models, load_count

pytest.importorskip("cvat_cli")


def test_a_community_server_is_refused_in_one_line_before_any_model(cvat, cvat_env, monkeypatch, capsys):
    monkeypatch.setenv("TAM_LABEL_MODEL_PROVIDER", "tests.providers:color_models")
    monkeypatch.setenv("HOME", str(cvat_env))  # cvat-cli's profile store stays out of the real home
    clear_models()
    loads = load_count()
    assert main(["cvat", "agent", "--server", cvat.url, "--function", "click"]) == 1
    out = capsys.readouterr()
    (line,) = out.err.strip().splitlines()
    assert "CVAT 2.23.1" in line and "community" in line and "/api/functions" in line
    assert f"tam-label cvat track --server {cvat.url}" in line and "tam-label cvat fix" in line
    assert "Traceback" not in out.err and out.out == ""
    assert load_count() == loads  # no model was loaded
    assert [(m, p) for m, p, _ in cvat.requests] == [("GET", "/api/server/about"), ("GET", "/api/functions")]
    assert "s3cret-pass" not in out.err


def test_a_server_with_functions_passes_the_check():
    with FakeAgentCvat() as fake:  # CVAT Online/Enterprise: /api/functions exists (405 to a GET of the list here)
        about = require_functions(fake.url, Credentials("alice", "s3cret-pass"))
        assert about["version"] == fake.version
        with pytest.raises(NoFunctionsError):  # and the same server without the endpoint is refused
            fake.routes = [r for r in fake.routes if not r.pattern.startswith(r"/api/functions")]
            require_functions(fake.url, Credentials("alice", "s3cret-pass"))
