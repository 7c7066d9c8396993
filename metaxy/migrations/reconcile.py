"""Data operations of migrations: ``reconcile`` and ``backfill`` (SPEC §8), plus their tracking.

**reconcile** brings a feature's samples up to date under a new graph *without recomputing*, for a
change its author declares non-breaking. For every sample that

* is stale under the new graph (its stored provenance differs from the one expected now), and
* was up to date under the old graph (the snapshot the migration starts from),

it appends a row that keeps every user column and the old data versions (the output did not
change) and carries the provenance expected under the new graph. Samples that were already stale
under the old definitions stay stale. Because downstream features hash upstream *data versions*,
nothing downstream turns stale. Rows are appended: the old rows stay as history. Running it again
appends nothing (the reconciled samples are no longer stale), which makes re-runs and resumed
upgrades safe.

Both classifications run inside the database through the store's ``resolve_update`` machinery:
once with the code's graph, once with the graph rebuilt from the old snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine.plan import build_plan
from metaxy.errors import FeatureNotFoundError, MigrationError
from metaxy.graph import FeatureGraph
from metaxy.migrations import records
from metaxy.migrations.snapshots import PROGRESS_TABLE, begin, connection, ensure_system_tables

if TYPE_CHECKING:
    from metaxy.store.base import MetadataStore

ADHOC = "adhoc"


@dataclass(frozen=True)
class OpResult:
    """What one data operation did (or would do, with ``dry_run``) for one feature."""

    operation: str
    feature: str
    rows: int
    skipped_stale: int = 0
    dry_run: bool = False
    resumed: bool = False  # already done by an earlier (interrupted) run: nothing redone


def _collect(inc: Any) -> Any:
    return inc.collect() if hasattr(inc, "collect") else inc


def reconcile(store: MetadataStore, feature: str, *, old_graph: FeatureGraph,
              new_graph: FeatureGraph, fields: list[str] | None = None,
              dry_run: bool = False, materialization_id: str | None = None) -> OpResult:
    """Reconcile one feature from ``old_graph`` to ``new_graph`` (see the module docstring).

    Args:
        fields: only these fields get the new provenance (the others keep the stored one);
            default: every field.
        dry_run: count the rows that would be appended; write nothing.
    """
    try:
        new_cls = new_graph.get(feature)
    except FeatureNotFoundError as e:
        raise MigrationError(f"reconcile: feature '{feature}' is not in the new graph") from e
    try:
        old_graph.get(feature)
    except FeatureNotFoundError as e:
        raise MigrationError(f"reconcile: feature '{feature}' is not in the old snapshot; a new "
                             "feature has nothing to reconcile") from e
    key = str(new_cls.spec().key)
    spec = new_cls.spec()
    if not spec.deps:
        raise MigrationError(
            f"reconcile: '{key}' is a root feature; its provenance hashes the caller's inputs, "
            "which are not stored, so it cannot be reconciled (use backfill, or write it again)")
    selected = [str(f) for f in spec.field_keys]
    if fields:
        unknown = [f for f in fields if f not in selected]
        if unknown:
            raise MigrationError(f"reconcile: feature '{key}' has no field(s) {unknown} "
                                 f"(fields: {selected})")
        selected = list(fields)
    if not store.has_feature(new_cls):
        return OpResult("reconcile", key, 0, dry_run=dry_run)
    keys = list(build_plan(new_cls, new_graph).key_columns)
    with store.using_graph(new_graph):
        stale_new = _collect(store.resolve_update(key)).stale
    if stale_new.height == 0:
        return OpResult("reconcile", key, 0, dry_run=dry_run)
    with store.using_graph(old_graph):
        stale_old = _collect(store.resolve_update(key)).stale
    candidates = stale_new.join(stale_old.select(keys), on=keys, how="anti")
    candidates = candidates.filter(
        pl.col(C.STALE_FIELDS).list.eval(pl.element().is_in(selected)).list.any())
    skipped = stale_new.height - candidates.height
    if candidates.height == 0:
        return OpResult("reconcile", key, 0, skipped, dry_run)
    expected = candidates.select(
        *keys, pl.col(C.PROVENANCE_BY_FIELD).alias("__expected_pv"))
    with store.using_graph(new_graph):
        current = store.read(key)
    rows = current.join(expected, on=keys, how="inner")
    if dry_run:
        return OpResult("reconcile", key, rows.height, skipped, True)
    pv = pl.struct([
        (pl.col("__expected_pv") if f in selected else pl.col(C.PROVENANCE_BY_FIELD))
        .struct.field(f).alias(f)
        for f in (str(k) for k in spec.field_keys)
    ])
    rows = rows.with_columns(pv.alias(C.PROVENANCE_BY_FIELD)).drop(
        "__expected_pv", C.PROVENANCE, C.DATA_VERSION, C.ROW_ID, C.UPDATED_AT, C.DELETED_AT,
        C.FEATURE_VERSION, C.PROJECT_VERSION, C.MATERIALIZATION_ID, strict=False)
    _commit(store)
    with store.using_graph(new_graph):
        written = store.write(key, rows, materialization_id=materialization_id)
    return OpResult("reconcile", key, written, skipped)


def backfill(store: MetadataStore, feature: str, data: Any, *, graph: FeatureGraph,
             dry_run: bool = False, materialization_id: str | None = None) -> OpResult:
    """Append metadata for a feature from a frame, or a callable ``(store) -> frame``."""
    frame = data(store) if callable(data) else data
    df = frame if isinstance(frame, pl.DataFrame) else pl.DataFrame(frame)
    if dry_run:
        return OpResult("backfill", feature, df.height, dry_run=True)
    _commit(store)
    with store.using_graph(graph):
        written = store.write(feature, df, materialization_id=materialization_id)
    return OpResult("backfill", feature, written)


def _commit(store: MetadataStore) -> None:
    """End the SQL store's implicit transaction before a write (a store without SQL has none)."""
    if not records.uses_sql(store):
        return
    conn = connection(store)
    if conn.in_transaction():
        conn.commit()


