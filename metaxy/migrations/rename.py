"""Data operations of migrations: ``rename_feature`` and ``rename_field`` (SPEC §8).

Feature keys and field keys enter the sample hashes (a field's provenance hashes its
fully-qualified name and its parents' names), so a rename changes provenance without changing
what anything computes. A rename therefore

1. **carries** the renamed feature's current rows: every user column and every data version is
   kept (under the new field name for ``rename_field``), and each field gets the provenance
   expected under the *new* graph -- but only where the sample was up to date in that field under
   the *old* graph; a field that was already stale keeps its stored provenance and stays stale.
   ``rename_feature`` appends the rows to the new feature's table and leaves the old table alone
   (it stays readable as history); ``rename_field`` appends to the feature's own table, whose old
   rows keep the old field's storage columns (history) while the new ones are added;
2. **reconciles the dependents**: a direct dependent's field provenance hashes the renamed
   parent's name and its data version; the data versions are carried, so reconciling the fields
   that depend on the renamed one (:func:`metaxy.migrations.reconcile.reconcile`) is all that is
   needed. Features further downstream hash the dependents' (unchanged) data versions and names,
   so nothing changes for them.

Both steps are idempotent: a carried sample is not carried again (re-runs and resumed upgrades
append nothing), and a reconciled sample is no longer stale. Renames in one revision run in the
order they are written; rename upstream features before their dependents.

A root feature's provenance hashes the caller's inputs, which are not stored: its rows are
carried with their stored provenance (they are reported stale when the caller next passes
samples; write them again, or backfill), while its dependents are still reconciled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine.plan import build_plan
from metaxy.errors import FeatureNotFoundError, MigrationError, StoreError
from metaxy.graph import FeatureGraph
from metaxy.keys import FieldKey
from metaxy.migrations import records
from metaxy.migrations.reconcile import OpResult, _collect, _commit, reconcile
from metaxy.migrations.snapshots import connection

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.base import MetadataStore

log = logging.getLogger("metaxy.migrations")

#: columns re-derived by the store on write (never carried as they are)
_DERIVED = (C.PROVENANCE, C.DATA_VERSION, C.ROW_ID, C.UPDATED_AT, C.DELETED_AT,
            C.FEATURE_VERSION, C.PROJECT_VERSION, C.MATERIALIZATION_ID)


@dataclass(frozen=True)
class Step:
    """One tracked part of a rename: the carry, or the reconcile of one dependent."""

    operation: str  # "rename_feature" | "rename_field" | "reconcile"
    feature: str
    run: Callable[[], OpResult]


def _get(graph: FeatureGraph, key: str, which: str, op: str) -> type[Feature]:
    try:
        return graph.get(key)
    except FeatureNotFoundError as e:
        raise MigrationError(f"{op}: feature '{key}' is not in the {which} graph") from e


def _has(store: MetadataStore, graph: FeatureGraph, cls: type[Feature]) -> bool:
    """Whether the store holds the table of ``cls`` (resolved in ``graph``, not the store's)."""
    with store.using_graph(graph):
        return store.has_feature(cls)


def _field_names(cls: type[Feature]) -> list[str]:
    return [str(k) for k in cls.spec().field_keys]


# ---------------------------------------------------------------------------- checks
def _check_same_fields(op: str, old_cls: type[Feature], new_cls: type[Feature],
                       mapping: dict[str, str], old_graph: FeatureGraph,
                       new_graph: FeatureGraph) -> None:
    """A rename must carry only the rename: same fields (modulo ``mapping``), code versions,
    id columns and parent field names. Anything else belongs in its own revision."""
    old_spec, new_spec = old_cls.spec(), new_cls.spec()
    where = f"{op} '{old_spec.key}' -> '{new_spec.key}'"
    if tuple(old_spec.id_columns) != tuple(new_spec.id_columns):
        raise MigrationError(f"{where}: the id columns changed ({list(old_spec.id_columns)} -> "
                             f"{list(new_spec.id_columns)}); a rename cannot carry that")
    old_fields = {mapping.get(str(f.key), str(f.key)): f for f in old_spec.fields}
    new_fields = {str(f.key): f for f in new_spec.fields}
    if set(old_fields) != set(new_fields):
        raise MigrationError(f"{where}: the fields differ beyond the rename (old, renamed: "
                             f"{sorted(old_fields)}; new: {sorted(new_fields)})")
    for name, nf in new_fields.items():
        of = old_fields[name]
        if of.code_version != nf.code_version:
            raise MigrationError(
                f"{where}: field '{name}' also changes its code_version ({of.code_version} -> "
                f"{nf.code_version}); rename in one revision, change the code in another")
        old_parents = sorted(str(p[1]) for p in old_graph.field_parents(old_spec.key, of.key))
        new_parents = sorted(str(p[1]) for p in new_graph.field_parents(new_spec.key, nf.key))
        if old_parents != new_parents:
            raise MigrationError(f"{where}: the dependencies of field '{name}' changed "
                                 f"({old_parents} -> {new_parents}); a rename cannot carry that")


# ---------------------------------------------------------------------------- storage columns
def ensure_field_columns(store: MetadataStore, cls: type[Feature],
                         operations: Any = None) -> list[str]:
    """Add the per-field storage columns of ``cls`` missing from its table; return their names.

    ``operations`` is the running Alembic ``Operations`` (inside a revision); outside one, a
    migration context is configured on the store's connection. A store without SQL DDL adds
    them by its schema evolution (:meth:`~metaxy.store.StoreContract.evolve_schema`, resolving
    ``cls`` in its own graph: call it inside ``store.using_graph`` of the graph of ``cls``).
    """
    if not records.uses_sql(store):
        return _evolve_field_columns(store, cls)
    conn = connection(store)
    table: sa.Table = cls.__table__  # type: ignore[attr-defined]
    if table.name not in set(sa.inspect(conn).get_table_names()):
        return []
    # not sa.inspect(...).get_columns: duckdb-engine's column reflection fails on DuckDB
    present = set(conn.execute(sa.select(sa.literal_column("*"))
                               .select_from(sa.table(table.name)).limit(0)).keys())
    missing = [col for f in cls.spec().field_keys
               for col in (C.pv_column(f), C.dv_column(f)) if col not in present]
    if not missing:
        return []
    if operations is None:
        from alembic.operations import Operations
        from alembic.runtime.migration import MigrationContext

        from metaxy.migrations.environment import load_extensions

        load_extensions(conn.dialect.name)
        operations = Operations(MigrationContext.configure(connection=conn))
    for name in missing:
        operations.add_column(table.name, sa.Column(name, sa.String, nullable=True))
    _commit(store)
    return missing


def _evolve_field_columns(store: MetadataStore, cls: type[Feature]) -> list[str]:
    """The per-field storage columns of ``cls`` added by the store's schema evolution (the
    model's other missing nullable columns come with them, as one schema change)."""
    key = str(cls.spec().key)
    if not store.has_feature(key):
        return []
    try:
        added = store.evolve_schema(key)
    except StoreError as e:
        raise MigrationError(f"rename_field of '{key}': {store.display()} cannot add the new "
                             f"field's storage columns ({e})") from e
    fields = {col for f in cls.spec().field_keys for col in (C.pv_column(f), C.dv_column(f))}
    return [c for c in added if c in fields]


# ---------------------------------------------------------------------------- the carry
def _latest(store: MetadataStore, graph: FeatureGraph, cls: type[Feature]) -> pl.DataFrame:
    with store.using_graph(graph):
        return store.read(str(cls.spec().key))


def carry(store: MetadataStore, *, operation: str, old_cls: type[Feature],
          new_cls: type[Feature], old_graph: FeatureGraph, new_graph: FeatureGraph,
          field_map: dict[str, str], dry_run: bool = False,
          materialization_id: str | None = None) -> OpResult:
    """Append the old feature's current rows under the new definition (module docstring, 1.).

    ``field_map`` maps old field names to new ones (identity for the fields not renamed).
    """
    old_key, new_key = str(old_cls.spec().key), str(new_cls.spec().key)
    keys = list(build_plan(new_cls, new_graph).key_columns)
    if not _has(store, old_graph, old_cls):
        return OpResult(operation, new_key, 0, dry_run=dry_run)
    current = _latest(store, old_graph, old_cls)
    # samples already carried (an earlier, interrupted run) are not carried again
    if _has(store, new_graph, new_cls) and not dry_run:
        done = _latest(store, new_graph, new_cls)
        renamed = [new for old, new in field_map.items() if old != new] or _field_names(new_cls)
        done = done.filter(pl.all_horizontal(
            [pl.col(C.PROVENANCE_BY_FIELD).struct.field(f).is_not_null() for f in renamed]))
        current = current.join(done.select(keys), on=keys, how="anti")
    if current.height == 0:
        return OpResult(operation, new_key, 0, dry_run=dry_run)
    is_root = not new_cls.spec().deps
    if is_root:
        log.warning("metaxy: %s of root feature '%s': its provenance hashes inputs that are not "
                    "stored, so the rows keep their stored provenance and are reported stale "
                    "when samples are next passed", operation, new_key)
    with store.using_graph(old_graph):
        stale_old = pl.DataFrame() if is_root else \
            _collect(store.resolve_update(old_key)).stale
    stale_old = stale_old.select(*keys, pl.col(C.STALE_FIELDS).alias("__stale_old")) \
        if stale_old.height else None
    if dry_run:
        kept = 0 if stale_old is None else current.join(stale_old, on=keys, how="semi").height
        return OpResult(operation, new_key, current.height, kept, True)
    expected = None
    if not is_root:
        with store.using_graph(new_graph):
            inc = _collect(store.resolve_update(new_key))
        parts = [p.select(*keys, pl.col(C.PROVENANCE_BY_FIELD).alias("__expected"))
                 for p in (inc.new, inc.stale) if p.height]
        expected = pl.concat(parts, how="vertical_relaxed") if parts else None
    rows = current
    if stale_old is not None:
        rows = rows.join(stale_old, on=keys, how="left")
    else:
        rows = rows.with_columns(pl.lit(None, dtype=pl.List(pl.Utf8)).alias("__stale_old"))
    if expected is not None:
        rows = rows.join(expected, on=keys, how="left")
    pv_exprs, dv_exprs, kept_any = [], [], []
    for old, new in field_map.items():
        stored = pl.col(C.PROVENANCE_BY_FIELD).struct.field(old)
        was_stale = pl.col("__stale_old").list.contains(old).fill_null(False)
        if expected is not None:
            fresh = pl.col("__expected").struct.field(new)
            ok = fresh.is_not_null() & ~was_stale
            pv_exprs.append(pl.when(ok).then(fresh).otherwise(stored).alias(new))
            kept_any.append(~ok)
        else:
            pv_exprs.append(stored.alias(new))
        dv_exprs.append(pl.col(C.DATA_VERSION_BY_FIELD).struct.field(old).alias(new))
    kept = rows.filter(pl.any_horizontal(kept_any)).height if kept_any else rows.height
    # rename_field: the carried rows also keep the old field's storage columns (module docstring)
    old_columns = {
        col: expr for old, new in field_map.items() if old != new
        for col, expr in ((C.pv_column(FieldKey(old)),
                           pl.col(C.PROVENANCE_BY_FIELD).struct.field(old)),
                          (C.dv_column(FieldKey(old)),
                           pl.col(C.DATA_VERSION_BY_FIELD).struct.field(old)))
    }
    extra = rows.select([e.alias(c) for c, e in old_columns.items()])
    rows = rows.with_columns(pl.struct(pv_exprs).alias(C.PROVENANCE_BY_FIELD),
                             pl.struct(dv_exprs).alias(C.DATA_VERSION_BY_FIELD))
    user = {c.name for c in new_cls.__table__.columns}  # type: ignore[attr-defined]
    rows = rows.select([c for c in rows.columns
                        if c in (C.PROVENANCE_BY_FIELD, C.DATA_VERSION_BY_FIELD)
                        or (c in user and c not in _DERIVED and not c.startswith(C.PV_PREFIX)
                            and not c.startswith(C.DV_PREFIX))])
    _commit(store)
    with store.using_graph(new_graph):
        if not old_columns:
            written = store.write(new_key, rows, materialization_id=materialization_id)
        else:
            written = _write_with(store, new_cls, rows, extra, materialization_id)
    return OpResult(operation, new_key, written, kept)


def _write_with(store: MetadataStore, cls: type[Feature], rows: pl.DataFrame,
                extra: pl.DataFrame, materialization_id: str | None) -> int:
    """``store.write`` of ``rows`` whose stored rows also fill the ``extra`` columns (a renamed
    field's old storage columns, outside the model). One transaction, like ``write``.

    Why: a dependent is reconciled only where it was up to date under the *old* graph, and that
    classification reads the renamed feature's latest rows through the old field's columns; a
    carried row that left them empty would make every dependent look stale under the old graph
    (also when a resumed upgrade reconciles the dependents after the carry finished).
    """
    from metaxy.store.frames import prepare_write, write_timestamp
    from metaxy.versions import versions_of

    store.require_open("w")
    versions = versions_of(store.graph)
    storage = prepare_write(
        cls, rows, is_root=not cls.spec().deps, settings=store.hash_settings,
        feature_version=versions.feature_version(cls),
        project_version=versions.project_version(store.project), now=write_timestamp(),
        materialization_id=materialization_id)
    if storage.height == 0:
        return 0
    return store.append_storage_rows(cls, pl.concat([storage, extra], how="horizontal"))


# ---------------------------------------------------------------------------- dependents
def dependent_steps(store: MetadataStore, renamed: str, parent_fields: set[str] | None, *,
                    old_graph: FeatureGraph, new_graph: FeatureGraph, dry_run: bool,
                    materialization_id: str | None) -> list[Step]:
    """A reconcile step per direct dependent of ``renamed`` (new key) in the new graph, for the
    fields that depend on it (on ``parent_fields`` of it, when given)."""
    steps: list[Step] = []
    for dep_key in new_graph.downstream(renamed):
        key = str(dep_key)
        try:
            old_cls = old_graph.get(key)
        except FeatureNotFoundError:
            continue  # new in this revision (or renamed itself): nothing stored to reconcile
        spec = new_graph.spec(key)
        old_versions = {str(f.key): f.code_version for f in old_cls.spec().fields}
        fields = []
        for f in spec.fields:
            parents = new_graph.field_parents(key, f.key)
            if not any(str(pk) == renamed and (parent_fields is None or str(pf) in parent_fields)
                       for pk, pf in parents):
                continue
            if old_versions.get(str(f.key)) != f.code_version:
                log.warning("metaxy: '%s' field '%s' also changed its code_version: not "
                            "reconciled after the rename of '%s' (stays stale)", key, f.key,
                            renamed)
                continue
            fields.append(str(f.key))
        if fields:
            steps.append(Step("reconcile", key, _reconcile_fn(
                store, key, fields, old_graph, new_graph, dry_run, materialization_id)))
    return steps


def _reconcile_fn(store: MetadataStore, key: str, fields: list[str], old_graph: FeatureGraph,
                  new_graph: FeatureGraph, dry_run: bool,
                  materialization_id: str | None) -> Callable[[], OpResult]:
    def run() -> OpResult:
        if dry_run:
            # the carry has not run, so the dependent cannot be classified under the new graph:
            # count the samples up to date under the old one (those a reconcile would carry)
            with store.using_graph(old_graph):
                st = store.status(key) if store.has_feature(key) else None
            return OpResult("reconcile", key, (st.up_to_date or 0) if st else 0,
                            (st.stale or 0) if st else 0, True)
        return reconcile(store, key, old_graph=old_graph, new_graph=new_graph, fields=fields,
                         materialization_id=materialization_id)
    return run


# ---------------------------------------------------------------------------- the operations
def rename_feature_steps(store: MetadataStore, old_key: str, new_key: str, *,
                         old_graph: FeatureGraph, new_graph: FeatureGraph, dry_run: bool = False,
                         materialization_id: str | None = None) -> list[Step]:
    """The tracked steps of ``rename_feature``: the carry, then a reconcile per dependent."""
    op = "rename_feature"
    old_cls = _get(old_graph, old_key, "old", op)
    new_cls = _get(new_graph, new_key, "new", op)
    old_k, new_k = str(old_cls.spec().key), str(new_cls.spec().key)
    if old_k == new_k:
        raise MigrationError(f"{op}: '{old_k}' is renamed to itself")
    if new_k in {str(k) for k in old_graph.keys}:
        raise MigrationError(f"{op}: '{new_k}' already exists in the old graph")
    if old_k in {str(k) for k in new_graph.keys}:
        raise MigrationError(f"{op}: '{old_k}' still exists in the new graph")
    _check_same_fields(op, old_cls, new_cls, {}, old_graph, new_graph)
    names = _field_names(new_cls)
    steps = [Step(op, new_k, lambda: carry(
        store, operation=op, old_cls=old_cls, new_cls=new_cls, old_graph=old_graph,
        new_graph=new_graph, field_map={n: n for n in names}, dry_run=dry_run,
        materialization_id=materialization_id))]
    return [*steps, *dependent_steps(store, new_k, None, old_graph=old_graph,
                                     new_graph=new_graph, dry_run=dry_run,
                                     materialization_id=materialization_id)]


def rename_field_steps(store: MetadataStore, feature: str, old: str, new: str, *,
                       old_graph: FeatureGraph, new_graph: FeatureGraph, dry_run: bool = False,
                       materialization_id: str | None = None, operations: Any = None
                       ) -> list[Step]:
    """The tracked steps of ``rename_field``: the carry, then a reconcile per dependent."""
    op = "rename_field"
    old_cls = _get(old_graph, feature, "old", op)
    new_cls = _get(new_graph, feature, "new", op)
    key = str(new_cls.spec().key)
    old_f, new_f = str(FieldKey(old)), str(FieldKey(new))
    if old_f not in _field_names(old_cls):
        raise MigrationError(f"{op}: feature '{key}' has no field '{old_f}' in the old graph "
                             f"(fields: {_field_names(old_cls)})")
    if new_f not in _field_names(new_cls):
        raise MigrationError(f"{op}: feature '{key}' has no field '{new_f}' in the new graph "
                             f"(fields: {_field_names(new_cls)})")
    if new_f in _field_names(old_cls) or old_f in _field_names(new_cls):
        raise MigrationError(f"{op}: '{key}' field '{old_f}' -> '{new_f}' is not a rename "
                             "(one of the names is in both graphs)")
    mapping = {n: n for n in _field_names(old_cls)}
    mapping[old_f] = new_f
    _check_same_fields(op, old_cls, new_cls, {old_f: new_f}, old_graph, new_graph)

    def run() -> OpResult:
        if not dry_run:
            with store.using_graph(new_graph):
                ensure_field_columns(store, new_cls, operations)
        return carry(store, operation=op, old_cls=old_cls, new_cls=new_cls,
                     old_graph=old_graph, new_graph=new_graph, field_map=mapping,
                     dry_run=dry_run, materialization_id=materialization_id)

    dependents = dependent_steps(store, key, {new_f}, old_graph=old_graph, new_graph=new_graph,
                                 dry_run=dry_run, materialization_id=materialization_id)
    return [Step(op, key, run), *dependents]
