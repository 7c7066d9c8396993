"""The in-memory backend (``memory://``): storage-form Polars frames, resolved by Polars.

Each feature's rows are one storage-form frame (the same columns as the SQL table); a write
concatenates and swaps in the new frame under a lock, so a write is all rows or none and readers
never see half of one. Reads, ``resolve_update`` and ``status`` are those of
:class:`~metaxy.store.frame_store.FrameStore`: the shared resolve plan compiled by
:mod:`metaxy.engine.frames` into one lazy Polars query (vectorised; no per-row Python), giving
the same hashes as the SQL engines. The latest state (one narrow row per sample) is kept beside
each table and swapped with it, so reads and increments join it instead of ranking history.

Sharing (a deliberate choice): ``memory://`` (no name) is private to the store object;
its data outlives ``close`` and lives as long as the object. ``memory://<name>`` names a
process-wide database: every store opened with the same name in one process sees the same data
(like a named in-memory database), until :func:`drop_named` forgets it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from metaxy import columns as C
from metaxy.engine import frames as E
from metaxy.engine.staged import StagedRows, restamp
from metaxy.errors import StoreError
from metaxy.hookspecs import BackendSpec, hookimpl
from metaxy.store import write_clock
from metaxy.store.base import AccessMode
from metaxy.store.frame_store import FrameStore
from metaxy.store.latest_state import columns_of
from metaxy.store.locks import NamedLocks

if TYPE_CHECKING:
    from metaxy.feature import Feature

SCHEME = "memory"


@dataclass
class FeatureVersionRecord:
    """The first write of one feature version (the analogue of ``metaxy_feature_versions``)."""

    project: str
    project_version: str
    table_name: str
    first_written_at: datetime


@dataclass
class MemoryDatabase:
    """The data of one in-memory store: a storage-form frame per feature table."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    hash_setting: str | None = None
    feature_versions: dict[tuple[str, str], FeatureVersionRecord] = field(default_factory=dict)
    clock: dict[str, int] = field(default_factory=dict)  # table -> last write (µs, write_clock)
    # table -> latest state (latest_state.columns_of: one row per sample), swapped with the table
    states: dict[str, pl.DataFrame] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    named_locks: NamedLocks = field(default_factory=NamedLocks)  # StoreContract.lock
    # metaxy's system records (snapshots, migration records): table name -> frame
    system: dict[str, pl.DataFrame] = field(default_factory=dict)


_NAMED: dict[str, MemoryDatabase] = {}
_NAMED_LOCK = threading.Lock()


def database_name(url: str) -> str:
    """``memory://name`` -> ``name`` (empty for a private store)."""
    scheme, sep, rest = url.partition("://")
    if scheme != SCHEME or not sep:
        raise StoreError(f"not a memory store URL: {url!r} (use memory:// or memory://name)")
    return rest.strip("/")


def drop_named(name: str) -> None:
    """Forget a named in-memory database (tests use it to start from scratch)."""
    with _NAMED_LOCK:
        _NAMED.pop(name, None)


def _database(name: str) -> MemoryDatabase:
    if not name:
        return MemoryDatabase()
    with _NAMED_LOCK:
        return _NAMED.setdefault(name, MemoryDatabase())


