"""The metadata store API every backend implements (SPEC §5, §6).

A store is created unopened (:func:`metaxy.get_store`), then opened explicitly::

    with store.open("w"):
        store.write(Video, frame)
    with store:                       # read-only
        inc = store.resolve_update(Transcript)

Backends implement the small set of ``_``-prefixed abstract methods; everything users call
(validation, the API/storage forms, tombstones, increments) lives here once.
"""

from __future__ import annotations

import contextlib
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

import polars as pl

from metaxy import columns as C
from metaxy.config import redact_url
from metaxy.engine.hashers import Hasher
from metaxy.engine.plan import ResolvePlan, build_plan
from metaxy.engine.protocol import to_api
from metaxy.engine.staged import StagedRows
from metaxy.errors import HashConfigMismatchError, MetaxyError, StoreError, StoreModeError
from metaxy.graph import FeatureGraph
from metaxy.hashing import HashSettings
from metaxy.store.contract import AccessMode as AccessMode  # re-exported: backends import it here
from metaxy.store.contract import StoreContract
from metaxy.store.frames import stage_write, write_timestamp
from metaxy.store.results import Increment as Increment  # re-exported: the public home
from metaxy.store.results import LazyIncrement as LazyIncrement
from metaxy.store.results import Status as Status
from metaxy.versions import versions_of

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.frame_input import FrameLike
    from metaxy.store.spool import Spool

