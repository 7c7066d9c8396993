"""SQLite backend (``sqlite:///path``, ``sqlite:///:memory:``): embedded, no server.

SQLite has no md5 or sha256: they are registered as deterministic SQL functions on every
connection (the one accepted per-row Python call). SQLite < 3.44 has no ordered ``group_concat``,
so aggregation uses the window-function form.

SQLite cannot keep every float: NaN is stored as NULL and -0.0 reads back as 0.0. Such values
are refused (``InvalidFrameError`` naming feature, column and row) instead of being changed.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy.engine.staged import StagedRows
from metaxy.hookspecs import BackendSpec, hookimpl
from metaxy.store.base import AccessMode
from metaxy.store.locks import database_lock
from metaxy.store.sql import SQLStore
from metaxy.store.values import check_floats_storable

if TYPE_CHECKING:
    from metaxy.feature import Feature


def _md5(value: str | None) -> str | None:
    return None if value is None else hashlib.md5(value.encode("utf-8")).hexdigest()


def _sha256(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()


class SQLiteStore(SQLStore):
    """A SQLite file store."""

    backend = "sqlite"
    ordered_aggregate = False
    # SQLite (3.39+) plans a FULL JOIN of two subqueries as a nested scan without the automatic
    # index it builds for a LEFT JOIN: quadratic. The LEFT JOIN plus anti-joined orphans over
    # two CTEs is not (docs/performance.md).
    full_outer_join = False
    narrow_integer = False  # INTEGER is 64-bit in SQLite

    @property
    def path(self) -> str:
        return self.url.split(":///", 1)[1] if ":///" in self.url else ":memory:"

    def _in_memory(self) -> bool:
        return (self.path or ":memory:") == ":memory:"

    def _lock(self, name: str, timeout: float | None) -> contextlib.AbstractContextManager[None]:
        """A lock file next to the database file (:func:`metaxy.store.locks.database_lock`)."""
        return database_lock(self.path, name, timeout, self.display())

    def _create_engine(self, mode: AccessMode) -> sa.Engine:
        path = self.path or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.StaticPool)

        @sa.event.listens_for(engine, "connect")
        def _register(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.create_function("md5", 1, _md5, deterministic=True)
            dbapi_conn.create_function("sha256", 1, _sha256, deterministic=True)

        return engine

    def _append(self, feature: type[Feature], rows: StagedRows) -> int:
        check_floats_storable(feature, rows.frame, "SQLite", nan_ok=False, negative_zero_ok=False)
        return super()._append(feature, rows)

    def _samples_frame(self, cls: type[Feature], samples: Any) -> pl.DataFrame | None:
        """``samples=`` user columns are staged into a table too: same float rule as writes."""
        frame = super()._samples_frame(cls, samples)
        if frame is not None:
            check_floats_storable(cls, frame, "SQLite", nan_ok=False, negative_zero_ok=False)
        return frame

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, rows: StagedRows) -> None:
        conn.execute(sa.insert(table), rows.finish(self._hasher()).to_dicts())


@hookimpl
def metaxy_store_backends() -> list[BackendSpec]:
    return [BackendSpec("sqlite", ("sqlite",), "embedded SQLite file", ("md5", "sha256"))]


@hookimpl
def metaxy_make_store(url: str, options: Mapping[str, object]) -> SQLiteStore | None:
    if url.split("://", 1)[0] != "sqlite":
        return None
    return SQLiteStore(url, **options)  # type: ignore[arg-type]
