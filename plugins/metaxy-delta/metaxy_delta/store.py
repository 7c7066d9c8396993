"""The Delta Lake store: one Delta table per feature under a root, resolved by Polars.

* **Layout**: ``delta:///path/to/root`` (relative to the configuration's folder) or
  ``delta:////absolute/root`` holds one Delta table per feature, ``<root>/<table name>``, and
  the store's settings table ``<root>/_metaxy/settings`` (the sample-hash setting) and
  metaxy's system records (graph snapshots, migration progress, applied revisions) as Delta
  tables ``<root>/_metaxy/<system table>``. Object
  stores: ``delta+s3://bucket/prefix`` (also ``delta+gs``, ``delta+az``, ``delta+abfss``);
  their credentials come from the store option ``storage_options`` (passed to delta-rs and
  Polars as is) and never appear in errors (:meth:`DeltaStore._driver_error` masks them) or in
  ``metaxy config show`` (secret-looking option names are redacted).
* **Reads and increments** are :class:`~metaxy.store.FrameStore`'s lazy Polars queries over
  ``pl.scan_delta``, run by Polars' streaming engine: memory is bounded by the working set
  (the latest row per sample), not by the history.
* **Writes** append one Delta commit each: on the local file system a Parquet file written by
  Polars and committed by delta-rs (:mod:`metaxy_delta.parquet_append`), elsewhere
  ``write_deltalake(mode="append")``. Delta's
  optimistic commits let many processes append to one table at once. A commit refused because
  another one changed the table's metadata first (two first writers both creating the table,
  or a write that adds columns) is retried on the new version (:func:`retry_commit`): a refused
  commit wrote nothing to the log, so the retry cannot duplicate rows.
* **Schema evolution**: a nullable column added to the model enters the table through Delta's
  schema evolution (:meth:`DeltaStore.evolve_schema`; a migration's ``op.add_column`` on a
  feature table runs it); until then the table is behind the code
  (``TableSchemaMismatchError``).
* **Order of writes**: the store stamps ``metaxy_updated_at`` after ``max(client clock, the
  table's last write)``, the last write read from the Delta log's statistics (which keep
  milliseconds: rounded up), so a host whose clock is behind cannot write rows older than the
  ones they replace. Two writers
  committing *the same sample* at the same moment are ordered by these timestamps (then row
  id), not by commit order: there is no per-table lock to serialise them (that is the point).
* **Hard deletes and cleanup** delete the chosen rows with a Delta ``MERGE ... DELETE`` keyed
  by row id (rows passed as data, no SQL text from values), then ``vacuum`` with the store
  option ``vacuum_retention_hours`` (default 0: the files are gone at once, and time travel to
  versions before the delete is no longer possible).
* **Compaction**: :meth:`DeltaStore.optimize` rewrites many small files (one per append) into
  few large ones; run it regularly (``metaxy optimize``).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from metaxy import columns as C
from metaxy.errors import MetaxyError, StoreError, StoreOptionError, TableSchemaMismatchError
from metaxy.store import AccessMode, FrameStore, Hasher, StagedRows, file_lock
from metaxy_delta.parquet_append import append_file, fits

if TYPE_CHECKING:
    from deltalake import DeltaTable, WriterProperties

    from metaxy import Feature

SCHEME = "delta"
OBJECT_SCHEMES = {"delta+s3": "s3", "delta+s3a": "s3a", "delta+gs": "gs", "delta+az": "az",
                  "delta+abfss": "abfss", "delta+file": "file"}
SCHEMES = (SCHEME, *OBJECT_SCHEMES)
SYSTEM_PREFIX = "_metaxy"
SETTINGS = f"{SYSTEM_PREFIX}/settings"
ROW_ID = "metaxy_row_id"
UPDATED_AT = "metaxy_updated_at"
COMMIT_ATTEMPTS = 8
T = TypeVar("T")


def retry_commit(write: Callable[[], T], attempts: int = COMMIT_ATTEMPTS) -> T:
    """``write()``, run again (after a short random pause) while delta-rs refuses its commit
    because a concurrent commit changed the table's metadata or protocol.

    delta-rs retries plain append-after-append races itself, but not an append that read the
    table before a metadata commit landed: two processes creating one table at once can both
    commit (the loser's creation lands as a second metadata version), and a write with
    ``schema_mode="merge"`` that adds columns commits metadata too. ``write`` must re-open the
    table, so the retry sees the new version. A refused commit added nothing to the log (its
    data files are unreferenced and vacuumed later), so no row is written twice.
    """
    from deltalake.exceptions import CommitFailedError

    for attempt in range(attempts):
        try:
            return write()
        except CommitFailedError:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05) * 2 ** attempt)
    raise AssertionError("unreachable")


def writer_properties(columns: list[str]) -> WriterProperties:
    """The Parquet settings of a feature table's appends.

    metaxy's row ids and hashes hold one distinct value per row (hex hashes; a data version
    given by the caller may repeat, but rarely enough): the writer's dictionary attempt on them
    is wasted work before it falls back, so they are written without one. ZSTD (level 1)
    packs the hex digits to about half of Snappy's size for the same CPU time.
    """
    from deltalake import ColumnProperties, WriterProperties

    plain = ColumnProperties(dictionary_enabled=False)
    unique = [c for c in columns if c in (C.ROW_ID, C.PROVENANCE, C.DATA_VERSION)
              or c.startswith((C.PV_PREFIX, C.DV_PREFIX))]
    return WriterProperties(compression="ZSTD", compression_level=1,
                            column_properties={c: plain for c in unique})


MS = timedelta(milliseconds=1)
US = timedelta(microseconds=1)


def root_of(url: str) -> tuple[str, bool]:
    """The root of a store URL and whether it is on the local file system.

    ``delta:///a/b`` -> ``a/b`` (local; the registry makes it absolute), ``delta+s3://bkt/p``
    -> ``s3://bkt/p``, ``delta+file:////abs/p`` -> ``file:///abs/p`` (local files through the
    object-store code path).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise StoreError(f"not a Delta store URL: {url!r} (use delta:///path or "
                         "delta+s3://bucket/prefix)")
    if scheme == SCHEME:
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"Delta store URL {url!r} needs a path: delta:///relative/root or "
                             "delta:////absolute/root")
        return rest[1:], True
    root = rest.strip("/")
    if OBJECT_SCHEMES[scheme] == "file":  # made absolute by the registry, as delta:///
        if not root:
            raise StoreError(f"Delta store URL {url!r} needs a path: delta+file:////abs/root")
        return f"file:///{root}", True
    if not root:
        raise StoreError(f"Delta store URL {url!r} needs a bucket (e.g. delta+s3://bucket/prefix)")
    return f"{OBJECT_SCHEMES[scheme]}://{root}", False


