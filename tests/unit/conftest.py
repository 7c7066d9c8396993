"""Helpers shared by the foundation unit tests: isolated graphs, dynamic features, fake packages."""

from __future__ import annotations

import importlib
import sys
import textwrap
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import metaxy as mx
from metaxy import packages
from metaxy.errors import FeatureDefinitionError


@pytest.fixture(autouse=True)
def _no_metaxy_env(no_metaxy_env: None) -> None:
    """Unit tests never see the developer's METAXY_* variables."""


@pytest.fixture
def graph() -> Iterator[mx.FeatureGraph]:
    """A fresh graph, active for the whole test."""
    with mx.FeatureGraph().use() as g:
        yield g


def define(
    key: str,
    *,
    deps: Sequence[Any] = (),
    fields: Sequence[Any] = ("default",),
    id_columns: Sequence[str] = ("sample_id",),
    columns: dict[str, Any] | None = None,
    name: str = "Generated",
    module: str = __name__,
) -> type[mx.Feature]:
    """Define a feature class in the active graph without writing a class statement."""
    spec = mx.FeatureSpec(key=key, id_columns=list(id_columns), fields=list(fields),
                          deps=list(deps))
    annotations = columns if columns is not None else {c: str for c in id_columns}

    def body(ns: dict[str, Any]) -> None:
        ns.update({"__module__": module, "__qualname__": name, "__annotations__": annotations})

    return types.new_class(name, (mx.Feature,), {"table": True, "spec": spec}, body)


def defined_path(name: str) -> str:
    """The class path error messages give for a class made by :func:`define`."""
    return f"{__name__}.{name}"


@dataclass(frozen=True)
class GraphState:
    keys: tuple[mx.FeatureKey, ...]
    tables: frozenset[str]
    mapped: frozenset[type]


def state(graph: mx.FeatureGraph) -> GraphState:
    """What a failed definition must leave untouched: keys, tables and mapped classes."""
    return GraphState(
        keys=tuple(graph.keys),
        tables=frozenset(graph.sa_registry.metadata.tables),
        mapped=frozenset(m.class_ for m in graph.sa_registry.mappers),
    )


def assert_names(
    err: FeatureDefinitionError, *, key: str | None, class_path: str, package: str | None = None
) -> None:
    """The error's message and attributes name the feature key, the class and the package."""
    message = str(err)
    if key is not None:
        assert f"'{key}'" in message
        assert err.feature_key == key
    assert class_path in message
    assert err.class_path == class_path
    if package is not None:
        assert package in message
        assert err.package == package


FakeDist = Callable[..., str]


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDist]:
    """Factory installing a fake distribution (dist-info + one module) on ``sys.path``.

    ``fake_dist("team-broken", "team_broken", source, group="metaxy.features")`` writes
    ``team_broken.py`` and ``team_broken-0.1.dist-info`` declaring the entry point
    ``features = team_broken`` and returns the module name. Modules are dropped from
    ``sys.modules`` (and the module -> distribution cache reset) when the test ends.
    """
    modules: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(dist: str, module: str, source: str, *, group: str = "metaxy.features",
             entry_points: dict[str, str] | None = None) -> str:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = tmp_path / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8"
        )
        eps = entry_points if entry_points is not None else {"features": module}
        lines = "".join(f"{name} = {value}\n" for name, value in eps.items())
        (info / "entry_points.txt").write_text(f"[{group}]\n{lines}", encoding="utf-8")
        (info / "top_level.txt").write_text(f"{module}\n", encoding="utf-8")
        modules.append(module)
        importlib.invalidate_caches()
        packages._module_to_dists.cache_clear()
        return module

    yield make
    for module in modules:
        sys.modules.pop(module, None)
    packages._module_to_dists.cache_clear()
