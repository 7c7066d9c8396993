"""The import layers of the core package, enforced (STYLE: cli -> api -> migrations -> store ->
engine -> registry/keys/hashing): a module never imports from a layer above its own (imports under
``if TYPE_CHECKING:`` do not count). Issue 12's boundaries: core (and core's tests) never import a
plugin, plugins import only the public surface, nothing outside ``metaxy/store/`` touches a
store's underscore attributes, the engine never imports the store."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import metaxy as mx

ROOT = Path(__file__).resolve().parents[2] / "metaxy"
#: every plugin's and example team's import package (found on disk, so a new one is covered)
PLUGIN_PACKAGES = tuple(sorted(p.name for p in (*ROOT.parent.glob("plugins/*/metaxy_*"),
                                                *ROOT.parent.glob("teams_example/*/team_*"))
                               if p.is_dir()))

# layer of a module (by its first component under metaxy); unlisted modules are the foundation
LAYERS = {
    "engine": 1, "orm": 1,
    "store": 2,
    "migrations": 3, "testing": 3,
    "api": 4, "filter_syntax": 4,
    "cli": 5, "cli_confirm": 5, "cli_reference": 5, "cli_options": 5, "cli_copy": 5, "demo": 5,
    "render": 5, "cli_graph": 5, "cli_init": 5, "cli_delete": 5, "cli_maintenance": 5,
    "render_html": 5,
    "migrations.cli": 5,
    # the code guard: fingerprint and registry are foundation (Feature.computes uses them)
    "codeguard.records": 3, "codeguard.check": 3, "codeguard.cli": 5,
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
    assert _layer("metaxy.api.state") > _layer("metaxy.store.sql") > _layer("metaxy.engine.sql") \
        > _layer("metaxy.keys")
    assert _layer("metaxy.migrations.cli") == _layer("metaxy.cli")


# ------------------------------------------------------------ one boundary per layer (issue 12)
REPO = ROOT.parent
PUBLIC_SURFACE = frozenset({"metaxy", "metaxy.store", "metaxy.engine", "metaxy.migrations",
                            "metaxy.testing", "metaxy.hookspecs", "metaxy.errors",
                            "metaxy.columns"})
PLUGIN_SOURCES = sorted(REPO.glob("plugins/*/metaxy_*/**/*.py"))
CORE_SOURCES = sorted([*ROOT.rglob("*.py"), *(REPO / "tests").rglob("*.py")])
STRING_IMPORTS = ("import_module", "importorskip", "find_spec", "__import__")


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO)}:{line}"


def _imports(tree: ast.Module) -> list[tuple[int, str, list[str]]]:
    """Every import, ``TYPE_CHECKING`` ones included: (line, module, imported names)."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in STRING_IMPORTS:
                found.append((node.lineno, node.args[0].value, []))
    return found


def _core_imports_of_plugins() -> list[str]:
    return [f"{_where(path, line)} imports {module}"
            for path in CORE_SOURCES if path.name != "test_layers.py"
            for line, module, _ in _imports(ast.parse(path.read_text(encoding="utf-8")))
            if module.split(".")[0] in PLUGIN_PACKAGES]


def _plugin_imports_beyond_the_surface() -> list[str]:
    return [f"{_where(path, line)} imports {what}" for path in PLUGIN_SOURCES
            for line, what in _beyond_surface(ast.parse(path.read_text(encoding="utf-8")))]


def _beyond_surface(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, what) of each import of metaxy outside the public surface."""
    problems = []
    for line, module, names in _imports(tree):
        if module.split(".")[0] != "metaxy":
            continue
        if module == "metaxy":  # `from metaxy import store` imports the submodule
            problems += [(line, f"metaxy.{n}") for n in names
                         if n not in mx.__all__ and f"metaxy.{n}" not in PUBLIC_SURFACE]
        private = [n for n in names if n.startswith("_")]
        if module not in PUBLIC_SURFACE or private:
            problems.append((line, f"{module}{' ' + ', '.join(private) if private else ''}"))
    return problems


def test_the_surface_check_sees_submodules_imported_from_metaxy() -> None:
    tree = ast.parse("from metaxy import Feature, columns, errors\n"
                     "from metaxy import store_internals\nfrom metaxy.store.sql import x\n")
    assert _beyond_surface(tree) == [(2, "metaxy.store_internals"), (3, "metaxy.store.sql")]
    assert {"metaxy_clickhouse", "metaxy_ray", "team_media"} <= set(PLUGIN_PACKAGES)


def _store_private_names() -> set[str]:
    """The underscore attributes and methods of the store classes (``*Store`` and the
    ``StoreContract`` mixin in store/)."""
    names: set[str] = set()
    for path in (ROOT / "store").glob("*.py"):
        for cls in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(cls, ast.ClassDef)
                    and (cls.name.endswith("Store") or cls.name == "StoreContract")):
                continue
            for node in ast.walk(cls):
                if isinstance(node, ast.FunctionDef):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _store_internals_touched_outside_store() -> list[str]:
    """``x._name`` with ``_name`` a store's underscore attribute, outside metaxy/store/ (a backend
    implementing its own ``self._...`` methods, or calling ``super()``'s, is not touching one)."""
    private = _store_private_names()
    sources = [p for p in [*ROOT.rglob("*.py"), *PLUGIN_SOURCES]
               if not p.is_relative_to(ROOT / "store")]
    problems = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Attribute) and node.attr in private):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super":
                continue
            problems.append(f"{_where(path, node.lineno)} {ast.unparse(node)}")
    return sorted(problems)


