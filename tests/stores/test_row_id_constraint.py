"""Feature tables enforce no primary key on ``metaxy_row_id`` (unique by construction), while the
mapping still declares it; system tables keep their natural keys; tables created by an earlier
metaxy with the constraint keep working (issue 14 item 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy import columns as C
from metaxy.store import ddl
from metaxy.store.sql import FEATURE_VERSIONS_TABLE, SETTINGS_TABLE
from metaxy.store.write_clock import WRITE_CLOCK_TABLE
from tests.stores.conftest import BACKENDS, backend_url, is_sql

SQL_BACKENDS = [b for b in BACKENDS if b != "memory"]


@pytest.fixture(params=SQL_BACKENDS)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    for url in backend_url(request.param, tmp_path):
        if not is_sql(url):
            pytest.skip("a frame store (no SQL table, no constraint)")
        yield url


def _video(graph: mx.FeatureGraph) -> Any:
    with graph.use():
        class Video(mx.Feature, table=True, spec=mx.FeatureSpec(
                key="media/video", id_columns=["video_id"], fields=["audio"])):
            video_id: str
            duration_s: float | None = None
    return Video


def _samples(audio: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"video_id": list(audio), "duration_s": [1.0] * len(audio),
                         "metaxy_input_by_field": [{"audio": a} for a in audio.values()]})


def _duplicate_a_row(store: Any, table: sa.Table) -> int:
    """Insert a copy of a stored row (same row id) with plain SQL; the number of rows with that
    row id afterwards."""
    conn: sa.Connection = store.conn
    with conn.begin():
        row = conn.execute(sa.select(table).limit(1)).mappings().one()
        conn.execute(table.insert().values(**row))
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c[C.ROW_ID] == row[C.ROW_ID])).scalar_one())


def test_feature_table_has_no_enforced_primary_key(sql_url: str) -> None:
    Video = _video(graph := mx.FeatureGraph())
    table: sa.Table = Video.__table__
    assert [c.name for c in table.primary_key] == [C.ROW_ID]  # the mapping keeps it
    store = mx.get_store(sql_url, graph=graph)
    with store.open("w"):
        store.write(Video, store.resolve_update(Video, samples=_samples({"a": "1"})).new)
        assert _duplicate_a_row(store, table) == 2


def test_system_tables_keep_their_keys() -> None:
    for table in (SETTINGS_TABLE, FEATURE_VERSIONS_TABLE, WRITE_CLOCK_TABLE):
        assert ddl.enforces_primary_key(table)
        assert ddl.storage_table(table) is table
    Video = _video(mx.FeatureGraph())
    stored = ddl.storage_table(Video.__table__)
    assert not ddl.enforces_primary_key(Video.__table__)
    assert list(stored.primary_key) == []
    assert [(c.name, c.nullable) for c in stored.columns] == \
        [(c.name, c.nullable) for c in Video.__table__.columns]
    assert not stored.c[C.ROW_ID].nullable


def test_table_created_with_the_key_by_an_earlier_version_keeps_working(sql_url: str) -> None:
    Video = _video(graph := mx.FeatureGraph())
    table: sa.Table = Video.__table__
    store = mx.get_store(sql_url, graph=graph)
    with store.open("w"):
        with store.conn.begin():  # type: ignore[attr-defined]
            table.create(store.conn)  # type: ignore[attr-defined]  # as metaxy <= issue 13 did
        store.write(Video, store.resolve_update(Video, samples=_samples({"a": "1", "b": "1"})).new)
        stale = store.resolve_update(Video, samples=_samples({"a": "2", "b": "1"})).stale
        assert stale["video_id"].to_list() == ["a"]
        store.write(Video, stale)
        store.delete(Video, Video.video_id == "b")
        assert store.read(Video)["video_id"].to_list() == ["a"]
        assert store.read(Video, with_history=True, include_deleted=True).height == 4
        status = store.status(Video, samples=_samples({"a": "2"}))
        assert (status.new, status.stale, status.up_to_date) == (0, 0, 1)
        if store.sql_dialect_name() == "clickhousedb":
            return  # ClickHouse enforces no key constraint at all (a MergeTree sort key)
        with pytest.raises(sa.exc.IntegrityError):  # its constraint is still there
            _duplicate_a_row(store, table)
