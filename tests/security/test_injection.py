"""SQL injection through names and filters (issue 7 item 9; B6 cases 14, 15).

Names (feature keys, field keys, column names) are refused at definition time unless they are
plain identifiers; filter *values* always travel as bound parameters; filter *constructs* are
allow-listed, so ``text()``, literal columns, functions and subqueries never reach SQL.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy.errors import FeatureDefinitionError, FilterError
from metaxy.store.sql import FEATURE_VERSIONS_TABLE, SETTINGS_TABLE
from tests.reliability.faultlib import define, items, make_store

HOSTILE = [
    'x"; DROP TABLE canary; --',
    "a'b",
    "a;b",
    "a/*c*/b",
    "a b",
    "a\x00b",
    "select * from canary",
    "\uff21",  # full-width letter A
]
VALUES = [
    "'; DROP TABLE canary; --",
    "x' OR '1'='1",
    "ATTACH '/tmp/evil.duckdb' AS evil",
    "x'); COPY canary TO PROGRAM 'touch /tmp/metaxy-pwned'; --",
    "pg_sleep(5)",
    "'); SELECT pg_sleep(5); --",
    "read_csv('/etc/passwd')",
    "$1 ? :p %s",
    "a /* comment */ b -- tail",
]


# ---------------------------------------------------------------------------------- names
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_feature_and_field_keys_are_rejected(name: str) -> None:
    with mx.FeatureGraph.isolated() as graph:
        with pytest.raises(FeatureDefinitionError):
            define(f"ok/{name}")
        with pytest.raises(FeatureDefinitionError):
            define(name)
        with pytest.raises(FeatureDefinitionError):
            define("ok/fields", fields=[name])
        assert list(graph.keys) == []


@pytest.mark.parametrize("name", [*HOSTILE, "a--b", "1abc", "x" * 64])
def test_hostile_column_names_are_rejected(name: str) -> None:
    with mx.FeatureGraph.isolated() as graph:
        with pytest.raises(FeatureDefinitionError) as info:
            define("ok/cols", columns={"sample_id": str, name: str})
        assert "ok/cols" in str(info.value)
        with pytest.raises(FeatureDefinitionError):
            define("ok/ids", id_columns=[name], columns={name: str})
        assert list(graph.keys) == []
        assert not graph.sa_registry.metadata.tables


def test_dashes_in_keys_never_reach_sql_verbatim() -> None:
    """``-`` is legal in keys (``a--b``), but identifiers are rendered from ``[a-z0-9_]`` only."""
    with mx.FeatureGraph.isolated():
        f = define("team-x/a--b", fields=["f--g", "plain"])
        names = [f.__table__.name, *f.__table__.c.keys()]  # type: ignore[attr-defined]
        for n in names:
            assert re.fullmatch(r"[a-z0-9_]+", n), n
            assert "--" not in n


# ---------------------------------------------------------------------------------- stores
@pytest.fixture
def canary_store(any_url: str, features: Any) -> Any:
    """A store holding ``rel/item`` (a row whose id is every hostile value) and a canary table."""
    item, _ = features
    store = make_store(any_url)
    with store.open("w"):
        store.write(item, pl.DataFrame({"sample_id": ["plain", *VALUES],
                                        "value": list(range(len(VALUES) + 1))}))
        conn = store.conn
        meta = sa.MetaData()
        canary = sa.Table("canary", meta, sa.Column("n", sa.Integer))
        with conn.begin():
            canary.create(conn)
            conn.execute(canary.insert(), [{"n": 1}, {"n": 2}])
    return store


def _intact(store: Any, item: Any) -> None:
    conn = store.conn
    tables = set(sa.inspect(conn).get_table_names())
    assert {"canary", item.__table__.name, FEATURE_VERSIONS_TABLE.name,
            SETTINGS_TABLE.name} <= tables
    assert conn.execute(sa.text("SELECT count(*) FROM canary")).scalar() == 2
    conn.commit()


def test_filter_values_are_bound_parameters(canary_store: Any, features: Any) -> None:
    item, derived = features
    store = canary_store
    remaining = len(VALUES) + 1
    for value in VALUES:
        with store:
            hit = store.read(item, where=item.sample_id == value)
            assert hit["sample_id"].to_list() == [value]  # matched literally, as data
            assert store.read(item, where=item.sample_id.in_([value, "plain"])).height == 2
            assert store.read(item, where=item.sample_id != value).height == remaining - 1
            assert store.read(item, where=sa.and_(item.sample_id == value,
                                                  item.value < 0)).height == 0
            assert store.resolve_update(derived,
                                        where=item.sample_id == value).new.height == 1
            assert store.status(derived, where=derived.sample_id == value).new == 1
            _intact(store, item)
        with store.open("w"):
            assert store.delete(item, item.sample_id == value) == 1
            assert store.delete(item, item.sample_id == value + "'", soft=False) == 0
            remaining -= 1
            assert store.read(item).height == remaining
            assert store.read(item, where=item.sample_id == value, include_deleted=True) \
                .height == 1
            _intact(store, item)
    assert not os.path.exists("/tmp/metaxy-pwned")


def _deep(column: Any, depth: int) -> Any:
    expr = column == "x"
    for i in range(depth):
        expr = sa.and_(expr, column != str(i)) if i % 2 else sa.or_(expr, column == str(i))
    return expr


def _rejected_filters(item: Any) -> dict[str, Any]:
    col = item.sample_id
    return {
        "text": sa.text("1=1; DROP TABLE canary"),
        "text_in_and": sa.and_(col == "a", sa.text("1=1")),
        "sql_string": "sample_id = 'a' OR 1=1",
        "literal_column": sa.literal_column("1") == 1,
        "literal_column_name": sa.literal_column("sample_id) OR (1") == "a",
        "pg_sleep": sa.func.pg_sleep(5) == 1,
        "read_csv": sa.func.read_csv("/etc/passwd") == 1,
        "function_on_column": sa.func.lower(col) == "a",
        "subquery_in": col.in_(sa.select(sa.literal("a"))),
        "scalar_subquery": col == sa.select(sa.text("'a'")).scalar_subquery(),
        "exists": sa.exists(sa.select(sa.literal(1))),
        "cast": sa.cast(item.value, sa.String) == "1",
        "custom_op": col.op("||")("x") == "ax",
        "like": col.like("%"),
        "label": (col == "a").label("x"),
        "unknown_column": sa.column("no_such_column") == 1,
        "foreign_table": sa.table("canary", sa.column("n")).c.n == 1,
        "deep": _deep(col, 10_000),
    }


def test_non_allow_listed_filters_are_rejected(canary_store: Any, features: Any) -> None:
    item, derived = features
    store = canary_store
    limit = sys.getrecursionlimit()
    for name, bad in _rejected_filters(item).items():
        with store:
            with pytest.raises(FilterError):
                store.read(item, where=bad)
            with pytest.raises(FilterError):
                store.read(item, where=bad, with_history=True)
            with pytest.raises(FilterError):
                store.resolve_update(derived, where=bad)
            with pytest.raises(FilterError):
                store.status(derived, where=bad)
        with store.open("w"):
            for soft in (True, False):
                with pytest.raises(FilterError):
                    store.delete(item, bad, soft=soft)
            assert store.read(item, with_history=True).height == len(VALUES) + 1, name
            _intact(store, item)
    assert sys.getrecursionlimit() == limit


def test_allowed_filter_subset_still_works(canary_store: Any, features: Any) -> None:
    item, _ = features
    with canary_store as store:
        col = item.sample_id
        assert store.read(item, where=sa.or_(col == "plain", item.value.is_(None))).height == 1
        assert store.read(item, where=sa.not_(col.in_(["plain"]))).height == len(VALUES)
        assert store.read(item, where=sa.and_(item.value >= 1, item.value <= 3)).height == 3
        assert store.read(item, where=_deep(col, 40)).height == 0  # nesting within the limit


def test_new_root_items_via_hostile_ids_roundtrip(any_url: str, features: Any) -> None:
    """Hostile ids written and resolved through staged samples stay data (temp-table path)."""
    item, _ = features
    store = make_store(any_url)
    samples = items(VALUES)
    with store.open("w"):
        inc = store.resolve_update(item, samples=samples)
        assert sorted(inc.new["sample_id"]) == sorted(VALUES)
        store.write(item, inc.new)
        assert store.status(item, samples=samples).up_to_date == len(VALUES)
        assert sorted(store.read(item)["sample_id"]) == sorted(VALUES)
