"""Feature graphs for tests: the conformance suite's own features and graph cloning.

:func:`define_suite_features` declares a small graph covering every lineage in the *active* graph
(identity with field-level deps, an optional dependency, 1:N expansion, N:1 aggregation), so the
suite never depends on any team package. :func:`clone_graph` re-declares an existing graph's
features in the active graph with edited specs, e.g. a bumped ``code_version``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Field

import metaxy as mx
from metaxy.engine.plan import user_columns


@dataclass(frozen=True)
class SuiteFeatures:
    root: type[mx.Feature]  # conf/root: id sid; fields a, b; columns value:int, label:str
    side: type[mx.Feature]  # conf/side: id sid; field a (optional upstream of child)
    child: type[mx.Feature]  # conf/child: identity on root (+ optional side); fields a, y (<- b)
    parts: type[mx.Feature]  # conf/parts: expansion of root on sid; ids sid, part
    agg: type[mx.Feature]  # conf/agg: aggregation of parts on sid; field total
    bylabel: type[mx.Feature]  # conf/bylabel: aggregation of root on label (string member ids)


def define_feature(name: str, spec: mx.FeatureSpec, columns: dict[str, Any],
                   defaults: dict[str, Any] | None = None,
                   module: str = __name__) -> type[mx.Feature]:
    """Declare a feature class in the active graph (``columns``: name -> annotation)."""
    defaults = defaults or {}

    def body(ns: dict[str, Any]) -> None:
        ns.update({"__module__": module, "__qualname__": name,
                   "__annotations__": dict(columns)})
        for col, value in defaults.items():
            ns[col] = value

    return types.new_class(name, (mx.Feature,), {"table": True, "spec": spec}, body)


def define_suite_features(prefix: str = "conf") -> SuiteFeatures:
    """The conformance suite's graph, declared in the active graph under ``<prefix>/...``."""
    opt = str | None
    root = define_feature("Root", mx.FeatureSpec(
        key=f"{prefix}/root", id_columns=["sid"],
        fields=[mx.FieldSpec(key="a", code_version="1"), mx.FieldSpec(key="b", code_version="1")],
    ), {"sid": str, "value": int | None, "label": opt}, {"value": None, "label": None})
    side = define_feature("Side", mx.FeatureSpec(
        key=f"{prefix}/side", id_columns=["sid"], fields=[mx.FieldSpec(key="a")],
    ), {"sid": str, "note": opt}, {"note": None})
    child = define_feature("Child", mx.FeatureSpec(
        key=f"{prefix}/child", id_columns=["sid"],
        deps=[mx.FeatureDep(feature=root, columns=("value",)),
              mx.FeatureDep(feature=side, columns=(), optional=True)],
        fields=[mx.FieldSpec(key="a", code_version="1"),  # default mapping: root.a and side.a
                mx.FieldSpec(key="y", code_version="1",
                             deps=[mx.FieldDep(feature=root, fields=["b"])])],
    ), {"sid": str, "value": int | None, "out": opt}, {"value": None, "out": None})
    parts = define_feature("Parts", mx.FeatureSpec(
        key=f"{prefix}/parts", id_columns=["sid", "part"],
        deps=[mx.FeatureDep(feature=root, columns=(), lineage=mx.Lineage.expansion(on=["sid"]))],
        fields=[mx.FieldSpec(key="a", code_version="1")],
    ), {"sid": str, "part": int, "text": opt}, {"text": None})
    agg = define_feature("Agg", mx.FeatureSpec(
        key=f"{prefix}/agg", id_columns=["sid"],
        deps=[mx.FeatureDep(feature=parts, columns=(),
                            lineage=mx.Lineage.aggregation(on=["sid"]))],
        fields=[mx.FieldSpec(key="total", code_version="1")],
    ), {"sid": str, "n": int | None}, {"n": None})
    bylabel = define_feature("ByLabel", mx.FeatureSpec(
        key=f"{prefix}/bylabel", id_columns=["label"],
        deps=[mx.FeatureDep(feature=root, columns=(),
                            lineage=mx.Lineage.aggregation(on=["label"]))],
        fields=[mx.FieldSpec(key="a", code_version="1")],
    ), {"label": str, "n": int | None}, {"n": None})
    return SuiteFeatures(root, side, child, parts, agg, bylabel)


def clone_graph(source: mx.FeatureGraph,
                edit: Callable[[mx.FeatureSpec], mx.FeatureSpec] | None = None,
                ) -> mx.FeatureGraph:
    """Re-declare ``source``'s features in a new graph, each spec passed through ``edit``.

    The clone has the same keys, tables and columns; use it to model a code change (e.g. a bumped
    ``code_version``) against data written with the original definitions::

        bumped = clone_graph(g, lambda s: bump(s, "media/video", "audio", "2"))
    """
    target = mx.FeatureGraph()
    with target.use():
        for key in source.topological_order():
            cls = source.get(key)
            spec = cls.spec()
            if edit is not None:
                spec = edit(spec)
            columns: dict[str, Any] = {}
            defaults: dict[str, Any] = {}
            for name in user_columns(cls):
                info = cls.model_fields[name]
                columns[name] = info.annotation
                if not info.is_required():
                    defaults[name] = Field(default=info.default)
            define_feature(cls.__name__, spec, columns, defaults, module=cls.__module__)
    target.validate()
    return target


def bump(spec: mx.FeatureSpec, key: str, field: str, code_version: str) -> mx.FeatureSpec:
    """``spec`` with field ``field`` of feature ``key`` at ``code_version`` (others unchanged)."""
    if str(spec.key) != key:
        return spec
    fields = tuple(f.model_copy(update={"code_version": code_version}) if str(f.key) == field
                   else f for f in spec.fields)
    if fields == spec.fields:
        raise KeyError(f"feature '{key}' has no field '{field}'")
    return spec.model_copy(update={"fields": fields})
