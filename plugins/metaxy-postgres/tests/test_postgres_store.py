"""The PostgreSQL backend: the example flow, bit-identical hashes with DuckDB, COPY round trips."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from mxpg_helpers import hash_columns, item_graph, item_samples

import metaxy as mx
from metaxy import columns as C
from metaxy.errors import StoreConnectionError
from metaxy.plugins import backends, get_plugin_manager
from metaxy.store import StagedRows

pytestmark = pytest.mark.postgres

SAMPLES = pl.DataFrame({
    "video_id": ["a", "b", "c"], "path": ["/a", "/b", "/c"], "duration_s": [10.0, 20.0, 5.0],
    C.INPUT_BY_FIELD: [{"audio": "ha", "frames": "fa"}, {"audio": "hb", "frames": "fb"},
                       {"audio": "hc", "frames": "fc"}],
})
# Video "a" gets a new audio input (its frames are unchanged).
SAMPLES_2 = SAMPLES.with_columns(
    pl.when(pl.col("video_id") == "a")
    .then(pl.struct(audio=pl.lit("ha2"), frames=pl.lit("fa")))
    .otherwise(pl.col(C.INPUT_BY_FIELD)).alias(C.INPUT_BY_FIELD))


def teams_flow(url: str, **options: Any) -> dict[str, Any]:
    """The /tmp/smoke.py flow, extended to a recomputation of video "a" and its cascade."""
    from team_media.features import Chunk, Video
    from team_speech.features import Summary, Transcript

    store = mx.get_store(url, **options)
    out: dict[str, Any] = {}
    with store.open("w"):
        inc = store.resolve_update(Video, samples=SAMPLES)
        out["video.new"] = inc.new
        store.write(Video, inc.new)
        out["video.status"] = store.status(Video, samples=SAMPLES)
        out["video.stale"] = store.resolve_update(Video, samples=SAMPLES_2).stale
        out["transcript.new"] = store.resolve_update(Transcript).new
        store.write(Transcript, out["transcript.new"].with_columns(text=pl.lit("hello")))
        out["transcript.status"] = store.status(Transcript)
        out["chunk.new"] = store.resolve_update(Chunk).new
        chunks = out["chunk.new"].join(pl.DataFrame({"chunk_id": [0, 1]}), how="cross")
        store.write(Chunk, chunks)
        out["chunk.status"] = store.status(Chunk)
        out["summary.new"] = store.resolve_update(Summary).new
        store.write(Summary, out["summary.new"].with_columns(summary=pl.lit("s")))
        # Recompute video "a": its transcript and chunks become stale, then its summary.
        store.write(Video, store.resolve_update(Video, samples=SAMPLES_2).to_process())
        out["transcript.stale"] = store.resolve_update(Transcript).stale
        out["chunk.stale"] = store.resolve_update(Chunk).stale
        rechunk = out["chunk.stale"].drop(C.STALE_FIELDS).join(
            pl.DataFrame({"chunk_id": [0, 1, 2]}), how="cross")
        store.write(Chunk, rechunk)
        out["summary.stale"] = store.resolve_update(Summary).stale
        out["summary.status"] = store.status(Summary)
        out["transcript.read"] = store.read(Transcript)
        out["chunk.read"] = store.read(Chunk)
    return out


# ---------------------------------------------------------------------------- plugin
def test_plugin_declares_backend_and_builds_store_for_every_scheme() -> None:
    from metaxy_postgres.store import PostgresStore

    spec, plugin = backends(get_plugin_manager())["postgresql"]
    assert set(spec.schemes) == {"postgresql", "postgresql+psycopg", "postgres"}
    assert plugin == "metaxy-postgres:postgresql"  # registered from its own distribution
    for url in ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db",
                "postgres://u@h:5432/db"):
        store = mx.get_store(url)
        assert isinstance(store, PostgresStore)
        assert store.sa_url().drivername == "postgresql+psycopg"
        assert store.sql_dialect_name() == "postgresql"  # offline migrations' DDL dialect


def test_unreachable_server_raises_connection_error_without_password() -> None:
    store = mx.get_store("postgresql://postgres:s3cr3t-pw@127.0.0.1:1/test", connect_timeout=3)
    with pytest.raises(StoreConnectionError) as info, store.open("w"):
        pass
    err = info.value
    message = str(err)
    assert "s3cr3t-pw" not in message
    assert "postgresql://postgres:***@127.0.0.1:1/test" in message
    assert "Connection refused" in message or "failed" in message
    assert err.__cause__ is None and err.__suppress_context__  # no driver traceback attached


# ---------------------------------------------------------------------------- example teams
def test_teams_flow_write_read_resolve_status(pg_url: str, teams: mx.FeatureGraph) -> None:
    out = teams_flow(pg_url)
    assert sorted(out["video.new"]["video_id"]) == ["a", "b", "c"]
    assert (out["video.status"].up_to_date, out["video.status"].new) == (3, 0)
    stale = out["video.stale"]
    assert stale["video_id"].to_list() == ["a"]
    assert stale[C.STALE_FIELDS].to_list() == [["audio"]]
    assert out["transcript.new"].height == 3
    assert (out["transcript.status"].up_to_date, out["transcript.status"].needs_work) == (3, False)
    assert out["chunk.new"].height == 3  # one row per parent video
    assert out["chunk.status"].up_to_date == 3
    assert out["summary.new"].height == 3
    assert out["transcript.stale"]["video_id"].to_list() == ["a"]
    assert out["chunk.stale"]["video_id"].to_list() == ["a"]
    assert out["summary.stale"]["video_id"].to_list() == ["a"]
    status = out["summary.status"]
    assert (status.new, status.stale, status.orphaned, status.up_to_date) == (0, 1, 0, 2)
    read = out["transcript.read"].sort("video_id")
    assert read["text"].to_list() == ["hello"] * 3
    chunks = out["chunk.read"]
    assert chunks.filter(pl.col("video_id") == "a").height == 3  # latest rows of "a"
    assert chunks.height == 3 + 2 + 2


@pytest.mark.parametrize(("options", "copy_chunk_rows"), [
    ({}, 200_000), ({"hash_algorithm": "sha256", "hash_length": 20}, 200_000),
    ({}, 1),  # every row its own COPY chunk, hashed while the previous one is sent
], ids=["md5", "sha256-20", "md5-one-row-chunks"])
def test_teams_hashes_bit_identical_to_duckdb(pg_url: str, teams: mx.FeatureGraph,
                                              options: dict[str, Any],
                                              copy_chunk_rows: int) -> None:
    pg = teams_flow(pg_url, copy_chunk_rows=copy_chunk_rows, **options)
    duck = teams_flow("duckdb:///:memory:", **options)
    assert pg.keys() == duck.keys()
    for name, value in pg.items():
        if isinstance(value, pl.DataFrame):
            ids = ["video_id", "chunk_id"] if name.startswith("chunk.read") else ["video_id"]
            got, want = hash_columns(value, ids), hash_columns(duck[name], ids)
            assert got.height > 0, name
            assert got.equals(want), f"{name}:\n{got}\n!=\n{want}"
        else:
            assert value == duck[name], name
    length = options.get("hash_length", 32)
    assert pg["summary.new"][C.PROVENANCE].str.len_chars().to_list() == [length] * 3


# ---------------------------------------------------------------------------- byte order
ORDER_IDS = [("g1", i) for i in ["B", "a", "_x", "é", "Z", "ä", "a b", "aa", "A", "1", "10", "9"]] \
    + [("g2", "x"), ("é", "b"), ("é", "B"), ("E", "e")]


def _group_increment(url: str, **options: Any) -> pl.DataFrame:
    graph, item, group = item_graph()
    store = mx.get_store(url, graph=graph, **options)
    with store.open("w"):
        store.write(item, item_samples(ORDER_IDS))
        return hash_columns(store.resolve_update(group).new, ["grp"])


def test_database_collation_differs_from_byte_order(pg_url: str) -> None:
    """Precondition of the byte-order tests: this database sorts text by a locale."""
    engine = sa.create_engine(sa.make_url(pg_url).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 'a' < 'B'")).scalar() is True
    engine.dispose()


@pytest.mark.parametrize("options", [{}, {"hash_algorithm": "sha256"}], ids=["md5", "sha256"])
def test_aggregation_uses_byte_order_like_duckdb(pg_url: str, options: dict[str, Any]) -> None:
    got = _group_increment(pg_url, **options)
    want = _group_increment("duckdb:///:memory:", **options)
    assert got.height == 4
    assert got.equals(want), f"\n{got}\n!=\n{want}"


def test_aggregation_without_collate_c_would_differ(pg_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The data above really exercises the collation: without COLLATE "C" the hash changes."""
    from metaxy_postgres.store import PostgresStore

    monkeypatch.setattr(PostgresStore, "_byte_order", lambda self: None)
    got = _group_increment(pg_url)
    want = _group_increment("duckdb:///:memory:")
    g1 = pl.col("grp") == "g1"
    assert not got.filter(g1).equals(want.filter(g1))


