"""Item 16: SQL carried by *types* (and other constructs) never gets past the where= allow-list.

A ``bindparam(..., type_=<TypeDecorator with bind_expression>)`` used to pass the node allow-list
and render its SQL around the bound value (``pg_sleep(2)`` ran on PostgreSQL). Every backend.
"""

from __future__ import annotations

import time
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.sql import elements, operators

from metaxy.errors import FilterError
from tests.reliability.faultlib import make_store

MATCH_ALL = "'no such id' OR 1=1"


class OrTrue(sa.types.TypeDecorator[str]):
    """Wraps the bound value in SQL that matches every row."""

    impl = sa.String
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.literal_column(MATCH_ALL)


class Sleeper(sa.types.TypeDecorator[str]):
    """The reported attack: the bound value becomes ``pg_sleep(2)`` (PostgreSQL)."""

    impl = sa.String
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.cast(sa.func.pg_sleep(2), sa.String)


class ColumnSql(sa.types.TypeDecorator[str]):
    impl = sa.String
    cache_ok = True

    def column_expression(self, col: Any) -> Any:
        return sa.literal_column(MATCH_ALL)


class InlineSql(sa.types.TypeDecorator[str]):
    """Renders the value inline, unescaped, when the value is rendered as a literal."""

    impl = sa.String
    cache_ok = True

    def process_literal_param(self, value: Any, dialect: Any) -> str:
        return MATCH_ALL


class UserType(sa.types.UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "VARCHAR"

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.literal_column(MATCH_ALL)


class MyString(sa.String):
    """A subclass of a plain type is not the plain type."""

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.literal_column(MATCH_ALL)


class Lower(sa.sql.functions.GenericFunction[str]):
    type = sa.String()
    name = "lower"
    inherit_cache = True


def _attacks(item: Any) -> dict[str, Any]:
    col = item.sample_id
    return {
        "bindparam_type_decorator": col == sa.bindparam("p", "x", type_=OrTrue()),
        "literal_type_decorator": col == sa.literal("x", OrTrue()),
        "in_type_decorator": col.in_([sa.literal("x", OrTrue())]),
        "expanding_bind_type": col.in_(sa.bindparam("p", ["x"], expanding=True,
                                                    type_=OrTrue())),
        "column_typed_bind": sa.column("sample_id", OrTrue()) == "x",
        "column_expression_type": sa.column("sample_id", ColumnSql()) == "x",
        "user_defined_type": col == sa.bindparam("p", "x", type_=UserType()),
        "subclass_of_plain_type": col == sa.bindparam("p", "x", type_=MyString()),
        "variant": col == sa.bindparam("p", "x", type_=sa.String().with_variant(
            OrTrue(), "postgresql", "duckdb", "sqlite")),
        "tuple_type": sa.tuple_(col, col).in_([("x", "y")]) == sa.bindparam(
            "p", ("x", "y"), type_=sa.types.TupleType(OrTrue(), sa.String())),
        "literal_execute": col == sa.bindparam("p", "x", type_=InlineSql(),
                                               literal_execute=True),
        "literal_execute_plain": col == sa.bindparam("p", "x", literal_execute=True),
        "type_coerce": sa.type_coerce(col, OrTrue()) == "x",
        "sql_value": col == sa.bindparam("p", sa.text(MATCH_ALL)),
        "sql_value_in_list": col.in_(sa.bindparam("p", [sa.literal_column("1")],
                                                  expanding=True)),
        "binary_type": elements.BinaryExpression(col, sa.literal("x"), operators.eq,
                                                 type_=OrTrue()),
        "collate": col.collate("C") == "x",
        "generic_function": Lower(col) == "x",
        "is_literal_column": sa.column(MATCH_ALL, is_literal=True) == "x",
        "desc_modifier": sa.and_(col == "x", col.desc()),
        "between": col.between("a", "z"),
        "distinct": sa.distinct(col) == "x",
    }


@pytest.fixture
def stored(any_url: str, features: Any) -> Any:
    item, _ = features
    store = make_store(any_url)
    with store.open("w"):
        store.write(item, pl.DataFrame({"sample_id": ["a", "b", "c"], "value": [1, 2, 3]}))
    return store


@pytest.mark.parametrize("name", sorted(_attacks(type("I", (), {"sample_id": sa.column(
    "sample_id")}))))
def test_sql_carrying_filter_is_rejected(stored: Any, features: Any, name: str) -> None:
    item, derived = features
    bad = _attacks(item)[name]
    with stored as store:
        for call in (lambda: store.read(item, where=bad),
                     lambda: store.read(item, where=bad, with_history=True),
                     lambda: store.resolve_update(derived, where=bad).collect(),
                     lambda: store.status(derived, where=bad)):
            with pytest.raises(FilterError):
                call()
    with stored.open("w") as store:
        for soft in (True, False):
            with pytest.raises(FilterError):
                store.delete(item, bad, soft=soft)
        assert store.read(item, with_history=True).height == 3  # nothing deleted


def test_pg_sleep_through_a_type_does_not_run(stored: Any, features: Any) -> None:
    item, _ = features
    start = time.monotonic()
    with stored as store, pytest.raises(FilterError, match="unsupported type in filter"):
        store.read(item, where=item.sample_id == sa.bindparam("p", "a", type_=Sleeper()))
    assert time.monotonic() - start < 2


def test_plain_filters_still_work(stored: Any, features: Any) -> None:
    from datetime import UTC, datetime

    item, _ = features
    col = item.sample_id
    with stored as store:
        assert store.read(item, where=col == sa.bindparam("p", "a")).height == 1
        assert store.read(item, where=col.in_(["a", "b"])).height == 2
        assert store.read(item, where=col.in_(sa.bindparam("p", ["a"], expanding=True))) \
            .height == 1
        assert store.read(item, where=sa.and_(item.value >= 2, sa.not_(col == "c"))).height == 1
        assert store.read(item, where=sa.not_(sa.or_(col == "a", col == "b"))).height == 1
        assert store.read(item, where=item.metaxy_created_at < datetime(2999, 1, 1,
                                                                          tzinfo=UTC)).height == 3
        assert store.read(item, where=sa.literal("a", sa.String()) == col).height == 1
