"""Stores whose rows are storage-form Polars frames, resolved by Polars (:class:`FrameStore`).

The in-memory store (``memory://``) holds its rows as frames in this process; the Delta Lake
plugin (``delta:///``) scans them lazily from Delta tables. Both compile the shared
:class:`~metaxy.engine.plan.ResolvePlan` with :mod:`metaxy.engine.frames` into one lazy Polars
query per ``read``, ``resolve_update`` and ``status``, so they give the same hashes as the SQL
engines. A subclass says where a feature's rows come from (:meth:`FrameStore._scan`), how they
are appended and physically removed, and which Polars engine runs the queries
(:attr:`FrameStore.polars_engine`: ``"streaming"`` keeps memory bounded by the working set for
a table scanned from disk).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl

from metaxy import columns as C
from metaxy.engine import filters as F
from metaxy.engine import frames as E
from metaxy.engine.protocol import split_increment
from metaxy.engine.staged import restamp
from metaxy.errors import StoreError
from metaxy.store import drift, write_clock
from metaxy.store.base import MetadataStore
from metaxy.store.types import table_schema

if TYPE_CHECKING:
    from metaxy.engine.plan import ResolvePlan
    from metaxy.feature import Feature


#: ``_repeated_ids`` gives up (the plain sort) when the repeated samples are more than one
#: in this many rows.
REPEATED_SHARE = 4

class FrameStore(MetadataStore):
    """Base of the stores that read storage-form Polars frames and resolve with Polars.

    Reads, increments, status, hard deletes and cleanup are implemented here once; a subclass
    implements ``has_feature`` and the hooks below. Rows are removed by :meth:`_remove_rows`,
    which gets the row ids chosen by :meth:`hard_delete_row_ids` or :meth:`cleanup_row_ids`.

    Backend hooks:
        _scan(feature): Required. Every stored row of the feature as a lazy frame, or None.
        _latest_rows(feature): The rows holding every sample's latest one (default: every
            row; a store keeping a latest state returns the rows it names).
        _append(feature, rows): Required. Append staged rows as one commit, finishing their
            hashes (``rows.finish(self._hasher())``); stamp them with :meth:`stamp_after`.
        _remove_rows(feature, row_ids): Required. Physically remove the rows with these ids.
        _open(mode): Required. Open the store (check the recorded sample-hash setting with
            ``self._verify_hash_setting(stored)``).
        _close(): Required. Release what ``_open`` took.
        _verify_hash_setting(stored): Refuse a store recorded with another sample-hash setting.
        _hasher(): The :data:`~metaxy.engine.hashers.Hasher` finishing staged rows in Python
            (None: polars-hash).
        _driver_error(error, feature): The :class:`~metaxy.errors.StoreError` for a driver
            error (e.g. masking credentials); call ``super()`` for the rest.
        _guard(fn, feature): Run a call translating driver errors with :meth:`_driver_error`
            (wraps every public operation; a backend also calls it around driver work outside
            one, e.g. ``has_feature`` or a maintenance operation).
        _lock(name, timeout): The mechanism of :meth:`~metaxy.store.StoreContract.lock` (a
            context manager; the base class handles re-entrancy and checks the arguments).
        _read_system(name): Required. The rows of metaxy's system table ``name`` or None.
        _write_system(name, rows, replace): Required. Append (or, with ``replace``, swap in)
            the rows of a system table as one commit.
    """

    #: The Polars engine of every query (``"auto"``, ``"in-memory"`` or ``"streaming"``).
    polars_engine: ClassVar[str] = "auto"
    #: Whether latest reads and increments first list the samples having more than one row
    #: (:func:`metaxy.engine.frames.repeated_ids`: one more pass, over the id columns only) so
    #: that only their rows are sorted. Worth it where rows stream from files and sorting the
    #: whole table would be what fills the memory (Polars' streaming engine does not spill).
    sort_only_repeated: ClassVar[bool] = False

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
    def _scan(self, feature: type[Feature]) -> pl.LazyFrame | None:
        """Every physical row of the feature as a lazy frame (``None``: never written)."""

    @abstractmethod
    def _remove_rows(self, feature: type[Feature], row_ids: pl.LazyFrame) -> int:
        """Physically remove the rows whose ``metaxy_row_id`` is in ``row_ids`` (one column);
        return how many were removed."""

    @abstractmethod
    def _read_system(self, name: str) -> pl.DataFrame | None:
        """Every row of metaxy's system table ``name`` (``None``: never written)."""

    @abstractmethod
    def _write_system(self, name: str, rows: pl.DataFrame, replace: bool) -> None:
        """Append ``rows`` to the system table ``name`` (created by the first write), or with
        ``replace`` make them its only rows; one commit, all rows or none."""

    # ------------------------------------------------------------------ system records
    def system_rows(self, name: str) -> pl.DataFrame | None:
        """metaxy's system table ``name`` (snapshots, migration records) in the store's own
        medium (see :meth:`~metaxy.store.StoreContract.system_rows`)."""
        self.require_open("r")
        return self._read_system(_system_name(name, self.display()))

    def append_system_rows(self, name: str, rows: pl.DataFrame) -> None:
        self._write_system_locked(name, rows, replace=False)

    def replace_system_rows(self, name: str, rows: pl.DataFrame) -> None:
        self._write_system_locked(name, rows, replace=True)

    def _write_system_locked(self, name: str, rows: pl.DataFrame, replace: bool) -> None:
        from metaxy.store.contract import SYSTEM_RECORDS_LOCK, SYSTEM_RECORDS_LOCK_WAIT_S

        self.require_open("w")
        checked = _system_name(name, self.display())
        if not isinstance(rows, pl.DataFrame):
            raise StoreError(f"{self.display()}: system table '{checked}' takes a Polars "
                             f"DataFrame, got {type(rows).__name__}")
        if rows.height == 0 and not replace:
            return
        with self.lock(SYSTEM_RECORDS_LOCK, SYSTEM_RECORDS_LOCK_WAIT_S):
            self._write_system(checked, rows, replace)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def storage_schema(feature: type[Feature]) -> dict[str, pl.DataType]:
        """The Polars dtypes of the feature's stored columns, in table order."""
        return table_schema(feature.__table__)  # type: ignore[attr-defined]

    @staticmethod
    def stamp_after(rows: pl.DataFrame, last: datetime | None) -> pl.DataFrame:
        """The finished rows of a write with the time the store assigns to it: the client's
        ``metaxy_updated_at``, unless that is not after ``last`` (the table's latest write), then
        ``last`` + 1 µs (:mod:`metaxy.store.write_clock`); creation and deletion times that
        were the client's follow."""
        client = rows[C.UPDATED_AT][0]
        last_us = None if last is None else write_clock.to_us(last)
        return restamp(rows, client, write_clock.next_time(client, last_us))

    def collect(self, frame: pl.LazyFrame) -> pl.DataFrame:
        """Run a lazy query with the store's Polars engine (:attr:`polars_engine`)."""
        return frame.collect(engine=self.polars_engine)  # type: ignore[call-overload,no-any-return]

    @staticmethod
    def check_drift(feature: type[Feature], columns: list[str]) -> None:
        """Refuse a stored table that lacks a column of the model (:mod:`metaxy.store.drift`):
        a store shared by two graphs, or written before a migration, can hold another shape."""
        drift.check_columns(str(feature.spec().key), feature.__table__,  # type: ignore[attr-defined]
                            columns)

    def _rows(self, feature: type[Feature]) -> pl.LazyFrame:
        """Every physical row of the feature (an empty frame of its shape if never written)."""
        found = self._scan(feature)
        if found is None:
            return pl.DataFrame(schema=self.storage_schema(feature)).lazy()
        self.check_drift(feature, found.collect_schema().names())
        return found

    def _latest_rows(self, feature: type[Feature]) -> pl.LazyFrame:
        """Rows among which every sample's latest row is (``E.latest`` over them gives the
        same rows as over the whole history); default: every row. A store keeping a latest
        state returns just the rows it names."""
        return self._rows(feature)

    def _repeated_ids(self, feature: type[Feature], rows: pl.LazyFrame) -> pl.Series | None:
        """:func:`~metaxy.engine.frames.repeated_ids` of ``rows`` (with
        :attr:`sort_only_repeated`; else None). ``rows`` must read the same rows each time it
        is collected (a scan pinned to one table version), as the query using the result scans
        them again.

        None too when the repeated samples hold most rows (each has two or more): then nearly
        everything is sorted anyway, and the plain sort is cheaper than splitting the rows by
        a set of that many hashes (measured: docs/performance.md, the Delta section).
        """
        if not self.sort_only_repeated:
            return None
        found = self.collect(E.repeated_ids(rows, feature.spec().id_columns))
        repeated = found.get_column(E.ID_HASH)
        if repeated.len() and repeated.len() * REPEATED_SHARE > self.collect(
                rows.select(pl.len())).item():
            return None
        return repeated

    def _upstream_rows(self, feature: type[Feature]) -> pl.LazyFrame:
        """Own latest rows of an upstream feature, else a fallback store's latest rows."""
        if not self.has_feature(feature):
            borrowed = self._fallback_rows(feature)
            if borrowed is not None:
                return borrowed.lazy().select([pl.col(n).cast(d)
                                               for n, d in self.storage_schema(feature).items()])
        return self._latest_rows(feature)

    @staticmethod
    def _where(feature: type[Feature], frame: pl.LazyFrame, where: Any) -> pl.LazyFrame:
        if where is None:
            return frame
        names = frame.collect_schema().names()
        return frame.filter(F.to_polars(where, names, what=f"feature '{feature.spec().key}'"))

    def hard_delete_row_ids(self, feature: type[Feature], rows: pl.LazyFrame,
                            latest: pl.LazyFrame, where: Any) -> pl.LazyFrame:
        """The row ids of every stored row (``rows``, history included) of the samples whose
        latest row (tombstones included; found among ``latest``) matches ``where``."""
        ids = list(feature.spec().id_columns)
        chosen = self._where(feature, E.latest(latest, ids, include_deleted=True), where)
        return rows.join(chosen.select(ids), on=ids, how="semi",
                         nulls_equal=True).select(C.ROW_ID)

    @staticmethod
    def cleanup_row_ids(feature: type[Feature], rows: pl.LazyFrame,
                        bound: datetime) -> pl.LazyFrame:
        """The row ids of the rows written before ``bound`` that are not their sample's latest
        (tombstones count as latest)."""
        latest = E.latest(rows, feature.spec().id_columns, include_deleted=True)
        old = rows.filter(pl.col(C.UPDATED_AT) < bound).select(C.ROW_ID)
        return old.join(latest.select(C.ROW_ID), on=C.ROW_ID, how="anti")

    # ------------------------------------------------------------------ backend contract
    def _read(self, feature: type[Feature], where: Any, with_history: bool,
              include_deleted: bool) -> pl.DataFrame:
        rows = self._rows(feature) if with_history else self._latest_rows(feature)
        if not with_history:
            rows = E.latest(rows, feature.spec().id_columns, include_deleted=include_deleted,
                            repeated=self._repeated_ids(feature, rows))
        return self.collect(self._where(feature, rows, where))

    def _hard_delete(self, feature: type[Feature], where: Any) -> int:
        if not self.has_feature(feature):
            return 0
        doomed = self.hard_delete_row_ids(feature, self._rows(feature),
                                          self._latest_rows(feature), where)
        return self._remove_rows(feature, doomed)

    def _cleanup(self, feature: type[Feature], bound: datetime, dry_run: bool) -> int:
        rows = self._rows(feature)
        doomed = self.cleanup_row_ids(feature, rows, bound)
        if dry_run:
            return int(self.collect(doomed.select(pl.len())).item())
        return self._remove_rows(feature, doomed)

    def _context(self, feature: type[Feature]
                 ) -> tuple[ResolvePlan, E.FrameContext, pl.LazyFrame]:
        plan = self.plan(feature)
        features = {str(d.feature.spec().key): d.feature for d in plan.deps}
        frames = {key: self._upstream_rows(cls) for key, cls in features.items()}
        target = self._latest_rows(feature)
        features[str(feature.spec().key)] = feature
        repeated: dict[str, pl.Series] = {}
        for key, rows in [*frames.items(), (str(feature.spec().key), target)]:
            found = self._repeated_ids(features[key], rows)
            if found is not None:
                repeated[key] = found
        return plan, E.FrameContext(self.hash_settings, frames, repeated), target

    def _resolve(self, feature: type[Feature], samples: pl.DataFrame | None,
                 where: Any, stale_if: Any = None) -> dict[str, pl.DataFrame]:
        plan, ctx, target = self._context(feature)
        raw = self.collect(E.increment_frame(plan, ctx, target, samples, where,
                                             stale_if=stale_if))
        return split_increment(plan, raw)

    def _status(self, feature: type[Feature], samples: pl.DataFrame | None,
                where: Any, stale_if: Any = None) -> dict[str, int]:
        plan, ctx, target = self._context(feature)
        row = self.collect(E.status_frame(plan, ctx, target, samples, where, stale_if))
        return {k: int(row[k][0] or 0) for k in ("new", "stale", "orphaned", "up_to_date")}


_SYSTEM_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def _system_name(name: str, where: str) -> str:
    """A system table name, checked: it becomes a path under a Delta store's root."""
    if not isinstance(name, str) or not _SYSTEM_NAME.fullmatch(name):
        raise StoreError(f"{where}: {name!r} is not a system table name (lower-case letters, "
                         "digits and underscores, starting with a letter)")
    return name
