"""Autogenerate never proposes losing column data silently (issue 18 item 4).

Two rules, applied to the schema operations :mod:`metaxy.migrations.autogen` derives for a
feature table:

* a dropped and an added **user column of the same type** in one feature are proposed as a
  rename, ``op.alter_column(table, old, new_column_name=new)``, with a warning comment: the stored
  values move to the new name. Ordinary ``add_column`` + ``drop_column`` would silently delete
  them. Several candidates of one type pair up in declaration order (the warning says so);
* a ``drop_column`` of a column that **holds data** (a non-null value in any row, history
  included) is written commented out, with a warning, unless the author confirmed drops
  (``metaxy migrations revision --autogenerate --allow-drop``). An empty column is dropped.

The warnings are also collected on the migration state, so ``Migrations.revision`` can report
them (as :class:`~metaxy.errors.MigrationWarning`) and the CLI prints them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import renderers  # noqa: TID253 (module imported lazily, never by `import metaxy`)
from alembic.operations import MigrateOperation, ops  # noqa: TID253 (module imported lazily, never by `import metaxy`)

from metaxy import columns as C
from metaxy.migrations.snapshots import FeatureSnapshot, fetch_all, sa_type_for
from metaxy.migrations.state import MigrationState


class ColumnRenameProposalOp(MigrateOperation):
    """Autogenerate only: ``op.alter_column(table, old, new_column_name=new)`` with a warning."""

    def __init__(self, feature: str, table: str, old: str, new: str, type_name: str,
                 ambiguous: bool = False, reverse_of: bool = False) -> None:
        self.feature, self.table, self.old, self.new = feature, table, old, new
        self.type_name, self.ambiguous, self.reverse_of = type_name, ambiguous, reverse_of

    def reverse(self) -> MigrateOperation:
        return ColumnRenameProposalOp(self.feature, self.table, self.new, self.old,
                                      self.type_name, self.ambiguous, not self.reverse_of)

    def warning(self) -> str:
        text = (f"feature '{self.feature}': column '{self.old}' was removed and '{self.new}' "
                f"added with the same type ({self.type_name}); proposed as a rename "
                f"(op.alter_column(..., new_column_name={self.new!r})), which keeps the stored "
                "values. If it is not a rename, replace it with add_column + drop_column")
        if self.ambiguous:
            text += " (several columns of that type changed: check the pairing)"
        return text


class DataDropProposalOp(MigrateOperation):
    """Autogenerate only: a commented-out ``drop_column`` of a column that holds data."""

    def __init__(self, feature: str, table: str, column: str, type_name: str,
                 reverse_of: bool = False) -> None:
        self.feature, self.table, self.column = feature, table, column
        self.type_name, self.reverse_of = type_name, reverse_of

    def reverse(self) -> MigrateOperation:
        return DataDropProposalOp(self.feature, self.table, self.column, self.type_name,
                                  not self.reverse_of)

    def warning(self) -> str:
        return (f"feature '{self.feature}': column '{self.column}' was removed from the code but "
                f"holds data in table {self.table}; its drop_column is commented out in the "
                "revision (uncomment it, or autogenerate with --allow-drop, to delete the data)")


def _holds_data(conn: sa.Connection | None, table: str, column: str) -> bool:
    """Whether any row (history included) has a non-null value in the column; without a
    connection the answer is "yes" (never drop what cannot be checked)."""
    if conn is None:
        return True
    stmt = sa.select(sa.literal(1)).select_from(sa.table(table)) \
        .where(sa.column(column).is_not(None)).limit(1)
    return bool(fetch_all(conn, stmt))


def safeguard(feature: str, old: FeatureSnapshot, new: FeatureSnapshot, column_ops: list[Any],
              conn: sa.Connection | None, state: MigrationState) -> tuple[list[Any], list[Any]]:
    """Split ``column_ops`` into the plain schema ops to keep and the proposals replacing renames
    and drops of data (to render after them); warnings go to ``state.warnings``."""
    old_types = {c["name"]: c["type"] for c in old.columns}
    new_types = {c["name"]: c["type"] for c in new.columns}
    drops = [o for o in column_ops if isinstance(o, ops.DropColumnOp)
             and not C.is_reserved(o.column_name)]
    adds = [o for o in column_ops if isinstance(o, ops.AddColumnOp)
            and not C.is_reserved(o.column.name)]
    proposals: list[Any] = []
    replaced: set[int] = set()
    for drop in drops:
        kind = old_types.get(drop.column_name)
        candidates = [a for a in adds if id(a) not in replaced
                      and new_types.get(a.column.name) == kind]
        if not candidates:
            continue
        add = candidates[0]
        same_kind = sum(old_types.get(d.column_name) == kind for d in drops)
        replaced |= {id(drop), id(add)}
        proposals.append(ColumnRenameProposalOp(
            feature, new.table_name, drop.column_name, add.column.name, str(kind),
            ambiguous=len(candidates) > 1 or same_kind > 1))
    kept: list[Any] = []
    for o in column_ops:
        if id(o) in replaced:
            continue
        if isinstance(o, ops.DropColumnOp) and not state.allow_drop \
                and _holds_data(conn, new.table_name, o.column_name):
            proposals.append(DataDropProposalOp(feature, new.table_name, o.column_name,
                                                str(old_types.get(o.column_name, "String"))))
            continue
        kept.append(o)
    state.warnings.extend(p.warning() for p in proposals)
    return kept, proposals


# ---------------------------------------------------------------------------- renderers
@renderers.dispatch_for(ColumnRenameProposalOp)
def _render_rename(autogen_context: Any, op: ColumnRenameProposalOp) -> str:
    call = f"op.alter_column({op.table!r}, {op.old!r}, new_column_name={op.new!r})"
    if op.reverse_of:
        return f"# metaxy: undo the column rename proposed in upgrade()\n{call}"
    lines = [f"# metaxy: WARNING: column '{op.old}' of '{op.feature}' was removed and "
             f"'{op.new}' added with the same type ({op.type_name}).",
             "# Proposed as a rename, which keeps the stored values. If it is not a rename,",
             f"# replace this line with op.add_column({op.table!r}, ...) and "
             f"op.drop_column({op.table!r}, {op.old!r})",
             "# (the drop deletes the column's data)."]
    if op.ambiguous:
        lines.append("# Several columns of this type changed: check that the pairing is right.")
    return "\n".join([*lines, call])


@renderers.dispatch_for(DataDropProposalOp)
def _render_drop(autogen_context: Any, op: DataDropProposalOp) -> str:
    if op.reverse_of:
        type_name = type(sa_type_for(op.type_name)).__name__
        return (f"# metaxy: if you enabled the drop of {op.column!r} in upgrade(), its column "
                "comes back empty:\n"
                f"# op.add_column({op.table!r}, sa.Column({op.column!r}, sa.{type_name}(), "
                "nullable=True))")
    return "\n".join([
        f"# metaxy: WARNING: column '{op.column}' of '{op.feature}' is gone from the code but "
        "holds data;",
        "# dropping it deletes that data for good (history included). Uncomment to drop it,",
        "# or keep the column (re-add it to the model) and nothing is lost.",
        f"# op.drop_column({op.table!r}, {op.column!r})",
    ])
