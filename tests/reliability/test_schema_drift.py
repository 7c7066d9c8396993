"""Schema drift: the code is ahead of a stored table (issue 13 item 15).

A column renamed or added in the model, or a system column missing from the table, used to
surface as a raw driver error (``BinderException: Table "rel__item" does not have a column named
...``). Every API call touching the table now raises ``TableSchemaMismatchError`` naming the
feature, the table and the missing column, and telling the user to generate and apply a
migration; nothing is written, and once the table is altered the same open store works.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy.errors import HashConfigMismatchError, TableSchemaMismatchError
from metaxy.store import SQLStore
from tests.reliability.faultlib import define, make_store
from tests.stores.conftest import BACKENDS, backend_url


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """One unopened store (features resolve in the active graph, so the two graphs below share
    its data, in-memory ones included)."""
    for url in backend_url(request.param, tmp_path):
        yield make_store(url)


def graph_v1() -> tuple[Any, Any]:
    item = define("rel/item", columns={"sample_id": str, "value": int | None}, name="Item")
    derived = define("rel/derived", columns={"sample_id": str, "out": str | None},
                     deps=[mx.FeatureDep(feature=item)], name="Derived")
    return item, derived


def graph_v2() -> tuple[Any, Any]:
    """``value`` renamed to ``amount`` in the code, no migration yet."""
    item = define("rel/item", columns={"sample_id": str, "amount": int | None}, name="Item")
    derived = define("rel/derived", columns={"sample_id": str, "out": str | None},
                     deps=[mx.FeatureDep(feature=item)], name="Derived")
    return item, derived


def populate(store: Any) -> None:
    with mx.FeatureGraph.isolated():
        item, derived = graph_v1()
        with store.open("w"):
            store.write(item, pl.DataFrame({"sample_id": ["a", "b"], "value": [1, 2]}))
            store.write(derived, store.resolve_update(derived).new.with_columns(
                pl.lit("x").alias("out")))


def history(store: Any) -> tuple[int, int]:
    with mx.FeatureGraph.isolated():
        item, derived = graph_v1()
        with store:
            return (store.read(item, with_history=True).height,
                    store.read(derived, with_history=True).height)


def calls(item: Any, derived: Any) -> dict[str, Callable[[Any], Any]]:
    """Every API call that touches the drifted ``rel/item`` table."""
    return {
        "read": lambda s: s.read(item),
        "read history": lambda s: s.read(item, with_history=True),
        "write": lambda s: s.write(item, pl.DataFrame({"sample_id": ["c"], "amount": [3]})),
        "soft delete": lambda s: s.delete(item, item.sample_id == "a"),
        "hard delete": lambda s: s.delete(item, item.sample_id == "a", soft=False),
        "cleanup": lambda s: s.cleanup(item, timedelta(0)),
        "resolve upstream": lambda s: s.resolve_update(derived),
        "resolve lazy": lambda s: s.resolve_update(derived, lazy=True).new.collect(),
        "status": lambda s: s.status(derived),
        "resolve root": lambda s: s.resolve_update(
            item, samples=pl.DataFrame({"sample_id": ["a"], "amount": [1]})),
    }


def check(error: TableSchemaMismatchError, missing: str) -> None:
    message = str(error)
    assert "rel/item" in message and "rel__item" in message and missing in message
    assert "metaxy migrations revision --autogenerate" in message
    assert "metaxy migrations upgrade" in message
    assert error.feature_key == "rel/item" and error.missing == [missing]


def test_code_ahead_of_the_table_is_a_clear_error_everywhere(store: Any) -> None:
    populate(store)
    before = history(store)
    with mx.FeatureGraph.isolated():
        item, derived = graph_v2()
        for name, call in calls(item, derived).items():
            with store.open("w"), pytest.raises(TableSchemaMismatchError) as info:
                call(store)
                pytest.fail(f"{name} did not raise")
            check(info.value, "amount")
            assert info.value.extra == ["value"], name
    assert history(store) == before  # nothing written, nothing deleted


def test_a_missing_system_column_is_named(store: Any) -> None:
    if not isinstance(store, SQLStore):
        pytest.skip("no SQL DDL on a frame store (memory, Delta)")
    populate(store)
    with mx.FeatureGraph.isolated():
        item, derived = graph_v1()
        with store.open("w"):
            store.conn.execute(sa.text("ALTER TABLE rel__item DROP COLUMN "
                                       "metaxy_materialization_id"))
            store.conn.commit()
        for call in calls(item, derived).values():
            with store.open("w"), pytest.raises(TableSchemaMismatchError) as info:
                call(store)
            check(info.value, "metaxy_materialization_id")


def test_the_open_store_works_once_the_table_is_migrated(store: Any) -> None:
    """A migration opens the store, alters the table and goes on using the same store."""
    if not isinstance(store, SQLStore):
        pytest.skip("no SQL DDL on a frame store (memory, Delta)")
    populate(store)
    with mx.FeatureGraph.isolated():
        item, derived = graph_v2()
        with store.open("w"):
            with pytest.raises(TableSchemaMismatchError):
                store.read(item)
            store.conn.execute(sa.text("ALTER TABLE rel__item ADD COLUMN amount BIGINT"))
            store.conn.commit()
            assert store.read(item).height == 2
            assert store.write(item, pl.DataFrame({"sample_id": ["c"], "amount": [3]})) == 1
            assert store.status(derived).new == 1


# ------------------------------------------------------------------ hash settings record gone
@pytest.mark.parametrize("lose", ["drop the table", "delete the row"])
def test_lost_hash_setting_is_inferred_from_stored_hashes(any_url: str, lose: str) -> None:
    """``metaxy_settings`` dropped (or emptied): a store configured with another setting is
    refused on open, naming the setting the stored hashes were made with; the right one opens
    and its next write records the setting again."""
    with mx.FeatureGraph.isolated():
        item, derived = graph_v1()
        writer = make_store(any_url, hash_algorithm="md5", hash_length=32)
        populate(writer)
        with writer.open("w"):
            sql = ("DROP TABLE metaxy_settings" if lose == "drop the table"
                   else "DELETE FROM metaxy_settings")
            writer.conn.execute(sa.text(sql))
            writer.conn.commit()
        before = history(writer)
        for algorithm, length in [("sha256", 32), ("md5", 16), ("sha256", 64)]:
            for mode in ("r", "w"):
                other = make_store(any_url, hash_algorithm=algorithm, hash_length=length)
                with pytest.raises(HashConfigMismatchError) as info:
                    with other.open(mode):
                        other.write(derived, pl.DataFrame({"sample_id": ["zz"]}))
                message = str(info.value)
                assert "md5:32" in message and f"{algorithm}:{length}" in message
                assert "metaxy_settings" in message and "rel/" in message
        assert history(writer) == before
        with writer.open("w"):  # the right setting: up to date, and recorded again on write
            assert writer.status(derived).up_to_date == 2
            writer.write(item, pl.DataFrame({"sample_id": ["c"], "value": [3]}))
            stored = writer.conn.execute(sa.text("SELECT value FROM metaxy_settings")).scalar()
            writer.conn.commit()
            assert stored == "md5:32"
        with pytest.raises(HashConfigMismatchError, match="was written with sample hash"):
            with make_store(any_url, hash_algorithm="sha256", hash_length=32).open("r"):
                pass


def test_lost_hash_setting_of_a_truncated_sha256_store(any_url: str) -> None:
    """Same length, other algorithm: told apart by recomputing a stored provenance."""
    with mx.FeatureGraph.isolated():
        item, _ = graph_v1()
        writer = make_store(any_url, hash_algorithm="sha256", hash_length=32)
        populate(writer)
        with writer.open("w"):
            writer.conn.execute(sa.text("DROP TABLE metaxy_settings"))
            writer.conn.commit()
        with pytest.raises(HashConfigMismatchError, match="'sha256:32'"):
            with make_store(any_url).open("r"):  # md5:32, the default
                pass
        with writer:
            assert writer.read(item).height == 2