class MetadataStore(StoreContract, ABC):
    """Base class of every metadata store backend.

    Code outside ``metaxy/store/`` uses the user API below and the public store contract
    (:class:`~metaxy.store.contract.StoreContract`: ``lock``, ``using_graph``,
    ``append_storage_rows``, ``require_open``, ``refresh_tables``, ``sql_connection``).
    """

    backend: ClassVar[str] = "?"
    #: Whether the store keeps each feature's latest state at write time and reads latest rows
    #: through it (docs/design-latest-state.md); False: latest rows by a window over history.
    keeps_latest_state: bool = False
    #: Whether a driver error wrapped into :class:`StoreError` keeps the driver's exception as
    #: its ``__cause__``. A backend whose driver messages may quote credentials (object-store
    #: options) masks them in its ``_driver_error`` and sets this False, so that no traceback
    #: prints the unmasked original.
    chain_driver_errors: ClassVar[bool] = True

    def __init__(self, url: str, *, hash_settings: HashSettings | None = None,
                 project: str = "default", graph: FeatureGraph | None = None,
                 fallback: tuple[MetadataStore, ...] = ()) -> None:
        self.url = url
        self.hash_settings = hash_settings or HashSettings()
        self.project = project
        self._graph = graph
        self.fallback = fallback
        self._mode: AccessMode | None = None
        self._depth = 0
        self._locks_held: dict[str, int] = {}  # name -> nesting depth (StoreContract.lock)
        # the open() contexts entered by `with store:`, innermost last (a single slot would drop
        # the outer one on nesting, and its garbage-collected generator would close the store)
        self._contexts: list[contextlib.AbstractContextManager[MetadataStore]] = []
        self._spools: weakref.WeakSet[Spool] = weakref.WeakSet()  # lazy increments to close

    # ------------------------------------------------------------------ identity
    def display(self) -> str:
        """The store's URL with any password redacted."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display()!r})"

    @property
    def graph(self) -> FeatureGraph:
        return self._graph if self._graph is not None else FeatureGraph.get_active()

    def feature(self, ref: type[Feature] | str) -> type[Feature]:
        """The feature class the store uses for ``ref``, looked up by key in the store's graph.

        Lookups go by key, so a class from another graph (an old snapshot's, during reconcile)
        resolves to the store's own definition.

        Args:
            ref: a feature class or its key (``"media/video"``).

        Raises:
            FeatureNotFoundError: the graph has no feature with that key (the message suggests
                close keys, or ``mx.load_features()`` when the graph is empty).
        """
        key = ref.spec().key if isinstance(ref, type) else ref
        return self.graph.get(key)

    # ------------------------------------------------------------------ open / close
    @property
    def mode(self) -> AccessMode | None:
        return self._mode

    @contextlib.contextmanager
    def open(self, mode: AccessMode = "r") -> Iterator[MetadataStore]:
        """Open the store for reading (``"r"``) or writing (``"w"``) for a ``with`` block.

        Re-entrant: nested opens (and ``with store:``, which is ``open("r")``) keep the store
        open until the outermost block exits, also after an exception. An inner ``"w"`` inside
        an outer ``"r"`` is refused; an inner ``"r"`` inside ``"w"`` keeps write access.

        Args:
            mode: ``"r"`` (reads, ``resolve_update``, ``status``) or ``"w"`` (also ``write``,
                ``delete``, ``cleanup``). DuckDB holds one writing process per file.

        Yields:
            The store itself.

        Raises:
            StoreLockedError: another process holds the database (DuckDB), after the store
                option ``lock_timeout``.
            StoreConnectionError: the database cannot be reached (the message never shows a
                password).

        Example:
            >>> with store.open("w"):
            ...     store.write(Video, frame)
        """
        if mode not in ("r", "w"):
            raise StoreModeError(f"unknown access mode {mode!r} (use 'r' or 'w')")
        if self._mode is not None:
            if mode == "w" and self._mode == "r":
                raise StoreModeError(f"{self.display()} is open read-only; cannot reopen for write")
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._open(mode)
        self._mode, self._depth = mode, 1
        try:
            yield self
        finally:
            self._depth = 0
            self._mode = None
            for spool in list(self._spools):
                spool.close()
            self._close()

    def __enter__(self) -> MetadataStore:
        """``with store:`` is ``with store.open("r"):``; nests (one context per level)."""
        ctx = self.open("r")
        entered = ctx.__enter__()
        self._contexts.append(ctx)
        return entered

    def __exit__(self, *exc: Any) -> None:
        self._contexts.pop().__exit__(*exc)

    def _require(self, mode: AccessMode) -> None:
        if self._mode is None:
            raise StoreModeError(f"{self.display()} is not open; use `with store.open('{mode}'):`")
        if mode == "w" and self._mode != "w":
            raise StoreModeError(f"{self.display()} is open read-only; open it with mode 'w'")

    # ------------------------------------------------------------------ public API
    def write(self, feature: type[Feature] | str, df: FrameLike, *,
              materialization_id: str | None = None) -> int:
        """Append one row per sample to the feature's history, in one transaction.

        The frame carries the id columns and the feature's own columns; for a downstream
        feature also the provenance columns of its increment (``resolve_update`` returns them).
        metaxy adds the system columns (row id, versions, data versions, write time). Metadata
        is append-only: the new row becomes the sample's latest, older rows stay as history.

        Args:
            feature: the feature class or its key.
            df: the rows (:data:`metaxy.FrameLike`: Polars, pyarrow, pandas, a dict of columns
                or a list of row dicts); converted to Polars at the edge.
            materialization_id: an optional run identifier stored on every row.

        Returns:
            The number of rows written (0 for an empty frame).

        Raises:
            StoreModeError: the store is not open for writing.
            InvalidFrameError: a missing, unknown or mistyped column, a null or duplicate id
                (checked after the cast to the model's types), or a value the backend cannot
                store faithfully. Nothing is written.
            TableSchemaMismatchError: the stored table is behind the code (run
                ``metaxy migrations revision --autogenerate`` and ``upgrade``).
        """
        self._require("w")
        cls = self.feature(feature)
        versions = versions_of(self.graph)
        now = write_timestamp()
        rows = stage_write(
            cls, df, is_root=not cls.spec().deps, settings=self.hash_settings,
            feature_version=versions.feature_version(cls),
            project_version=versions.project_version(self.project),
            now=now, materialization_id=materialization_id,
        )
        if rows.height == 0:
            return 0
        return int(self._guard(lambda: self._append(cls, rows), cls))

    def _hasher(self) -> Hasher | None:
        """How a write's staged rows get their sample hashes when the backend finishes them in
        Python (None: polars-hash); a backend may hash in its engine, bit-identically (the
        conformance suite checks)."""
        return None

    def read(self, feature: type[Feature] | str, where: Any = None, *,
             with_history: bool = False, include_deleted: bool = False) -> pl.DataFrame:
        """The latest row per sample, in the API form (the model's columns plus metaxy's).

        A feature the store does not hold is read from its fallback stores (SPEC §6).

        Args:
            feature: the feature class or its key.
            where: an optional SQLAlchemy expression (or list of them, ANDed) over the
                feature's columns, e.g. ``Video.fps > 25``; checked against an allow-list and
                evaluated in the store.
            with_history: every stored row instead of the latest per sample.
            include_deleted: keep soft-deleted samples (their tombstone rows).

        Returns:
            A Polars DataFrame (empty, with the feature's schema, when nothing matches).

        Raises:
            StoreModeError: the store is not open.
            FilterError: ``where`` is not an allowed expression or names an unknown column.
        """
        self._require("r")
        cls = self.feature(feature)
        if not self.has_feature(cls):
            with self._borrowed(cls) as holder:
                if holder is not None:
                    rows = holder._guard(
                        lambda: holder._read(cls, where, with_history, include_deleted), cls)
                    return to_api(cls, rows)
        df = self._guard(lambda: self._read(cls, where, with_history, include_deleted), cls)
        return to_api(cls, df)

    def read_batches(self, feature: type[Feature] | str, where: Any = None, *,
                     with_history: bool = False, include_deleted: bool = False,
                     batch_rows: int = 100_000) -> Iterator[pl.DataFrame]:
        """The rows of :meth:`read`, streamed in frames of at most ``batch_rows`` rows.

        SQL stores run one statement (one snapshot) and fetch its rows ``batch_rows`` at a
        time, so memory stays bounded whatever the table's size; other backends may read
        eagerly and slice. Use the store for nothing else until the iterator is exhausted or
        closed (a SQL store streams over its connection). Same arguments and errors as
        :meth:`read`, plus ``batch_rows`` (at least 1).
        """
        self._require("r")
        cls = self.feature(feature)
        if not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or batch_rows < 1:
            raise StoreError(f"read_batches: batch_rows must be a positive integer, got "
                             f"{batch_rows!r}")
        if not self.has_feature(cls):  # a fallback store's rows, or none
            yield from self.read(cls, where, with_history=with_history,
                                 include_deleted=include_deleted).iter_slices(batch_rows)
            return
        batches = self._read_batches(cls, where, with_history, include_deleted, batch_rows)
        while True:
            frame = self._guard(lambda: next(batches, None), cls)
            if frame is None:
                return
            yield to_api(cls, frame)

    def _read_batches(self, feature: type[Feature], where: Any, with_history: bool,
                      include_deleted: bool, n: int) -> Iterator[pl.DataFrame]:
        """Storage-form rows of :meth:`_read` in frames of at most ``n`` rows (default: one
        eager read, sliced; SQL stores stream one statement)."""
        yield from self._read(feature, where, with_history, include_deleted).iter_slices(n)

    def delete(self, feature: type[Feature] | str, where: Any, *, soft: bool = True) -> int:
        """Delete the samples matching ``where``.

        Args:
            feature: the feature class or its key.
            where: a SQLAlchemy expression (or list of them) selecting the samples, as in
                :meth:`read`.
            soft: ``True`` (default) appends tombstone rows, so reads no longer see the samples
                and history keeps them; ``False`` removes every stored row of those samples.

        Returns:
            Soft: the number of samples deleted (tombstones written). Hard: the number of
            stored rows removed, history rows included.

        Raises:
            StoreModeError: the store is not open for writing.
            FilterError: ``where`` is not an allowed expression.
        """
        self._require("w")
        cls = self.feature(feature)
        if not soft:
            return int(self._guard(lambda: self._hard_delete(cls, where), cls))
        current = self._guard(lambda: self._read(cls, where, False, False), cls)
        if current.height == 0:
            return 0
        now = write_timestamp()
        tomb = current.with_columns(
            pl.lit(now, dtype=current.schema[C.UPDATED_AT]).alias(C.UPDATED_AT),
            pl.lit(now, dtype=current.schema[C.DELETED_AT]).alias(C.DELETED_AT),
        )
        from metaxy.store.frames import row_ids

        tomb = tomb.with_columns(row_ids(tomb.height).alias(C.ROW_ID))
        return int(self._guard(lambda: self._append(cls, StagedRows.ready(tomb)), cls))

    def cleanup(self, feature: type[Feature] | str, older_than: timedelta | datetime, *,
                dry_run: bool = False) -> int:
        """Physically drop history: rows written before a bound that are not their sample's latest.

        ``older_than`` is an age (``timedelta``: rows written more than that long ago) or a point
        in time (a naive ``datetime`` is taken as UTC). Every sample keeps its latest row, even a
        tombstone (a soft delete stays a delete), so reads and increments are unchanged; only
        ``read(..., with_history=True)`` (and ``explain``, which walks history) sees less.
        Returns the number of rows dropped (with ``dry_run``: that would be dropped; the store
        then only needs to be open for reading).
        """
        self._require("r" if dry_run else "w")
        cls = self.feature(feature)
        if isinstance(older_than, timedelta):
            bound = datetime.now(UTC) - older_than
        elif isinstance(older_than, datetime):
            bound = older_than if older_than.tzinfo else older_than.replace(tzinfo=UTC)
        else:
            raise StoreError(f"cleanup of feature '{cls.spec().key}': older_than must be a "
                             f"timedelta or a datetime, got {type(older_than).__name__}")
        if not self.has_feature(cls):
            return 0
        return int(self._guard(lambda: self._cleanup(cls, bound.astimezone(UTC), dry_run), cls))

    @overload
    def resolve_update(self, feature: type[Feature] | str, samples: FrameLike | None = None,
                       where: Any = None, lazy: Literal[False] = False, *,
                       stale_if: Any = None) -> Increment: ...

    @overload
    def resolve_update(self, feature: type[Feature] | str, samples: FrameLike | None = None,
                       where: Any = None, *, lazy: Literal[True],
                       stale_if: Any = None) -> LazyIncrement: ...

    def resolve_update(self, feature: type[Feature] | str, samples: FrameLike | None = None,
                       where: Any = None, lazy: bool = False, *,
                       stale_if: Any = None) -> Increment | LazyIncrement:
        """Which samples are new, stale (and in which fields) or orphaned (SPEC §5).

        ``where`` selects samples, identically on the upstream and the stored side: each column
        it names takes the upstream's current value when the sample exists upstream (key and
        carried columns; a root's ``samples=``), else the stored value (always, for a column only
        this feature stores). The result is the unfiltered increment restricted to the selected
        samples, so a sample still upstream is never orphaned because its value crossed the
        filter. 1:N features: the filter names parent columns; an orphaned parent is selected
        when one of its stored children matches. See docs/concepts.md, "Filtering an increment".

        Args:
            feature: the feature class or its key.
            samples: for a root feature, the samples that exist now (ids and the root's
                columns, :data:`metaxy.FrameLike`); downstream features take theirs from
                the upstream features' stored rows.
            where: an optional SQLAlchemy expression selecting samples (see above).
            lazy: return a :class:`LazyIncrement` whose parts are spooled to temporary Arrow
                files from one snapshot and streamed in batches; close it (or use ``with``).
            stale_if: an optional custom staleness rule, a SQLAlchemy expression over the
                feature's own stored columns (``Video.status == "failed"``; the ``where=``
                subset, evaluated in the store). A stored sample that is still expected and
                whose latest row matches it is stale in every field, with
                ``metaxy_stale_reason`` ``"stale_if"`` (``"provenance"`` for the others); for
                a 1:N feature, a parent is stale when one of its stored children matches.

        Returns:
            An :class:`Increment` with ``new``, ``stale`` (with ``metaxy_stale_fields``; with
            ``stale_if``, also ``metaxy_stale_reason``) and ``orphaned`` frames, each carrying
            the provenance that :meth:`write` needs.

        Raises:
            StoreModeError: the store is not open.
            FilterError: ``where`` is not an allowed expression.
            TableSchemaMismatchError: a stored table is behind the code.

        Example:
            >>> with store.open("w"):
            ...     inc = store.resolve_update(Transcript)
            ...     store.write(Transcript, compute(inc.to_process()))
        """
        self._require("r")
        cls = self.feature(feature)
        frame = self._samples_frame(cls, samples)
        rule = _rule(stale_if)
        if lazy:
            spool = self._guard(lambda: self._spool_increment(cls, frame, where, **rule), cls)
            self._spools.add(spool)
            return LazyIncrement(spool)
        parts = self._guard(lambda: self._resolve(cls, frame, where, **rule), cls)
        return Increment(parts["new"], parts["stale"], parts["orphaned"])

    def status(self, feature: type[Feature] | str, samples: FrameLike | None = None,
               where: Any = None, *, stale_if: Any = None) -> Status:
        """Counts of new / stale / orphaned / up-to-date samples; only the counts travel.

        ``where`` and ``stale_if`` select samples and mark them stale exactly as in
        :meth:`resolve_update` (the counts are those of its increment, plus the selected samples
        that are up to date).
        """
        self._require("r")
        cls = self.feature(feature)
        frame = self._samples_frame(cls, samples)
        rule = _rule(stale_if)
        counts = self._guard(lambda: self._status(cls, frame, where, **rule), cls)
        return Status(str(cls.spec().key), root=not cls.spec().deps, **counts)

    # ------------------------------------------------------------------ helpers
    def plan(self, feature: type[Feature]) -> ResolvePlan:
        """The static resolve plan of ``feature`` in the store's graph (what the SQL and Polars
        compilers compile; ``metaxy explain`` and the benchmarks read it)."""
        return build_plan(feature, self.graph)

    @contextlib.contextmanager
    def _borrowed(self, cls: type[Feature]) -> Iterator[MetadataStore | None]:
        """The first store along the fallback chain (depth first) that holds ``cls``, kept open
        read-only for the ``with`` block; ``None`` if no fallback has it (SPEC §6: fallbacks are
        only read). Each store of the chain is opened once per walk."""
        for store in self.fallback:
            with store.open("r"):
                if store.has_feature(cls):
                    yield store
                    return
                with store._borrowed(cls) as holder:
                    if holder is not None:
                        yield holder
                        return
        yield None

    def _fallback_rows(self, cls: type[Feature]) -> pl.DataFrame | None:
        """Latest storage-form rows of a feature this store lacks, read from a fallback store.

        Backends stage them (a temporary table for SQL stores) so the increment is still
        computed here, by this store's engine, in one statement.
        """
        with self._borrowed(cls) as holder:
            if holder is None:
                return None
            rows: pl.DataFrame = holder._guard(lambda: holder._read(cls, None, False, False),
                                                     cls)
            return rows

    def _samples_frame(self, cls: type[Feature], samples: Any) -> pl.DataFrame | None:
        from metaxy.store.samples import samples_frame

        return samples_frame(cls, samples, is_root=not cls.spec().deps,
                             settings=self.hash_settings)

    def _guard(self, fn: Any, feature: type[Feature] | None = None) -> Any:
        """Run a backend call (on ``feature``), wrapping driver errors into :class:`StoreError`."""
        try:
            return fn()
        except MetaxyError:
            raise
        except Exception as e:
            raise self._driver_error(e, feature) from (e if self.chain_driver_errors else None)

    def _driver_error(self, error: Exception, feature: type[Feature] | None) -> StoreError:
        """The metaxy error for a driver error (backends map the failures they recognise, e.g.
        a lock or statement timeout, to a precise :class:`StoreError`)."""
        return StoreError(f"{self.display()}: {type(error).__name__}: {error}")

    def _spool_increment(self, feature: type[Feature], samples: pl.DataFrame | None,
                         where: Any, stale_if: Any = None) -> Spool:
        """The increment spooled to files (:mod:`metaxy.store.spool`), from one snapshot.

        Default: resolve it eagerly and spool the frames (SQL stores stream the statement's
        rows into the spool instead, batch by batch)."""
        from metaxy.store.spool import spool_frames

        rule = {} if stale_if is None else {"stale_if": stale_if}
        return spool_frames(self._resolve(feature, samples, where, **rule),
                            self._increment_name(feature))

    def _increment_name(self, feature: type[Feature]) -> str:
        return f"feature '{feature.spec().key}' in {self.display()}"

    def _verify_hash_setting(self, stored: str | None) -> None:
        """Refuse a store written with another sample-hash setting (``stored``; None: nothing
        recorded yet) than this store's: its hashes could not be compared."""
        if stored is not None and stored != self.hash_settings.as_text():
            raise HashConfigMismatchError(
                f"{self.display()} was written with sample hash '{stored}', but this store is "
                f"configured with '{self.hash_settings.as_text()}'; hashes cannot be compared. "
                "Configure the store with the recorded setting."
            )

    # ------------------------------------------------------------------ backend contract
    @abstractmethod
    def _open(self, mode: AccessMode) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _append(self, feature: type[Feature], rows: StagedRows) -> int:
        """Append staged rows in one transaction (creating the table if needed); the backend
        finishes their hashes (:mod:`metaxy.engine.staged`)."""

    @abstractmethod
    def _read(self, feature: type[Feature], where: Any, with_history: bool,
              include_deleted: bool) -> pl.DataFrame:
        """Storage-form rows: latest per sample unless ``with_history``."""

    @abstractmethod
    def _hard_delete(self, feature: type[Feature], where: Any) -> int: ...

    @abstractmethod
    def _cleanup(self, feature: type[Feature], bound: datetime, dry_run: bool) -> int:
        """Drop (or, with ``dry_run``, count) the rows with ``updated_at < bound`` that are not
        the latest row (tombstones included) of their sample; ``bound`` is timezone-aware UTC."""

    @abstractmethod
    def _resolve(self, feature: type[Feature], samples: pl.DataFrame | None,
                 where: Any) -> dict[str, pl.DataFrame]:
        """API-form frames ``new``, ``stale``, ``orphaned``.

        With a ``stale_if=`` rule the store passes it as the keyword ``stale_if`` (a checked
        SQLAlchemy clause; only then), and ``_status`` and ``_spool_increment`` take it too:
        the engines' ``increment_statement`` / ``increment_frame`` evaluate it."""

    @abstractmethod
    def _status(self, feature: type[Feature], samples: pl.DataFrame | None,
                where: Any) -> dict[str, int]: ...

    @abstractmethod
    def has_feature(self, feature: type[Feature] | str) -> bool:
        """Whether the store holds a table for the feature."""

    def _latest_state_rows(self, feature: type[Feature]) -> pl.DataFrame | None:
        """The feature's latest state (id columns, ``metaxy_row_id``, ``metaxy_updated_at``,
        ``metaxy_deleted_at``; one row per sample) when the store keeps one and it is ready
        (None otherwise): what the consistency tests compare with the history."""
        return None


def _rule(stale_if: Any) -> dict[str, Any]:
    """The backend keyword of a ``stale_if=`` rule: none without one (a backend that predates
    rules keeps working), else the checked clause."""
    from metaxy.engine import filters as F

    clause = F.combine(stale_if)
    if clause is None:
        return {}
    F.check(clause)
    return {"stale_if": clause}