def _engine_imports_of_store() -> list[str]:
    return [f"{_where(path, line)} imports {module}"
            for path in sorted((ROOT / "engine").rglob("*.py"))
            for line, module in _runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
            if module == "metaxy.store" or module.startswith("metaxy.store.")]


def test_core_never_imports_a_plugin() -> None:
    """Not metaxy/ nor core's tests, not even for typing or through importlib/importorskip."""
    assert _core_imports_of_plugins() == []


def test_the_plugin_check_sees_string_imports() -> None:
    tree = ast.parse("import importlib\nimportlib.import_module('metaxy_postgres')\n"
                     "pytest.importorskip('metaxy_dagster.assets')\nfrom metaxy import _x\n")
    assert sorted((m, n) for _, m, n in _imports(tree)) == [
        ("importlib", []), ("metaxy", ["_x"]), ("metaxy_dagster.assets", []),
        ("metaxy_postgres", [])]


def test_plugins_import_only_the_public_surface() -> None:
    assert _plugin_imports_beyond_the_surface() == []


HOOK_DOCS = (("sql.py", "SQLStore"), ("frame_store.py", "FrameStore"))


def _documented_hooks(module: str | None = None) -> set[str]:
    """The backend hooks listed in the "Backend hooks:" sections of the docstrings of
    ``SQLStore`` and ``FrameStore`` (or of the one class in ``module``)."""
    hooks: set[str] = set()
    for name, class_name in HOOK_DOCS:
        if module is not None and name != module:
            continue
        tree = ast.parse((ROOT / "store" / name).read_text(encoding="utf-8"))
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
        doc = ast.get_docstring(cls) or ""
        section = doc.split("Backend hooks:", 1)[1] if "Backend hooks:" in doc else ""
        hooks |= set(re.findall(r"^    (_[a-z0-9_]+)\(", section, flags=re.MULTILINE))
    return hooks


def _undocumented_hooks(tree: ast.Module, private: set[str], hooks: set[str]) -> list[str]:
    """Store internals a plugin's classes define or use (``self._x``, ``super()._x``) that are
    not documented backend hooks (a plugin's own private names are not the store's)."""
    found = []
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            name = node.name if isinstance(node, ast.FunctionDef) else \
                node.attr if isinstance(node, ast.Attribute) else None
            if name in private and name not in hooks:
                found.append(f"{node.lineno}: {cls.name} {name}")
    return found


def _plugin_store_internals() -> list[str]:
    private, hooks = _store_private_names(), _documented_hooks()
    return [f"{path.relative_to(REPO)}:{problem}" for path in PLUGIN_SOURCES
            for problem in _undocumented_hooks(ast.parse(path.read_text(encoding="utf-8")),
                                               private, hooks)]


def test_sqlstore_documents_its_backend_hooks() -> None:
    hooks = _documented_hooks("sql.py")
    assert {"_create_engine", "_bulk_insert", "_hasher", "_ensure_table"} <= hooks
    assert hooks <= _store_private_names(), hooks - _store_private_names()


def test_framestore_documents_its_backend_hooks() -> None:
    hooks = _documented_hooks("frame_store.py")
    assert {"_scan", "_append", "_remove_rows", "_open", "_close"} <= hooks
    assert hooks <= _store_private_names(), hooks - _store_private_names()


def test_plugins_override_only_the_documented_backend_hooks() -> None:
    """A backend plugin overrides (and calls) the hooks ``SQLStore`` documents, nothing else of
    the store's: its other underscore attributes may change without notice."""
    assert _plugin_store_internals() == []


def test_the_hook_check_sees_a_violation() -> None:
    tree = ast.parse("class S(SQLStore):\n"
                     "    def _ensure_table(self, conn, table):\n"
                     "        if table.name in self._existing:\n"
                     "            return\n"
                     "        super()._ensure_system_table(conn, table)\n"
                     "    def _own_helper(self): ...\n")
    problems = _undocumented_hooks(tree, _store_private_names(), _documented_hooks())
    assert [p.split(" ", 1)[1] for p in problems] == ["S _existing", "S _ensure_system_table"]


def test_no_module_outside_store_touches_a_store_internal() -> None:
    """Migrations, the API, the CLI and the plugins use the public store contract
    (:class:`metaxy.store.contract.StoreContract`) instead."""
    assert _store_internals_touched_outside_store() == []


def test_the_store_internals_check_sees_a_violation() -> None:
    assert {"_require", "_append", "_graph", "_guard", "_lock", "_locks_held",
            "_existing"} <= _store_private_names()


def test_engine_never_imports_store() -> None:
    """Engine below store: the plan, filters, compilers, hashers and the raw-row protocol need no
    store module (the layer numbers above say the same; this names the boundary)."""
    assert _engine_imports_of_store() == []
