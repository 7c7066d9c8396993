"""metaxy's Alembic autogenerate plugin (``metaxy.snapshot``).

Compares the last pushed graph snapshot with the code -- never reflecting the database
(duckdb-engine's reflection is broken on current DuckDB / SQLAlchemy) -- and adds to the revision:

* ordinary schema operations for feature tables that exist in the store: ``add_column``,
  ``drop_column``, ``alter_column`` (type / nullability), derived from the snapshot's column
  schema against the code's tables; their reverse goes to ``downgrade()``;
* for every feature whose field versions changed, a commented-out ``op.reconcile`` proposal with
  the reasons. The author decides; the tool never silently reconciles;
* when a feature disappears and a new one appears with the same column schema and the same
  fields (names and code versions), a commented-out ``op.rename_feature`` proposal instead of a
  silent drop + add; likewise ``op.rename_field`` when, within a feature, a field disappears and
  one with the same code version and dependencies appears (the old field's storage columns are
  then kept, not dropped: the old rows keep their history).

A user column dropped and one of the same type added are proposed as a rename
(``op.alter_column(..., new_column_name=...)``), and the drop of a column holding data is commented
out unless confirmed (:mod:`metaxy.migrations.column_safety`).

Tables of new features are created by the store on first write, so no ``create_table`` is
proposed; removed features keep their tables (history) and get a comment.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.operations import ops  # noqa: TID253 (module imported lazily, never by `import metaxy`)
from alembic.runtime.plugins import Plugin, _all_plugins  # noqa: TID253 (module imported lazily, never by `import metaxy`)
from alembic.util import PriorityDispatchResult  # noqa: TID253 (module imported lazily, never by `import metaxy`)

from metaxy import columns as C
from metaxy.keys import FieldKey
from metaxy.migrations.column_safety import safeguard
from metaxy.migrations.diff import diff_snapshots
from metaxy.migrations.operations import ReconcileProposalOp, RenameProposalOp
from metaxy.migrations.snapshots import FeatureSnapshot, Snapshot, sa_type_for, snapshot_of
from metaxy.migrations.state import PLUGIN_NAME, MigrationState


def _column(col: dict[str, Any]) -> sa.Column[Any]:
    return sa.Column(col["name"], sa_type_for(col["type"]), nullable=bool(col["nullable"]))


def _renderable(kind: Any) -> Any:
    """A column type the revision renders with ``sa.`` alone: a type decorator from outside
    SQLAlchemy (SQLModel's ``AutoString`` for a ``str`` field) becomes the SQLAlchemy type it
    stores as; the revision file imports ``sqlalchemy as sa`` only."""
    if isinstance(kind, sa.types.TypeDecorator) and \
            not type(kind).__module__.startswith("sqlalchemy"):
        return kind.impl_instance
    return kind


def schema_ops(old: FeatureSnapshot, new: FeatureSnapshot, new_table: sa.Table) -> list[Any]:
    """Alembic ops turning the table of ``old`` into the table of ``new``."""
    out: list[Any] = []
    table = new.table_name
    old_cols = {c["name"]: c for c in old.columns}
    new_cols = {c["name"]: c for c in new.columns}
    for name, col in new_cols.items():
        if name not in old_cols:
            code_col = new_table.c[name]
            out.append(ops.AddColumnOp(table, sa.Column(name, _renderable(code_col.type),
                                                        nullable=True)))
        elif old_cols[name] != col:
            before = old_cols[name]
            out.append(ops.AlterColumnOp(
                table, name,
                modify_type=sa_type_for(col["type"]) if col["type"] != before["type"] else None,
                existing_type=sa_type_for(before["type"]),
                modify_nullable=bool(col["nullable"])
                if col["nullable"] != before["nullable"] else None,
                existing_nullable=bool(before["nullable"]),
            ))
    for name, col in old_cols.items():
        if name not in new_cols:
            out.append(ops.DropColumnOp.from_column_and_tablename(None, table, _column(col)))
    return out


def _code_versions(fs: FeatureSnapshot) -> dict[str, str]:
    return {name: f["code_version"] for name, f in fs.fields.items()}


def feature_renames(old: Snapshot, new: Snapshot, removed: tuple[str, ...],
                    added: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(old key, new key)`` pairs: a removed and an added feature with the same column schema,
    id columns and fields (names and code versions). Each feature pairs at most once."""
    pairs: list[tuple[str, str]] = []
    taken: set[str] = set()
    for r in removed:
        a_fs = old.features[r]
        for a in added:
            b_fs = new.features[a]
            if a in taken or a_fs.columns != b_fs.columns \
                    or a_fs.spec.get("id_columns") != b_fs.spec.get("id_columns") \
                    or _code_versions(a_fs) != _code_versions(b_fs):
                continue
            pairs.append((r, a))
            taken.add(a)
            break
    return pairs


def field_renames(a: FeatureSnapshot, b: FeatureSnapshot,
                  moved: dict[str, str]) -> list[tuple[str, str]]:
    """``(old field, new field)`` pairs within one feature: a removed and an added field with the
    same code version and parent fields (parent features mapped through ``moved`` renames)."""
    def parents(fs: FeatureSnapshot, name: str, mapping: dict[str, str]) -> list[tuple[str, str]]:
        return sorted((mapping.get(pk, pk), pf) for pk, pf in fs.fields[name]["parents"])

    removed = [f for f in a.fields if f not in b.fields]
    added = [f for f in b.fields if f not in a.fields]
    pairs: list[tuple[str, str]] = []
    for r in removed:
        for n in added:
            if n in {p[1] for p in pairs}:
                continue
            if a.fields[r]["code_version"] == b.fields[n]["code_version"] \
                    and parents(a, r, moved) == parents(b, n, {}):
                pairs.append((r, n))
                break
    return pairs


def compare(autogen_context: Any, upgrade_ops: ops.UpgradeOps) -> PriorityDispatchResult:
    state = autogen_context.opts.get("metaxy_state")
    if not isinstance(state, MigrationState):
        return PriorityDispatchResult.CONTINUE
    old = state.base_snapshot
    new = snapshot_of(state.graph, state.project)
    diff = diff_snapshots(old, new)
    conn = autogen_context.connection
    if not state.sql:  # the connection is Alembic's SQLite stand-in: ask the store
        conn = None  # (and keep every drop of a column commented out: no data check)
        with state.store.using_graph(state.graph):
            existing = {state.graph.get(k).spec().key.table_name for k in state.graph.keys
                        if state.store.has_feature(str(k))}
    else:
        existing = set(sa.inspect(conn).get_table_names()) if conn is not None else set()
    moved = feature_renames(old, new, diff.removed, diff.added) if old is not None else []
    for gone, came in moved:
        upgrade_ops.ops.append(RenameProposalOp(
            f"op.rename_feature({gone!r}, {came!r})",
            f"'{gone}' was removed and '{came}' added with the same columns and fields"))
    renamed_fields: dict[str, list[tuple[str, str]]] = {}
    for change in diff.changed:
        assert old is not None
        a, b = old.features[change.key], new.features[change.key]
        pairs = field_renames(a, b, dict(moved))
        renamed_fields[change.key] = pairs
        if b.table_name in existing:
            table = state.graph.get(change.key).__table__  # type: ignore[attr-defined]
            column_ops = schema_ops(a, b, table)
            # a proposed field rename keeps the old field's storage columns (history)
            keep = {col for r, _ in pairs
                    for col in (C.pv_column(FieldKey(r)), C.dv_column(FieldKey(r)))}
            column_ops = [o for o in column_ops
                          if not (isinstance(o, ops.DropColumnOp) and o.column_name in keep)]
            column_ops, proposals = safeguard(change.key, a, b, column_ops, conn, state)
            if column_ops:
                upgrade_ops.ops.append(ops.ModifyTableOps(b.table_name, column_ops))
            upgrade_ops.ops.extend(proposals)
    for change in diff.changed:
        for r, n in renamed_fields.get(change.key, []):
            upgrade_ops.ops.append(RenameProposalOp(
                f"op.rename_field({change.key!r}, {r!r}, {n!r})",
                f"field '{r}' of '{change.key}' was removed and '{n}' added with the same "
                "code version and dependencies (the storage columns of "
                f"'{r}' are kept for the old rows)"))
    for change in diff.changed:
        if change.fields_changed:
            reasons = [f"field {fc.field}: {fc.reason}" for fc in change.fields_changed]
            upgrade_ops.ops.append(ReconcileProposalOp(change.key, reasons))
    return PriorityDispatchResult.CONTINUE


def setup(plugin: Plugin) -> None:
    plugin.add_autogenerate_comparator(compare, "autogenerate")


def register() -> None:
    """Register the plugin with Alembic once per process."""
    if PLUGIN_NAME not in _all_plugins:
        import sys

        Plugin.setup_plugin_from_module(sys.modules[__name__], PLUGIN_NAME)
