"""No dead hooks or helpers (issue 12): every hookspec metaxy declares is called by metaxy, and
no docstring or comment in the code carries a benchmark number (they live in
docs/performance.md, where they are dated)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pluggy

from metaxy import hookspecs, plugins

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "metaxy").rglob("*.py"), *(ROOT / "plugins").glob("*/metaxy_*/*.py")])
# a measured number: "1.45x", "~13 ms", "2.9 GiB", "15.6 s", or a pointer into benchmarks/
MEASUREMENT = re.compile(
    r"benchmarks/|\b\d+(\.\d+)?x\b|\b\d+(\.\d+)? ?(ms|MiB|GiB|MB/s)\b|\b\d+\.\d+ s\b")


def _hookspec_names() -> list[str]:
    pm = pluggy.PluginManager("metaxy")
    pm.add_hookspecs(hookspecs)
    return sorted(name for name in vars(hookspecs) if name.startswith("metaxy_")
                  and pm.parse_hookspec_opts(hookspecs, name) is not None)


def test_every_hookspec_is_called() -> None:
    calls = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "metaxy").rglob("*.py"))
                      if p.name != "hookspecs.py")
    never = [name for name in _hookspec_names() if f"hook.{name}" not in calls]
    assert never == [], f"hookspecs never called by metaxy: {never}"


def test_removed_helpers_stay_removed() -> None:
    assert not hasattr(plugins, "iter_hook_results")
    for module in ("store/base.py", "graph.py"):
        assert "FeatureRef" not in (ROOT / "metaxy" / module).read_text(encoding="utf-8")


def _prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring of a module."""
    source = path.read_text(encoding="utf-8")
    found = [(tok.start[0], tok.string) for tok in
             tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                found.append((node.body[0].lineno, doc))
    return found


def test_no_benchmark_numbers_in_the_code() -> None:
    found = [f"{path.relative_to(ROOT)}:{n}: {MEASUREMENT.search(text)[0]!r}"  # type: ignore[index]
             for path in SOURCES for n, text in _prose(path) if MEASUREMENT.search(text)]
    assert found == [], "move these numbers to docs/performance.md:\n" + "\n".join(found)