# ---------------------------------------------------------------------------- progress
def is_done(store: MetadataStore, project: str, revision: str, op_index: int, operation: str,
            feature: str) -> bool:
    """Whether this data operation of this revision already finished for the feature."""
    if revision == ADHOC:
        return False
    if not records.uses_sql(store):
        rows = records.read(store, PROGRESS_TABLE).filter(
            (pl.col("project") == project) & (pl.col("revision") == revision)
            & (pl.col("op_index") == op_index) & (pl.col("operation") == operation)
            & (pl.col("feature_key") == feature) & (pl.col("status") == "done"))
        return rows.height > 0
    conn = connection(store)
    if PROGRESS_TABLE.name not in set(sa.inspect(conn).get_table_names()):
        return False
    t = PROGRESS_TABLE
    found = conn.execute(sa.select(sa.func.count()).select_from(t).where(
        t.c.project == project, t.c.revision == revision, t.c.op_index == op_index,
        t.c.operation == operation, t.c.feature_key == feature, t.c.status == "done")).all()[0][0]
    return bool(found)


def record(store: MetadataStore, project: str, revision: str, op_index: int,
           result: OpResult) -> None:
    """Record a finished data operation in the store."""
    row = {"id": str(uuid.uuid4()), "project": project, "revision": revision,
           "op_index": op_index, "operation": result.operation, "feature_key": result.feature,
           "status": "done", "rows": result.rows, "finished_at": datetime.now(UTC)}
    if not records.uses_sql(store):
        records.append(store, PROGRESS_TABLE, [row])
        return
    ensure_system_tables(store)
    conn = connection(store)
    with begin(conn):
        conn.execute(PROGRESS_TABLE.insert().values(**row))


def progress(store: MetadataStore, project: str) -> list[dict[str, Any]]:
    """Every recorded data operation of the project, oldest first."""
    if not records.uses_sql(store):
        return records.read(store, PROGRESS_TABLE).filter(pl.col("project") == project) \
            .sort(["finished_at", "id"]).to_dicts()
    conn = connection(store)
    if PROGRESS_TABLE.name not in set(sa.inspect(conn).get_table_names()):
        return []
    t = PROGRESS_TABLE
    rows = conn.execute(sa.select(t).where(t.c.project == project)
                        .order_by(t.c.finished_at, t.c.id)).mappings().all()
    conn.commit()
    return [dict(r) for r in rows]


def run_tracked(store: MetadataStore, project: str, revision: str, op_index: int,
                operation: str, feature: str, fn: Callable[[], OpResult],
                dry_run: bool = False) -> OpResult:
    """Run a data operation unless already done for this revision; record it when done."""
    if is_done(store, project, revision, op_index, operation, feature):
        return OpResult(operation, feature, 0, resumed=True, dry_run=dry_run)
    result = fn()
    if not result.dry_run:
        record(store, project, revision, op_index, result)
    return result