# ---------------------------------------------------------------------------- COPY round trip
TRICKY = ["", "\\N", "NULL", "null", "a,b", 'q"x', '"', "l1\nl2", "cr\r\nlf", "tab\tx",
          " sp ", "é☃ \u2013 日本語 🎉", "back\\slash", "e\u0301", "'", ";--"]


def test_copy_round_trips_tricky_strings_and_nulls(pg_url: str) -> None:
    graph, item, _ = item_graph()
    notes: list[str | None] = [*TRICKY, None]
    ids = [("g", f"{i:02d}:{s}") for i, s in enumerate(notes)]
    frame = item_samples(ids).with_columns(
        note=pl.Series(notes, dtype=pl.Utf8),
        n=pl.Series([*range(len(TRICKY)), None], dtype=pl.Int64),
        x=pl.Series([0.1 + 0.2, -0.0, 1e-300, 1e300, math.pi, *[1.5] * (len(TRICKY) - 5), None]),
        **{C.CREATED_AT: pl.Series(
            [datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
             datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC),
             *[datetime(2024, 2, 29, 12, 30, 45, 123456, tzinfo=UTC)] * (len(notes) - 3)],
            dtype=pl.Datetime("us", "UTC"))},
    )
    store = mx.get_store(pg_url, graph=graph)
    with store.open("w"):
        store.write(item, frame)
        back = store.read(item).sort("item")
        assert store.stats["rows_copied"] == len(notes)
    expected = frame.sort("item")
    assert back["item"].to_list() == expected["item"].to_list()
    assert back["note"].to_list() == expected["note"].to_list()
    assert back["note"].null_count() == 1
    assert back["n"].to_list() == expected["n"].to_list()
    assert back["x"].to_list() == expected["x"].to_list()
    assert back[C.CREATED_AT].to_list() == expected[C.CREATED_AT].to_list()
    # ...and the ids hash exactly as in DuckDB (they went through COPY into a staging table too)
    duck = mx.get_store("duckdb:///:memory:", graph=graph)
    with duck.open("w"):
        duck.write(item, frame.drop("x"))  # DuckDB maps the model's float to 32-bit FLOAT
        want = hash_columns(duck.read(item), ["grp", "item"])
    assert hash_columns(back, ["grp", "item"]).equals(want)


