"""Write hashers: functions that replace hash payload columns of a frame by their hashes.

A :class:`~metaxy.engine.staged.StagedRows` finishes its hashes in Python with a :data:`Hasher`
(PostgreSQL's ``COPY`` path, the memory store, ``StagedRows.finish``). Every hasher computes
``H(payload)`` as :mod:`metaxy.hashing` defines it, bit-identically (conformance suite); they
differ only in the engine doing the work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa

from metaxy.engine import polars_hash as P
from metaxy.engine.sql import SampleHash
from metaxy.hashing import HashSettings

Hasher = Callable[[pl.DataFrame, Sequence[str]], pl.DataFrame]
"""Replaces each named column of a frame (a non-null hash payload) by ``H(payload)``.

The default runs polars-hash; a backend may compute the same hashes with its own engine
(DuckDB's ``md5`` takes about half the CPU time), bit-identically by the conformance suite.
"""


def polars_hasher(settings: HashSettings) -> Hasher:
    """The default :data:`Hasher`: finish staged hash columns in Python with polars-hash
    (md5, truncated per ``settings``), bit-identical to the databases' own md5."""
    def run(df: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        return df.with_columns([P.h(pl.col(c), settings).alias(c) for c in columns])

    return run


def duckdb_hasher(settings: HashSettings) -> Hasher:
    """A write :data:`Hasher` running DuckDB's ``md5`` on a private
    in-memory connection, opened on first use and reused by every call of this hasher (the
    PostgreSQL store hashes each COPY chunk with one).

    DuckDB hashes with less CPU time than polars-hash (the hashes are the largest cost of a
    write besides the load itself; docs/performance.md), bit-identically (conformance suite).
    Only md5 is faster this way; sha256 stays with polars-hash.
    """
    if settings.algorithm != "md5":
        return polars_hasher(settings)
    import duckdb
    from duckdb_engine import Dialect

    dialect = Dialect()
    private: list[Any] = []  # the connection, once opened

    def run(df: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        if df.height == 0 or not columns:
            return polars_hasher(settings)(df, columns)
        if not private:
            private.append(duckdb.connect())
        conn = private[0]
        name = "mx_hash_input"
        conn.register(name, df.select(columns).to_arrow())
        try:
            source = sa.table(name, *[sa.column(c) for c in columns])
            stmt = sa.select(*[SampleHash(source.c[c], settings.algorithm, settings.length)
                               .label(c) for c in columns])
            # the only values are the hash settings' integers (substr bounds)
            compiled = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            # a plain projection keeps the scan's row order (preserve_insertion_order)
            hashed = pl.from_arrow(conn.sql(str(compiled)).to_arrow_table())
        finally:
            conn.unregister(name)
        assert isinstance(hashed, pl.DataFrame) and hashed.height == df.height
        return df.with_columns(hashed.get_columns())

    return run
