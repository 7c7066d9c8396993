"""The increment handed to an asset body, and the write-back that records the Dagster run id.

A :class:`FeatureIncrement` lives inside an opened store (mode ``"w"``) for the duration of one
asset body. It resolves what to compute (``store.resolve_update``), writes results with
``materialization_id=context.run_id`` and accumulates what happened, which :meth:`metadata` turns
into the materialization's metadata::

    with metaxy.increment(context, Transcript) as inc:
        rows = inc.to_process.with_columns(text=...)
        inc.write(rows)
    return inc.result()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import polars as pl
import sqlalchemy as sa

from metaxy import versions_of
from metaxy.store import Increment, LazyIncrement, MetadataStore
from metaxy_dagster.errors import ComputeError

if TYPE_CHECKING:
    from metaxy import Feature

OrphanPolicy = Literal["keep", "delete"]
MAX_LISTED_SAMPLES = 100
"""At most this many processed sample ids are listed in the materialization metadata."""
_DELETE_BATCH = 500

META_PREFIX = "metaxy/"


class FeatureIncrement:
    """One feature's increment inside an asset body (see the module docstring).

    Attributes:
        context: the Dagster execution context (its ``run_id`` becomes the rows'
            ``metaxy_materialization_id``; ``context.resources`` reaches other resources).
        store: the metaxy store, open for writing.
        feature: the feature class.
    """

    def __init__(self, context: Any, store: MetadataStore, feature: type[Feature] | str) -> None:
        self.context = context
        self.store = store
        self.feature = store.feature(feature)
        self._increment: Increment | None = None
        self._rows_written = 0
        self._orphans_deleted = 0
        self._written_keys: list[pl.DataFrame] = []

    # ------------------------------------------------------------------ identity
    @property
    def key(self) -> str:
        return str(self.feature.spec().key)

    @property
    def is_root(self) -> bool:
        return not self.feature.spec().deps

    @property
    def feature_version(self) -> str:
        return versions_of(self.store.graph).feature_version(self.feature)

    @property
    def rows_written(self) -> int:
        """Rows written so far through :meth:`write`."""
        return self._rows_written

    @property
    def materialization_id(self) -> str | None:
        run = getattr(self.context, "run", None)  # AssetExecutionContext.run_id is deprecated
        run_id = getattr(run, "run_id", None) if run is not None else None
        if run_id is None and not hasattr(self.context, "run"):
            run_id = getattr(self.context, "run_id", None)
        return str(run_id) if run_id else None

    # ------------------------------------------------------------------ resolve
    def resolve(self, samples: Any = None, where: Any = None) -> Increment:
        """Resolve (or re-resolve) the increment; root features need ``samples``."""
        inc = self.store.resolve_update(self.feature, samples=samples, where=where)
        self._increment = inc.collect() if isinstance(inc, LazyIncrement) else inc
        return self._increment

    @property
    def resolved(self) -> bool:
        return self._increment is not None

    @property
    def increment(self) -> Increment:
        if self._increment is None:
            raise ComputeError(
                f"feature '{self.key}': the increment is not resolved yet"
                + (" (a root feature resolves against samples: call resolve(samples))"
                   if self.is_root else ""))
        return self._increment

    @property
    def new(self) -> pl.DataFrame:
        return self.increment.new

    @property
    def stale(self) -> pl.DataFrame:
        return self.increment.stale

    @property
    def orphaned(self) -> pl.DataFrame:
        return self.increment.orphaned

    @property
    def to_process(self) -> pl.DataFrame:
        """``new`` and ``stale`` rows together: the samples to compute (with their provenance)."""
        return self.increment.to_process()

    @property
    def sample_columns(self) -> list[str]:
        """The id columns the increment's rows carry (an expansion's: the parent's)."""
        cols = self.to_process.columns if self._increment is not None else []
        return [c for c in self.feature.spec().id_columns if c in cols]

    # ------------------------------------------------------------------ write back
    def write(self, rows: Any) -> int:
        """Write computed rows, recording the Dagster run id as their materialization id."""
        frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
        written = self.store.write(self.feature, frame,
                                   materialization_id=self.materialization_id)
        self._rows_written += written
        keys = [c for c in self.sample_columns if c in frame.columns]
        if keys and frame.height:
            self._written_keys.append(frame.select(keys).unique())
        return written

    def delete_orphaned(self) -> int:
        """Soft-delete (tombstone) the stored samples listed in ``orphaned``."""
        orphaned = self.orphaned
        ids = [c for c in self.feature.spec().id_columns if c in orphaned.columns]
        if orphaned.height == 0 or not ids:
            return 0
        table = self.feature.__table__  # type: ignore[attr-defined]
        values = orphaned.select(ids).unique().rows()
        deleted = 0
        for start in range(0, len(values), _DELETE_BATCH):
            batch = values[start:start + _DELETE_BATCH]
            if len(ids) == 1:
                where: Any = table.c[ids[0]].in_([v[0] for v in batch])
            else:
                where = sa.or_(*[sa.and_(*[table.c[c] == v for c, v in zip(ids, row, strict=True)])
                                 for row in batch])
            deleted += self.store.delete(self.feature, where)
        self._orphans_deleted += deleted
        return deleted

    # ------------------------------------------------------------------ reporting
    def unprocessed(self) -> pl.DataFrame:
        """Samples of ``to_process`` for which no row was written (ids only)."""
        keys = self.sample_columns
        if not keys:
            return pl.DataFrame()
        todo = self.to_process.select(keys).unique()
        if not self._written_keys:
            return todo
        done = pl.concat(self._written_keys, how="vertical_relaxed").unique()
        return todo.join(done, on=keys, how="anti", nulls_equal=True)

    def metadata(self) -> dict[str, Any]:
        """Materialization metadata: counts handled, rows written, feature version."""
        meta: dict[str, Any] = {
            f"{META_PREFIX}feature": self.key,
            f"{META_PREFIX}feature_version": self.feature_version,
            f"{META_PREFIX}rows_written": self._rows_written,
            f"{META_PREFIX}orphaned_deleted": self._orphans_deleted,
        }
        if self._increment is None:
            return meta
        counts = self.increment.counts
        todo = self.to_process
        keys = self.sample_columns
        listed = todo.select(keys).unique().sort(keys).head(MAX_LISTED_SAMPLES) if keys \
            else pl.DataFrame()
        meta.update({
            f"{META_PREFIX}new": counts["new"],
            f"{META_PREFIX}stale": counts["stale"],
            f"{META_PREFIX}orphaned": counts["orphaned"],
            f"{META_PREFIX}processed": todo.height,
            f"{META_PREFIX}unprocessed": self.unprocessed().height,
            f"{META_PREFIX}processed_samples": dg.MetadataValue.json(listed.to_dicts()),
        })
        return meta

    def result(self) -> dg.MaterializeResult:  # type: ignore[type-arg]
        return dg.MaterializeResult(metadata=self.metadata())


def check_rows(inc: FeatureIncrement, rows: Any) -> pl.DataFrame:
    """A compute function's result as a frame (``None`` only when nothing was to be done)."""
    if rows is None:
        raise ComputeError(
            f"feature '{inc.key}': the compute function returned None for "
            f"{inc.to_process.height} sample(s) to process; return the computed rows")
    if isinstance(rows, pl.LazyFrame):
        return rows.collect()
    if isinstance(rows, pl.DataFrame):
        return rows
    try:
        return pl.DataFrame(rows)
    except Exception as e:
        raise ComputeError(f"feature '{inc.key}': the compute function returned "
                           f"{type(rows).__name__}, not a frame: {e}") from e
