"""Column names and field keys of every accepted length (1-63) round-trip on every backend.

DuckDB's fetch path used to take the result set's labels, which SQLAlchemy shortens for long
names (``<name>_1``): ``read`` renamed a 58-63 character column, writing the row back stored NULL
in the real column, and a soft delete of a feature with a 60-character field key raised a raw
``KeyError``. On every backend, names of random lengths in 1-63 (always including the
boundaries: 52/53 is where a field's storage column name becomes hashed, 58-63 where SQLAlchemy
shortened labels) go through: write, read, write back, resolve (eager and lazy), soft delete,
resolve again.
"""

from __future__ import annotations

import itertools
import string
from typing import Any

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

import metaxy as mx
from metaxy import columns as C
from metaxy.testing.pytest_plugin import make_store
from tests.reliability.faultlib import define

_TAIL = string.ascii_lowercase + string.digits + "_"
_counter = itertools.count()


@st.composite
def names(draw: st.DrawFn) -> str:
    """A valid column name and field key of 1-63 characters (a letter, then ``[a-z0-9_]``)."""
    length = draw(st.integers(min_value=1, max_value=63))
    return "x" + draw(st.text(alphabet=_TAIL, min_size=length - 1, max_size=length - 1))


def pair(name: str) -> tuple[type[mx.Feature], type[mx.Feature]]:
    """A root with a column and a field named ``name`` and a 1:1 child of it with the same
    column and field names (fresh keys for every example)."""
    n = next(_counter)
    root = define(f"ln/r{n}", fields=[name], name=f"Root{n}",
                  columns={"sample_id": str, name: int | None})
    child = define(f"ln/c{n}", fields=[name], name=f"Child{n}",
                   columns={"sample_id": str, name: str | None}, deps=[mx.FeatureDep(feature=root)])
    return root, child


def ids(df: pl.DataFrame) -> list[str]:
    return sorted(df["sample_id"].to_list())


def check_name(store: Any, name: str) -> None:
    root, child = pair(name)
    what = f"length {len(name)} ({name!r})"
    store.write(root, pl.DataFrame({"sample_id": ["a", "b"], name: [1, 2]}))
    read = store.read(root)
    assert name in read.columns, what
    assert read.sort("sample_id")[name].to_list() == [1, 2], what
    assert read[C.PROVENANCE_BY_FIELD].struct.fields == [name], what

    store.write(root, read)  # writing a read frame back keeps every value
    history = store.read(root, with_history=True)
    assert history.height == 4 and history[name].null_count() == 0, what

    inc = store.resolve_update(child)
    assert ids(inc.new) == ["a", "b"] and inc.stale.height == 0, what
    assert ids(store.resolve_update(child, lazy=True).new.collect()) == ["a", "b"], what
    store.write(child, inc.new.with_columns(pl.col("sample_id").alias(name)))
    assert store.read(child).sort("sample_id")[name].to_list() == ["a", "b"], what
    assert store.status(child).needs_work is False, what

    assert store.delete(root, root.sample_id == "a") == 1, what  # type: ignore[attr-defined]
    assert ids(store.read(root)) == ["b"], what
    deleted = store.read(root, include_deleted=True)
    assert ids(deleted) == ["a", "b"] and deleted[name].null_count() == 0, what
    assert ids(store.resolve_update(child).orphaned) == ["a"], what


def test_every_name_length_round_trips(store_url: str) -> None:
    with mx.FeatureGraph.isolated():
        store = make_store(store_url)
        with store.open("w"):

            @settings(max_examples=12, deadline=None)
            @given(names())
            @example("x" * 63).via("longest")
            @example("x" * 60).via("SQLAlchemy shortened labels")
            @example("x" * 58)
            @example("x" * 53).via("field column hashed")
            @example("x" * 52)
            @example("x")
            def check(name: str) -> None:
                check_name(store, name)

            check()
