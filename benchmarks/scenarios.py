"""Benchmark scenarios (issue 6): feature graphs defined in an isolated :class:`mx.FeatureGraph`.

Every scenario has one or more root features, optional intermediate features and one *leaf* whose
``resolve_update`` / ``status`` is measured. ``n`` is the number of rows of the largest table:

* ``simple``: root (fields ``a``, ``b``) -> leaf (field ``out`` depending on ``b`` only);
* ``wide``: roots A (``a1..a4``) and B (``b1..b4``) -> leaf (``x`` on a1,a2,b1,b2; ``y`` on
  a3,a4,b3,b4), joined on ``sample_id``;
* ``chain``: 5 features in a line, two fields each (field-level deps by the default mapping);
* ``aggregation``: n member rows in groups of 10 -> one leaf sample per group (N:1);
* ``expansion``: n/10 parents -> 10 children each (1:N), so the child table holds n rows.

The mutation of each scenario changes the input of 10% of the upstream samples; ``expected_stale``
returns exactly the leaf samples (keys) that must come back as stale.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

import metaxy as mx

SCENARIOS = ("simple", "wide", "chain", "aggregation", "expansion")
GROUP = 10  # members per group (aggregation) and children per parent (expansion)
MODULE = "benchmarks.scenarios"


def _define(name: str, key: str, *, fields: list[mx.FieldSpec], id_columns: list[str],
            columns: dict[str, Any], deps: list[mx.FeatureDep] | None = None) -> type[mx.Feature]:
    spec = mx.FeatureSpec(key=key, id_columns=id_columns, fields=fields, deps=deps or [])

    def body(ns: dict[str, Any]) -> None:
        ns.update({"__module__": MODULE, "__qualname__": name, "__annotations__": columns})
        ns.update({c: None for c, t in columns.items() if "None" in str(t)})

    return types.new_class(name, (mx.Feature,), {"table": True, "spec": spec}, body)


@dataclass
class Root:
    """A root feature and how to make its rows."""

    feature: type[mx.Feature]
    fields: list[str]
    make: Callable[[int, str], pl.DataFrame]  # (n, input tag) -> rows with metaxy_input_by_field


@dataclass
class Scenario:
    name: str
    graph: mx.FeatureGraph
    roots: list[Root]
    middle: list[type[mx.Feature]]  # features between roots and leaf, in topological order
    leaf: type[mx.Feature]
    key_columns: list[str]  # keys of the leaf's increment
    root_rows: int  # rows per root table for this n
    leaf_samples: int  # expected samples of the leaf's increment
    mutate: Callable[[int], dict[str, pl.DataFrame]]  # n -> {root key: rows to append}
    expected_stale: Callable[[int], pl.DataFrame]  # n -> key frame of the leaf's stale samples
    stale_fields: list[str]
    children: int = 0  # expansion: children per parent written for the leaf
    extra: dict[str, Any] = field(default_factory=dict)


def _inputs(fields: list[str], tag: pl.Expr) -> pl.Expr:
    return pl.struct([pl.concat_str([pl.lit(f"{f}-"), tag]).alias(f) for f in fields]) \
        .alias("metaxy_input_by_field")


def _ids(n: int, prefix: str = "s") -> pl.Expr:
    return pl.concat_str([pl.lit(prefix), pl.int_range(n, dtype=pl.Int64).cast(pl.Utf8)
                          .str.zfill(9)])


def _flat_rows(fields: list[str], id_col: str = "sample_id",
               prefix: str = "s") -> Callable[[int, str], pl.DataFrame]:
    def make(n: int, tag: str) -> pl.DataFrame:
        df = pl.select(_ids(n, prefix).alias(id_col))
        return df.with_columns(
            pl.concat_str([pl.lit("/data/"), pl.col(id_col), pl.lit(".bin")]).alias("path"),
            pl.int_range(n, dtype=pl.Int64).alias("size"),
            _inputs(fields, pl.concat_str([pl.lit(tag + "-"), pl.col(id_col)])),
        )
    return make


def _mutated(make: Callable[[int, str], pl.DataFrame], n: int,
             fields: list[str], changed: list[str]) -> pl.DataFrame:
    """Every 10th row of ``make(n)`` with new inputs for ``changed`` fields."""
    df = make(n, "v1").gather_every(10)
    inputs = [pl.concat_str([pl.lit(f"{f}-"), pl.lit("v2-" if f in changed else "v1-"),
                             pl.col(df.columns[0])]).alias(f) for f in fields]
    return df.with_columns(pl.struct(inputs).alias("metaxy_input_by_field"))


def simple(n: int) -> Scenario:
    with mx.FeatureGraph().use() as graph:
        root = _define("SimpleRoot", "bench/simple_root", id_columns=["sample_id"],
                       fields=[mx.FieldSpec(key="a"), mx.FieldSpec(key="b")],
                       columns={"sample_id": str, "path": str | None, "size": int | None})
        leaf = _define("SimpleLeaf", "bench/simple_leaf", id_columns=["sample_id"],
                       deps=[mx.FeatureDep(feature=root, columns=())],
                       fields=[mx.FieldSpec(key="out", deps=[mx.FieldDep(feature=root,
                                                                         fields=["b"])])],
                       columns={"sample_id": str, "value": str | None})
    make = _flat_rows(["a", "b"])
    return Scenario(
        "simple", graph, [Root(root, ["a", "b"], make)], [], leaf, ["sample_id"], n, n,
        mutate=lambda n: {"bench/simple_root": _mutated(make, n, ["a", "b"], ["b"])},
        expected_stale=lambda n: make(n, "v1").gather_every(10).select("sample_id"),
        stale_fields=["out"],
    )


def wide(n: int) -> Scenario:
    fa, fb = ["a1", "a2", "a3", "a4"], ["b1", "b2", "b3", "b4"]
    with mx.FeatureGraph().use() as graph:
        ra = _define("WideA", "bench/wide_a", id_columns=["sample_id"],
                     fields=[mx.FieldSpec(key=f) for f in fa],
                     columns={"sample_id": str, "path": str | None, "size": int | None})
        rb = _define("WideB", "bench/wide_b", id_columns=["sample_id"],
                     fields=[mx.FieldSpec(key=f) for f in fb],
                     columns={"sample_id": str, "path": str | None, "size": int | None})
        leaf = _define(
            "WideLeaf", "bench/wide_leaf", id_columns=["sample_id"],
            deps=[mx.FeatureDep(feature=ra, columns=()), mx.FeatureDep(feature=rb, columns=())],
            fields=[
                mx.FieldSpec(key="x", deps=[mx.FieldDep(feature=ra, fields=["a1", "a2"]),
                                            mx.FieldDep(feature=rb, fields=["b1", "b2"])]),
                mx.FieldSpec(key="y", deps=[mx.FieldDep(feature=ra, fields=["a3", "a4"]),
                                            mx.FieldDep(feature=rb, fields=["b3", "b4"])]),
            ],
            columns={"sample_id": str, "value": str | None})
    make_a, make_b = _flat_rows(fa), _flat_rows(fb)
    return Scenario(
        "wide", graph, [Root(ra, fa, make_a), Root(rb, fb, make_b)], [], leaf, ["sample_id"],
        n, n,
        mutate=lambda n: {"bench/wide_a": _mutated(make_a, n, fa, ["a1"])},
        expected_stale=lambda n: make_a(n, "v1").gather_every(10).select("sample_id"),
        stale_fields=["x"],
    )


def chain(n: int) -> Scenario:
    fields = ["a", "b"]
    with mx.FeatureGraph().use() as graph:
        feats = [_define("Chain1", "bench/chain1", id_columns=["sample_id"],
                         fields=[mx.FieldSpec(key=f) for f in fields],
                         columns={"sample_id": str, "path": str | None, "size": int | None})]
        for i in range(2, 6):
            feats.append(_define(
                f"Chain{i}", f"bench/chain{i}", id_columns=["sample_id"],
                deps=[mx.FeatureDep(feature=feats[-1], columns=())],
                fields=[mx.FieldSpec(key=f) for f in fields],
                columns={"sample_id": str, "value": str | None}))
    make = _flat_rows(fields)
    return Scenario(
        "chain", graph, [Root(feats[0], fields, make)], feats[1:4], feats[4], ["sample_id"],
        n, n,
        mutate=lambda n: {"bench/chain1": _mutated(make, n, fields, ["a"])},
        expected_stale=lambda n: make(n, "v1").gather_every(10).select("sample_id"),
        stale_fields=["a"],
    )


def aggregation(n: int) -> Scenario:
    with mx.FeatureGraph().use() as graph:
        root = _define("AggMember", "bench/agg_member", id_columns=["group_id", "member_id"],
                       fields=[mx.FieldSpec(key="default")],
                       columns={"group_id": str, "member_id": int, "path": str | None})
        leaf = _define("AggGroup", "bench/agg_group", id_columns=["group_id"],
                       deps=[mx.FeatureDep(feature=root, columns=(),
                                           lineage=mx.Lineage.aggregation(on=["group_id"]))],
                       fields=[mx.FieldSpec(key="default")],
                       columns={"group_id": str, "value": str | None})

    def make(n: int, tag: str) -> pl.DataFrame:
        i = pl.int_range(n, dtype=pl.Int64)
        df = pl.select(pl.concat_str([pl.lit("g"), (i // GROUP).cast(pl.Utf8).str.zfill(9)])
                       .alias("group_id"), (i % GROUP).alias("member_id"))
        key = pl.concat_str([pl.col("group_id"), pl.lit("-"), pl.col("member_id").cast(pl.Utf8)])
        return df.with_columns(pl.concat_str([pl.lit("/m/"), key]).alias("path"),
                               _inputs(["default"], pl.concat_str([pl.lit(tag + "-"), key])))

    def groups(n: int) -> pl.DataFrame:  # every 10th group: 10% of the members
        return make(n, "v1").filter(pl.col("member_id") == 0).select("group_id").gather_every(10)

    def mutate(n: int) -> dict[str, pl.DataFrame]:
        return {"bench/agg_member": make(n, "v2").join(groups(n), on="group_id", how="semi")}

    return Scenario(
        "aggregation", graph, [Root(root, ["default"], make)], [], leaf, ["group_id"],
        n, n // GROUP, mutate=mutate, expected_stale=groups, stale_fields=["default"],
    )


def expansion(n: int) -> Scenario:
    with mx.FeatureGraph().use() as graph:
        root = _define("ExpParent", "bench/exp_parent", id_columns=["parent_id"],
                       fields=[mx.FieldSpec(key="default")],
                       columns={"parent_id": str, "path": str | None, "size": int | None})
        leaf = _define("ExpChild", "bench/exp_child", id_columns=["parent_id", "child_id"],
                       deps=[mx.FeatureDep(feature=root, columns=(),
                                           lineage=mx.Lineage.expansion(on=["parent_id"]))],
                       fields=[mx.FieldSpec(key="default")],
                       columns={"parent_id": str, "child_id": int, "value": str | None})
    make = _flat_rows(["default"], "parent_id", "p")
    parents = max(n // GROUP, 1)
    return Scenario(
        "expansion", graph, [Root(root, ["default"], make)], [], leaf, ["parent_id"],
        parents, parents,
        mutate=lambda n: {"bench/exp_parent": _mutated(make, max(n // GROUP, 1), ["default"],
                                                       ["default"])},
        expected_stale=lambda n: make(max(n // GROUP, 1), "v1").gather_every(10)
        .select("parent_id"),
        stale_fields=["default"], children=GROUP,
    )


BUILDERS: dict[str, Callable[[int], Scenario]] = {
    "simple": simple, "wide": wide, "chain": chain, "aggregation": aggregation,
    "expansion": expansion,
}


def build(name: str, n: int) -> Scenario:
    return BUILDERS[name](n)