def test_copy_round_trips_every_scalar_type(pg_url: str) -> None:
    from metaxy_postgres.store import PostgresStore

    meta = sa.MetaData()
    table = sa.Table(
        "Odd Table \"name\"", meta,
        sa.Column("s", sa.String), sa.Column("Mixed Case", sa.String),
        sa.Column("i", sa.BigInteger), sa.Column("f", sa.Float(precision=53)),
        sa.Column("b", sa.Boolean), sa.Column("d", sa.Date),
        sa.Column("tz", sa.DateTime(timezone=True)), sa.Column("naive", sa.DateTime()),
    )
    strings: list[str | None] = [*TRICKY, None]
    n = len(strings)
    frame = pl.DataFrame({
        "s": strings,
        "Mixed Case": list(reversed(strings)),
        "i": [2**62, -(2**62), 0, *range(n - 4), None],
        "f": [math.inf, -math.inf, 0.1 + 0.2, -0.0, 5e-324, *[2.5] * (n - 6), None],
        "b": [True, False, *[True] * (n - 3), None],
        "d": [date(1, 1, 1), date(9999, 12, 31), *[date(2024, 2, 29)] * (n - 3), None],
        "tz": [datetime(2024, 1, 1, 1, 2, 3, 456789, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
               *[datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)] * (n - 3), None],
        "naive": [datetime(2024, 1, 1, 1, 2, 3, 7), *[datetime(2000, 1, 1)] * (n - 2), None],
    }, schema_overrides={"tz": pl.Datetime("us", "UTC"), "naive": pl.Datetime("us")})
    store = PostgresStore(pg_url)
    with store.open("w"):
        conn = store.conn
        with conn.begin():
            table.create(conn)
            store._bulk_insert(conn, table, StagedRows.ready(frame))
        rows = conn.execute(sa.select(table)).all()
        conn.commit()
    back = pl.DataFrame([tuple(r) for r in rows], schema=frame.schema, orient="row")
    for name in frame.columns:
        assert back[name].to_list() == frame[name].to_list(), name
    nan_store = PostgresStore(pg_url)
    with nan_store.open("w"):
        conn = nan_store.conn
        nan_table = sa.Table("nan_t", sa.MetaData(), sa.Column("f", sa.Float(precision=53)))
        with conn.begin():
            nan_table.create(conn)
            nan_store._bulk_insert(conn, nan_table,
                                   StagedRows.ready(pl.DataFrame({"f": [math.nan]})))
        assert math.isnan(conn.execute(sa.select(nan_table.c.f)).scalar_one())
        conn.commit()