class MemoryStore(FrameStore):
    """A store holding storage-form Polars frames in this process."""

    backend = "memory"
    keeps_latest_state = True

    def __init__(self, url: str = "memory://", **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.name = database_name(url)
        self._db = _database(self.name)

    # ------------------------------------------------------------------ open / close
    def _open(self, mode: AccessMode) -> None:
        self._check_hash_settings()
        if mode == "w" and self.keeps_latest_state:  # build states a write did not keep
            with self._db.lock:
                for key in self.graph.keys:
                    feature = self.graph.get(key)
                    name = feature.spec().key.table_name
                    rows = self._db.tables.get(name)
                    if rows is not None and self._latest_state_rows(feature) is None \
                            and set(columns_of(feature)) <= set(rows.columns):
                        built = self._next_state(feature, rows, rows[:0])
                        if built is not None:
                            self._db.states[name] = built

    def _close(self) -> None:
        """Nothing to release: the data outlives the open scope (see the module docstring)."""

    def _lock(self, name: str, timeout: float | None) -> AbstractContextManager[None]:
        """An in-process lock of the database: no other process sees a memory store."""
        return self._db.named_locks.hold(name, timeout, self.display())

    def _check_hash_settings(self) -> None:
        self._verify_hash_setting(self._db.hash_setting)

    def has_feature(self, feature: type[Feature] | str) -> bool:
        return self.feature(feature).spec().key.table_name in self._db.tables

    # ------------------------------------------------------------------ system records
    def _read_system(self, name: str) -> pl.DataFrame | None:
        return self._db.system.get(name)

    def _write_system(self, name: str, rows: pl.DataFrame, replace: bool) -> None:
        with self._db.lock:
            old = self._db.system.get(name)
            self._db.system[name] = rows if replace or old is None else \
                pl.concat([old, rows], how="vertical_relaxed")

    # ------------------------------------------------------------------ storage
    def _scan(self, feature: type[Feature]) -> pl.LazyFrame | None:
        found = self._db.tables.get(feature.spec().key.table_name)
        return None if found is None else found.lazy()

    def _latest_rows(self, feature: type[Feature]) -> pl.LazyFrame:
        """The rows the latest state names (tombstones included), or every row without one;
        the engine's latest() over them gives the same rows as over the whole history."""
        rows = self._rows(feature)
        state = self._latest_state_rows(feature)
        if state is None:
            return rows
        return rows.join(state.lazy().select(C.ROW_ID), on=C.ROW_ID, how="semi")

    def _latest_state_rows(self, feature: type[Feature]) -> pl.DataFrame | None:
        """The feature's state, unless its columns are not the feature's now (its fields
        changed since it was kept: the rows are then read by the window)."""
        if not self.keeps_latest_state:
            return None
        state = self._db.states.get(feature.spec().key.table_name)
        if state is None or tuple(state.columns) != columns_of(feature):
            return None
        return state

    def _next_state(self, feature: type[Feature], new: pl.DataFrame,
                    rows: pl.DataFrame) -> pl.DataFrame | None:
        """The state after appending ``rows`` (table now ``new``): per sample, the latest of its
        state row and the written rows (a missing state is built from the table)."""
        if not self.keeps_latest_state:
            return None
        ids, names = list(feature.spec().id_columns), columns_of(feature)
        old = self._latest_state_rows(feature)
        if old is None:
            return E.latest(new.lazy(), ids, include_deleted=True).select(*names).collect()
        both = pl.concat([old, rows.select(*names)], how="vertical")
        # the latest of the old state row and the written ones (copied rows may be older)
        return E.latest(both.lazy(), ids, include_deleted=True).collect()

    def _append(self, feature: type[Feature], staged: StagedRows) -> int:
        schema = self.storage_schema(feature)
        rows = staged.finish(self._hasher()).select([pl.col(n).cast(d) for n, d in schema.items()])
        name = feature.spec().key.table_name
        with self._db.lock:
            # Everything that can fail happens before the first mutation: all or nothing.
            self._check_hash_settings()
            old = self._db.tables.get(name)
            if old is not None:
                self.check_drift(feature, old.columns)
            if not staged.keep_times:  # copied rows keep their times (append_storage_rows)
                rows = self._stamp(name, old, rows)
            new = rows if old is None else pl.concat([old, rows], how="vertical")
            key = (str(feature.spec().key), str(rows[C.FEATURE_VERSION][0]))
            record = None if key in self._db.feature_versions else FeatureVersionRecord(
                self.project, str(rows[C.PROJECT_VERSION][0]), name, rows[C.UPDATED_AT][0])
            state = self._next_state(feature, new, rows)
            self._db.tables[name] = new
            if state is None or staged.keep_times:  # copied rows: rebuilt on the next write
                self._db.states.pop(name, None)
            else:
                self._db.states[name] = state
            self._db.clock[name] = max(self._db.clock.get(name, -1),
                                       write_clock.to_us(rows[C.UPDATED_AT].max()))  # type: ignore[arg-type]
            if self._db.hash_setting is None:
                self._db.hash_setting = self.hash_settings.as_text()
            if record is not None:
                self._db.feature_versions[key] = record
        return rows.height

    def _stamp(self, name: str, old: pl.DataFrame | None, rows: pl.DataFrame) -> pl.DataFrame:
        """The rows with the write's time from the table's clock (see
        :mod:`metaxy.store.write_clock`); call under the database lock. The clock is only
        advanced by the caller's commit (``self._db.clock[name]``)."""
        last = self._db.clock.get(name)
        if last is None and old is not None and old.height:
            last = write_clock.to_us(old[C.UPDATED_AT].max())  # type: ignore[arg-type]
        client = rows[C.UPDATED_AT][0]
        at = write_clock.next_time(client, last)
        return restamp(rows, client, at)

    def _remove_rows(self, feature: type[Feature], row_ids: pl.LazyFrame) -> int:
        name = feature.spec().key.table_name
        with self._db.lock:
            rows = self._db.tables.get(name)
            if rows is None:
                return 0
            doomed = row_ids.collect().to_series().implode()
            kept = rows.filter(~pl.col(C.ROW_ID).is_in(doomed))
            state = self._db.states.get(name)
            if state is not None:  # a hard delete removes every row of a chosen sample
                self._db.states[name] = state.filter(~pl.col(C.ROW_ID).is_in(doomed))
            self._db.tables[name] = kept
        return rows.height - kept.height


@hookimpl
def metaxy_store_backends() -> list[BackendSpec]:
    return [BackendSpec("memory", (SCHEME,), "in-process Polars frames (tests; memory://name "
                                             "is shared within the process)", ("md5", "sha256"))]


@hookimpl
def metaxy_make_store(url: str, options: Mapping[str, object]) -> MemoryStore | None:
    if url.split("://", 1)[0] != SCHEME:
        return None
    return MemoryStore(url, **options)  # type: ignore[arg-type]
