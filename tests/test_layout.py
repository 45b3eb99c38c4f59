"""tam_core's layout: sub-packages by job, and no import circles.

Every import counts, also those inside functions and under TYPE_CHECKING: two
modules that import each other are one module split in two."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "tam_core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in (ROOT / PACKAGE).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            while t and t not in known:  # `import tam_core.x.y` attributes -> the module
                t = t.rpartition(".")[0]
            # a package's __init__ re-exporting its own sub-modules is not a circle
            if t and t != name and not (is_package and t.startswith(name + ".")):
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {n: _imports(n, p, set(mods)) for n, p in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_two_tam_core_modules_import_each_other():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_sees_a_lazy_circle():
    # the checker itself: a circle through a function-level import is found
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    src = "def f():\n    from tam_core.x import y\n"
    tmp = ROOT / "tests" / "_layout_probe.py"
    try:
        tmp.write_text(src)
        assert _imports("tam_core.z", tmp, {"tam_core.x", "tam_core.z"}) == {"tam_core.x"}
    finally:
        tmp.unlink()


def test_tam_core_is_grouped_by_job():
    top = sorted(p.stem for p in (ROOT / PACKAGE).glob("*.py") if p.stem != "__init__")
    # shared vocabulary and the loader stay at the top; everything else lives in its job's package
    assert top == ["device", "errors", "families", "fingerprint", "models", "options", "prompts", "types"]
    for job in ("segmenters", "trackers", "refinement", "sessions", "video", "weights", "evaluation"):
        assert (ROOT / PACKAGE / job / "__init__.py").is_file(), job
