"""metaxy's Alembic autogenerate plugin (``metaxy.snapshot``).

Compares the last pushed graph snapshot with the code -- never reflecting the database
(duckdb-engine's reflection is broken on current DuckDB / SQLAlchemy) -- and adds to the revision:

* ordinary schema operations for feature tables that exist in the store: ``add_column``,
  ``drop_column``, ``alter_column`` (type / nullability), derived from the snapshot's column
  schema against the code's tables; their reverse goes to ``downgrade()``;
* for every feature whose field versions changed, a commented-out ``op.reconcile`` proposal with
  the reasons. The author decides; the tool never silently reconciles.

Tables of new features are created by the store on first write, so no ``create_table`` is
proposed; removed features keep their tables (history) and get a comment.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.operations import ops  # noqa: TID253 (module imported lazily, never by `import metaxy`)
from alembic.runtime.plugins import Plugin, _all_plugins  # noqa: TID253 (module imported lazily, never by `import metaxy`)
from alembic.util import PriorityDispatchResult  # noqa: TID253 (module imported lazily, never by `import metaxy`)

from metaxy.migrations.diff import diff_snapshots
from metaxy.migrations.operations import ReconcileProposalOp
from metaxy.migrations.snapshots import FeatureSnapshot, sa_type_for, snapshot_of
from metaxy.migrations.state import PLUGIN_NAME, MigrationState


def _column(col: dict[str, Any]) -> sa.Column[Any]:
    return sa.Column(col["name"], sa_type_for(col["type"]), nullable=bool(col["nullable"]))


def schema_ops(old: FeatureSnapshot, new: FeatureSnapshot, new_table: sa.Table) -> list[Any]:
    """Alembic ops turning the table of ``old`` into the table of ``new``."""
    out: list[Any] = []
    table = new.table_name
    old_cols = {c["name"]: c for c in old.columns}
    new_cols = {c["name"]: c for c in new.columns}
    for name, col in new_cols.items():
        if name not in old_cols:
            code_col = new_table.c[name]
            out.append(ops.AddColumnOp(table, sa.Column(name, code_col.type, nullable=True)))
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


def compare(autogen_context: Any, upgrade_ops: ops.UpgradeOps) -> PriorityDispatchResult:
    state = autogen_context.opts.get("metaxy_state")
    if not isinstance(state, MigrationState):
        return PriorityDispatchResult.CONTINUE
    old = state.base_snapshot
    new = snapshot_of(state.graph, state.project)
    diff = diff_snapshots(old, new)
    conn = autogen_context.connection
    existing = set(sa.inspect(conn).get_table_names()) if conn is not None else set()
    for change in diff.changed:
        assert old is not None
        a, b = old.features[change.key], new.features[change.key]
        if b.table_name in existing:
            table = state.graph.get(change.key).__table__  # type: ignore[attr-defined]
            column_ops = schema_ops(a, b, table)
            if column_ops:
                upgrade_ops.ops.append(ops.ModifyTableOps(b.table_name, column_ops))
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
