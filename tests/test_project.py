"""Project-level promises: the README's set-up commands, CI calling the test
command verbatim, the dependency direction, and a quiet import."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_starts_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    setup = text.index("## Set up")
    assert setup < 1200 and text.index("```bash", setup) < setup + 400
    demo, tests = _readme_commands()
    assert demo == 'pip install -e ".[all]" && tam-label demo'
    assert tests == 'pip install -e ".[all,dev]" && python -m pytest'


def test_ci_runs_the_readme_test_command_verbatim_and_fails_on_no_tests():
    ci = (ROOT / ".ci" / "run").read_text()
    assert _readme_commands()[1] in ci.splitlines()
    assert '"$rc" -eq 5' in ci


def test_ci_lints_with_the_pinned_ruff_before_the_tests():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(re.fullmatch(r"ruff==[\d.]+", d) for d in project["project"]["optional-dependencies"]["dev"])
    assert project["tool"]["ruff"]["lint"]["select"] == ["E", "F", "W"]
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines.index("ruff check .") < lines.index(_readme_commands()[1])


def test_no_file_cites_a_machine_path_or_the_sibling_shared_folder():
    """A fresh clone must make sense alone: docs and tests cite files in the
    repository, never this machine's folders or a ``shared`` folder beside it."""
    banned = re.compile("|".join(re.escape(s) for s in ("../" + "shared", "/wo" + "rk/", "/ro" + "ot/")))
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / ".ci" / "run"]
    for folder in ("tam_core", "operators", "plugin", "tests", "docs", "benchmarks"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".md", ".yml", ".yaml", ".sh", ".toml"}]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1)
             if banned.search(line)]
    assert found == []


def _imports(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_dependencies_point_one_way():
    assert not _imports("tam_core") & {"operators", "plugin", "fiftyone", "cvat_sdk"}
    assert not _imports("operators") & {"plugin", "fiftyone", "cvat_sdk"}


def test_importing_the_packages_is_light_and_changes_no_global_torch_state():
    code = (
        "import sys, torch\n"
        "before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_num_threads(),"
        " torch.is_autocast_enabled(), torch.is_grad_enabled())\n"
        "import tam_core, tam_core.trackers.xmem, tam_core.sessions.session, operators.track, plugin, plugin.cli, plugin.cvat\n"
        "after = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_num_threads(),"
        " torch.is_autocast_enabled(), torch.is_grad_enabled())\n"
        "assert before == after, (before, after)\n"
        "assert 'fiftyone' not in sys.modules and 'cvat_sdk' not in sys.modules, 'heavy import at import time'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_cli_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "plugin.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for cmd in ("demo", "track", "eval", "weights", "cvat"):
        assert cmd in out.stdout


def test_device_errors_are_actionable():
    import torch

    from tam_core.device import resolve_device
    from tam_core.errors import DeviceError

    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available.*--device cpu"):
            resolve_device("cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("gpu0")