class DeltaStore(FrameStore):
    """A store of Delta tables (local directory or object store), resolved by Polars."""

    backend = "delta"
    polars_engine = "streaming"
    sort_only_repeated = True
    chain_driver_errors = False  # delta-rs and obstore messages may quote storage options

    def __init__(self, url: str, *, storage_options: Mapping[str, Any] | None = None,
                 vacuum_retention_hours: float = 0, target_file_size: int | None = None,
                 polars_parquet: bool = True, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.root, self.local = root_of(url)
        if storage_options is not None and not isinstance(storage_options, Mapping):
            raise StoreOptionError(f"store {self.display()}: option storage_options must be a "
                                   f"table of strings, got {type(storage_options).__name__}")
        self.storage_options = {str(k): str(v) for k, v in (storage_options or {}).items()}
        if isinstance(vacuum_retention_hours, bool) or not isinstance(
                vacuum_retention_hours, int | float) or not 0 <= vacuum_retention_hours <= 1e6:
            raise StoreOptionError(f"store {self.display()}: option vacuum_retention_hours = "
                                   f"{vacuum_retention_hours!r} must be a number of hours >= 0")
        self.vacuum_retention_hours = vacuum_retention_hours
        self.target_file_size = target_file_size
        if not isinstance(polars_parquet, bool):
            raise StoreOptionError(f"store {self.display()}: option polars_parquet = "
                                   f"{polars_parquet!r} must be true or false")
        # appends to a local table written by Polars' Parquet writer (metaxy_delta.parquet_append)
        self.polars_parquet = polars_parquet
        self._known: set[str] = set()  # tables seen to exist during this open scope
        self._setting_checked = False

    # ------------------------------------------------------------------ paths
    def table_uri(self, name: str) -> str:
        """The URI of the Delta table ``name`` under the store's root."""
        return f"{self.root.rstrip('/')}/{name}"

    def _options(self) -> dict[str, str] | None:
        return dict(self.storage_options) or None

    def _delta_table(self, name: str) -> DeltaTable | None:
        from deltalake import DeltaTable

        uri = self.table_uri(name)
        if name not in self._known:
            if not DeltaTable.is_deltatable(uri, storage_options=self._options()):
                return None
            self._known.add(name)
        return DeltaTable(uri, storage_options=self._options())

    # ------------------------------------------------------------------ open / close
    def _open(self, mode: AccessMode) -> None:
        self._known = set()
        self._setting_checked = False
        self._verify_hash_setting(self._recorded_setting())

    def _close(self) -> None:
        self._known = set()

    def _lock(self, name: str, timeout: float | None) -> contextlib.AbstractContextManager[None]:
        """``delta:///root``: a lock file in the root's ``_metaxy`` folder (released by the
        operating system if the holder dies); an object-store root (``delta+s3://`` and the
        other ``delta+`` schemes): a lock object created only if absent
        (:mod:`metaxy_delta.object_lock`)."""
        if "://" not in self.root:
            return file_lock(self.table_uri(SETTINGS), name, timeout, self.display())
        from metaxy_delta.object_lock import object_lock

        return self._masked(object_lock(self._object_store(), name, timeout, self.display(),
                                        self.root))

    @contextlib.contextmanager
    def _masked(self, lock: contextlib.AbstractContextManager[None]) -> Iterator[None]:
        """``lock`` with the object store's errors on taking and releasing it wrapped as every
        other driver error is (credentials masked); the ``with`` block's own errors pass as
        they are."""
        self._guard(lock.__enter__)
        try:
            yield
        except BaseException as raised:
            try:
                lock.__exit__(type(raised), raised, raised.__traceback__)
            except Exception as e:
                if e is raised or isinstance(e, MetaxyError):
                    raise
                raise self._driver_error(e, None) from None
            raise
        self._guard(lambda: lock.__exit__(None, None, None))

    def _object_store(self) -> Any:
        from metaxy_delta.object_lock import object_store

        return self._guard(lambda: object_store(self.root, self.storage_options))

    def break_lock(self, name: str) -> dict[str, Any] | None:
        """An object-store root: remove the lock object ``name`` (see the contract's
        :meth:`~metaxy.store.StoreContract.break_lock`). A local root's locks are lock files,
        released by the operating system when their process dies: nothing to break."""
        if "://" not in self.root:
            return super().break_lock(name)
        from metaxy_delta.object_lock import break_lock

        found: dict[str, Any] | None = self._guard(
            lambda: break_lock(self._object_store(), name))
        return found

    def has_feature(self, feature: type[Feature] | str) -> bool:
        name = self.feature(feature).spec().key.table_name
        return self._guard(lambda: self._delta_table(name)) is not None

    # ------------------------------------------------------------------ settings
    def _recorded_setting(self) -> str | None:
        table = self._guard(lambda: self._delta_table(SETTINGS))
        if table is None:
            return None
        rows = pl.from_arrow(table.to_pyarrow_table())
        assert isinstance(rows, pl.DataFrame)
        rows = rows.filter(pl.col("key") == "sample_hash").sort("recorded_at", "value")
        return None if rows.height == 0 else str(rows["value"][0])

    def _record_setting(self) -> None:
        """Record the sample-hash setting on the first write (the first recorded one wins
        when two first writers race), then refuse a store recorded with another one."""
        if self._setting_checked:
            return
        if self._recorded_setting() is None:
            from deltalake import write_deltalake

            row = pl.DataFrame({"key": ["sample_hash"], "value": [self.hash_settings.as_text()],
                                "recorded_at": [datetime.now(UTC)]})

            def run() -> None:
                table = self._create_if_missing(SETTINGS, row)
                write_deltalake(table, row.to_arrow(), mode="append",
                                storage_options=self._options())

            retry_commit(run)
        self._verify_hash_setting(self._recorded_setting())
        self._setting_checked = True

    # ------------------------------------------------------------------ system records
    def _read_system(self, name: str) -> pl.DataFrame | None:
        table = self._guard(lambda: self._delta_table(f"{SYSTEM_PREFIX}/{name}"))
        if table is None:
            return None
        rows = pl.from_arrow(self._guard(table.to_pyarrow_table))
        assert isinstance(rows, pl.DataFrame)
        return rows

    def _write_system(self, name: str, rows: pl.DataFrame, replace: bool) -> None:
        """One Delta commit: an append, or an overwrite (``replace``) of the whole table."""
        from deltalake import write_deltalake

        path = f"{SYSTEM_PREFIX}/{name}"

        def run() -> None:
            table = self._create_if_missing(path, rows)
            write_deltalake(table, rows.to_arrow(), mode="overwrite" if replace else "append",
                            schema_mode="merge", storage_options=self._options())

        self._guard(lambda: retry_commit(run))

    # ------------------------------------------------------------------ storage
    def _create_if_missing(self, name: str, rows: pl.DataFrame) -> DeltaTable:
        """The table ``name``, created empty with the rows' schema when missing; a concurrent
        creator winning the race is fine (both then append)."""
        from deltalake import DeltaTable

        found = self._delta_table(name)
        if found is not None:
            return found
        try:
            DeltaTable.create(self.table_uri(name), rows.head(0).to_arrow().schema, mode="ignore",
                              storage_options=self._options())
        except Exception:
            if self._delta_table(name) is None:
                raise
        table = self._delta_table(name)
        assert table is not None
        return table

    def _scan(self, feature: type[Feature]) -> pl.LazyFrame | None:
        name = feature.spec().key.table_name
        table = self._delta_table(name)
        if table is None:
            return None
        return pl.scan_delta(table, storage_options=self._options())

    def _last_write(self, table: DeltaTable) -> datetime | None:
        """The greatest ``metaxy_updated_at`` of the table from the log's file statistics
        (truncated to milliseconds there: the true value is below the next millisecond)."""
        actions = pl.DataFrame(table.get_add_actions(flatten=True))
        column = f"max.{UPDATED_AT}"
        if column not in actions.columns or actions.height == 0:
            return None
        top = actions[column].max()
        if not isinstance(top, datetime):
            return None
        return top + MS - US

    def _hasher(self) -> Hasher:
        """Sample hashes of a write computed by DuckDB's md5 (less CPU than polars-hash,
        bit-identical; sha256 stays with polars-hash)."""
        from metaxy.store import duckdb_hasher

        return duckdb_hasher(self.hash_settings)

    def _append(self, feature: type[Feature], staged: StagedRows) -> int:
        from deltalake import write_deltalake

        schema = self.storage_schema(feature)
        schema.update({c: pl.Utf8() for c in staged.order if c not in schema})  # widened rows
        rows = staged.finish(self._hasher()).select(
            [pl.col(n).cast(schema[n]) for n in staged.order])
        self._record_setting()
        name = feature.spec().key.table_name

        def run() -> int:
            table = self._create_if_missing(name, rows)
            self._check_columns(feature, list(table.schema().to_arrow().names), rows.columns)
            stamped = rows
            if not staged.keep_times:  # copied rows keep their times (append_storage_rows)
                stamped = self.stamp_after(rows, self._last_write(table))
            if self._polars_file(stamped, table):
                append_file(table, self.table_uri(name), stamped)
                return stamped.height
            # the frame itself (Arrow C stream: string views, no copy), as Polars' write_delta
            # passes it; ``rows.to_arrow()`` would first copy every string column
            write_deltalake(table, stamped, mode="append", schema_mode="merge",
                            storage_options=self._options(),
                            target_file_size=self.target_file_size,
                            writer_properties=writer_properties(stamped.columns))
            return stamped.height

        return retry_commit(run)

    def _polars_file(self, rows: pl.DataFrame, table: DeltaTable) -> bool:
        """Whether this append's file is written by Polars (:mod:`metaxy_delta.parquet_append`):
        the option is on, the table is on the local file system (an object store keeps
        delta-rs's writer and its credential handling), no ``target_file_size`` asks for
        delta-rs's file splitting, and the rows fit the table's schema exactly."""
        return (self.polars_parquet and "://" not in self.root and self.target_file_size is None
                and fits(rows, table))

    def _check_columns(self, feature: type[Feature], stored: list[str],
                       writing: list[str]) -> None:
        """The table must have every column of the model (else the code is ahead of it:
        :meth:`evolve_schema` adds nullable ones) and every column the rows carry (the
        storage columns a field rename keeps are added first, as a SQL migration would)."""
        self.check_drift(self.feature(str(feature.spec().key)), stored)
        missing = [c for c in writing if c not in stored]
        if missing:
            name = feature.spec().key.table_name
            raise TableSchemaMismatchError(
                f"table '{name}' has no column(s) {missing} that the rows carry",
                feature_key=str(feature.spec().key), table=name, missing=missing, extra=[])

    def _remove_rows(self, feature: type[Feature], row_ids: pl.LazyFrame) -> int:
        name = feature.spec().key.table_name
        if self._delta_table(name) is None:
            return 0
        doomed = self.collect(row_ids.unique())
        if doomed.height == 0:
            return 0
        quoted = '"' + ROW_ID + '"'  # a fixed system column; the ids travel as data

        def run() -> int:  # re-opened on a retry: a concurrent commit may have landed
            table = self._delta_table(name)
            assert table is not None
            merged = table.merge(doomed.to_arrow(), predicate=f"t.{quoted} = s.{quoted}",
                                 source_alias="s", target_alias="t")
            deleted = int(merged.when_matched_delete().execute()["num_target_rows_deleted"])
            self.vacuum(table)
            return deleted

        return retry_commit(run)

    # ------------------------------------------------------------------ maintenance
    def vacuum(self, table: DeltaTable) -> list[str]:
        """Delete the files no version newer than ``vacuum_retention_hours`` references;
        returns their paths. Time travel to older versions is lost."""
        files: list[str] = table.vacuum(retention_hours=int(self.vacuum_retention_hours),
                                        enforce_retention_duration=False, dry_run=False)
        return files

    def optimize(self, feature: type[Feature] | str) -> dict[str, int]:
        """Compact the feature's table: many small files (one per append) into few large ones,
        then vacuum the replaced files. Reads and increments get faster; the rows are unchanged.

        Returns:
            ``{"files_removed": n, "files_added": m}`` (zeros for a table never written).

        Raises:
            StoreModeError: the store is not open for writing.
        """
        self.require_open("w")
        cls = self.feature(feature)

        def run() -> dict[str, int]:
            table = self._delta_table(cls.spec().key.table_name)
            if table is None:
                return {"files_removed": 0, "files_added": 0}
            metrics = table.optimize.compact(target_size=self.target_file_size)
            self.vacuum(table)
            return {"files_removed": int(metrics.get("numFilesRemoved", 0)),
                    "files_added": int(metrics.get("numFilesAdded", 0))}

        return dict(self._guard(run, cls))

    def evolve_schema(self, feature: type[Feature] | str) -> list[str]:
        """Add the model's columns the feature's Delta table lacks (Delta schema evolution:
        one metadata commit, no data rewritten; old rows read them as nulls).

        This is what a SQL store's migration does with ``ALTER TABLE ... ADD COLUMN`` for a
        user column added to the model. Only nullable columns can be added; a renamed column
        is not a new one (it would lose its values), so the drift error stays until the
        model and the table agree.

        Returns:
            The names of the columns added (empty when nothing was missing or the table was
            never written).

        Raises:
            StoreModeError: the store is not open for writing.
            TableSchemaMismatchError: a missing column is not nullable.
        """
        from deltalake import Schema

        self.require_open("w")
        cls = self.feature(feature)

        def run() -> list[str]:
            name = cls.spec().key.table_name
            table = self._delta_table(name)
            if table is None:
                return []
            have = set(table.schema().to_arrow().names)
            model = cls.__table__  # type: ignore[attr-defined]
            missing = [c for c in model.columns if c.name not in have]
            required = [c.name for c in missing if not c.nullable]
            if required:
                raise TableSchemaMismatchError(
                    f"table '{name}' lacks the required column(s) {required}; only nullable "
                    "columns can be added to existing rows", feature_key=str(cls.spec().key),
                    table=name, missing=required, extra=[])
            if not missing:
                return []
            schema = self.storage_schema(cls)
            arrow = pl.DataFrame(schema={c.name: schema[c.name] for c in missing}).to_arrow()
            table.alter.add_columns(list(Schema.from_arrow(arrow.schema).fields))
            return [c.name for c in missing]

        return list(self._guard(run, cls))

    # ------------------------------------------------------------------ errors
    def _driver_error(self, error: Exception, feature: type[Feature] | None) -> StoreError:
        """delta-rs and object-store errors, with every credential value masked."""
        text = f"{type(error).__name__}: {error}"
        for value in sorted(self.storage_options.values(), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "***")
        what = f" (feature '{feature.spec().key}')" if feature is not None else ""
        return StoreError(f"{self.display()}{what}: {text}")

