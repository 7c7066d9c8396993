"""One API style (issue 12): one ``get_store``, one status type, plain re-entrant ``open``, API
modules not named after their functions, one JSON renderer, ``plan`` only for the resolve plan."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import types
from pathlib import Path

import metaxy as mx
from metaxy import api
from metaxy.store import Status

ROOT = Path(__file__).resolve().parents[2]


def test_api_names_stay_functions_after_their_modules_are_imported() -> None:
    for module in ("state", "causes", "sample_files", "maintenance", "project", "definitions"):
        importlib.import_module(f"metaxy.api.{module}")
    for name in api.__all__:
        value = getattr(api, name)
        assert not isinstance(value, types.ModuleType), f"api.{name} is shadowed by a module"
    assert type(api) is types.ModuleType  # no attribute-setting workaround class


def test_one_get_store_and_the_project_store_uses_it(isolated_graph: mx.FeatureGraph) -> None:
    assert "get_store" not in api.__all__ and not hasattr(api, "get_store")
    project = api.Project(mx.MetaxyConfig(), isolated_graph)
    store = project.store("memory://")
    assert type(store) is type(mx.get_store("memory://", config=project.config))
    assert store.graph is isolated_graph


def test_one_status_type_with_the_json_shape_of_the_cli() -> None:
    assert api.Status is Status
    assert [f.name for f in dataclasses.fields(Status)] == [
        "feature", "root", "new", "stale", "orphaned", "up_to_date", "stored"]
    assert not hasattr(api, "StatusRow")


def test_plan_names_only_the_resolve_plan() -> None:
    assert "plan" not in api.__all__ and "PlanRow" not in api.__all__
    assert callable(api.run_plan) and dataclasses.is_dataclass(api.RunPlanRow)


def _calls(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                names.append(f"{func.value.id}.{func.attr}")
    return names


def test_one_json_renderer() -> None:
    for cli in ("metaxy/cli.py", "metaxy/migrations/cli.py"):
        assert "json.dumps" not in _calls(ROOT / cli), f"{cli} renders JSON itself"


def test_no_open_unless_open_idiom_in_the_api() -> None:
    """``store.open`` is re-entrant: nothing checks ``store.mode`` before opening."""
    for path in sorted((ROOT / "metaxy" / "api").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "mode is None" not in source and "nullcontext" not in source, path.name
