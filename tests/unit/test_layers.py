"""The import layers of the core package, enforced (STYLE: cli -> api -> migrations/store ->
registry/keys/hashing): a module never imports from a layer above its own, and core never
imports a plugin package. Imports under ``if TYPE_CHECKING:`` do not count."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "metaxy"
PLUGIN_PACKAGES = ("metaxy_postgres", "metaxy_dagster", "team_media", "team_speech",
                   "team_vision")

# layer of a module (by its first component under metaxy); unlisted modules are the foundation
LAYERS = {
    "engine": 1, "store": 1, "orm": 1,
    "migrations": 2, "testing": 2,
    "api": 3, "filter_syntax": 3,
    "cli": 4, "cli_confirm": 4, "cli_options": 4, "demo": 4, "render": 4, "migrations.cli": 4,
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    rest = module.split(".")[1:]
    for n in (2, 1):
        name = ".".join(rest[:n])
        if len(rest) >= n and name in LAYERS:
            return LAYERS[name]
    return 0


def _runtime_imports(tree: ast.Module) -> list[tuple[int, str]]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "metaxy":
            found += [(node.lineno, f"metaxy.{a.name}") for a in node.names]  # submodules
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def _violations() -> list[str]:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module(path)
        own = _layer(module)
        for line, imported in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            if imported.split(".")[0] in PLUGIN_PACKAGES:
                problems.append(f"{where} imports plugin package {imported}")
            elif imported.startswith("metaxy.") and _layer(imported) > own:
                problems.append(f"{where} ({module}, layer {own}) imports {imported} "
                                f"(layer {_layer(imported)})")
    return problems


def test_no_module_imports_a_higher_layer() -> None:
    assert _violations() == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from metaxy.cli import app\nfrom metaxy.api import load_project\n"
                     "from metaxy import cli\n")
    assert [m for _, m in _runtime_imports(tree)] == ["typing", "metaxy.api", "metaxy.cli"]
    assert _layer("metaxy.api.state") > _layer("metaxy.store.sql") > _layer("metaxy.keys")
    assert _layer("metaxy.migrations.cli") == _layer("metaxy.cli")
