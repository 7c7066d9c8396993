"""Alembic on a store without SQL (``memory://``, ``delta:///``).

Alembic needs a SQL connection for its version table. On a store without SQL, a revision runs on
an in-memory SQLite connection whose version table is loaded from the store's system records
(:func:`metaxy.migrations.records.versions`) before the run and written back after every applied
revision, so an interrupted upgrade resumes after the last finished revision (data operations
inside a revision resume per feature, as on SQL stores).

Schema operations of a revision go to :class:`StoreRecordsImpl` instead of SQLite:

* ``add_column`` of a column the target graph's feature has: the store's schema evolution
  (:meth:`~metaxy.store.StoreContract.evolve_schema`; Delta: a schema merge, no data
  rewritten, old rows read nulls). A table never written needs nothing: its first write creates
  it with every column;
* any other schema operation (``drop_column``, ``alter_column``, ``create_table``,
  ``op.execute``, ...): a :class:`~metaxy.errors.MigrationError` naming the operation, the table
  and why -- never a silent no-op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic.ddl.impl import DefaultImpl  # noqa: TID253 (module imported lazily, never by `import metaxy`)

from metaxy.errors import MigrationError, StoreError, TableSchemaMismatchError
from metaxy.migrations import records
from metaxy.migrations.state import VERSION_TABLE, MigrationState

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.graph import FeatureGraph


class StoreRecordsImpl(DefaultImpl):
    """The Alembic implementation of a store without SQL: see the module docstring."""

    __dialect__ = "metaxy_store_records"
    metaxy_state: MigrationState

    # ------------------------------------------------------------------ helpers
    def _where(self) -> str:
        state = self.metaxy_state
        return f"revision {state.revision or '?'} on {state.store.display()}"

    def _refuse(self, operation: str, table: str | None, why: str) -> MigrationError:
        on = f" of table '{table}'" if table else ""
        return MigrationError(
            f"{self._where()}: {operation}{on} cannot run: the {self.metaxy_state.store.backend} "
            f"store has no SQL DDL ({why}). Remove the operation from the revision, or run it "
            "against a SQL store")

    def _target_graph(self) -> FeatureGraph:
        state = self.metaxy_state
        return state.snapshot_graph(state.revision_to) if state.revision_to else state.graph

    def _feature_of(self, graph: FeatureGraph, table: str) -> type[Feature] | None:
        for key in graph.keys:
            cls = graph.get(key)
            if cls.spec().key.table_name == table:
                return cls
        return None

    # ------------------------------------------------------------------ schema operations
    def add_column(self, table_name: str, column: sa.Column[Any], **kw: Any) -> None:
        """A user column added to a feature's model: the store's schema evolution."""
        state = self.metaxy_state
        graph = self._target_graph()
        cls = self._feature_of(graph, table_name)
        what = f"add_column('{table_name}', '{column.name}')"
        if cls is None:
            raise self._refuse("add_column", table_name, "no feature of the revision's target "
                               "graph has this table; only a feature's model columns can be "
                               "added, by schema evolution")
        model = cls.__table__.columns  # type: ignore[attr-defined]
        if column.name not in model:
            raise self._refuse(f"add_column of '{column.name}'", table_name,
                               f"feature '{cls.spec().key}' has no column '{column.name}' in the "
                               "revision's target graph; schema evolution adds model columns")
        if not (model[column.name].nullable and column.nullable is not False):
            raise self._refuse(f"add_column of '{column.name}'", table_name,
                               "the column is not nullable: the rows already stored have no "
                               "value for it")
        key = str(cls.spec().key)
        try:
            with state.store.using_graph(graph):
                state.store.evolve_schema(key)
        except (StoreError, TableSchemaMismatchError) as e:
            raise MigrationError(f"{self._where()}: {what}: {e}") from e

    def drop_column(self, table_name: str, column: sa.Column[Any], **kw: Any) -> None:
        raise self._refuse(f"drop_column of '{column.name}'", table_name,
                           "its tables cannot drop a column; leave the column: a stored "
                           "column the model no longer has is kept as readable history")

    def alter_column(self, table_name: str, column_name: str, **kw: Any) -> None:
        raise self._refuse(f"alter_column of '{column_name}'", table_name,
                           "its tables cannot rename a column or change its type or "
                           "nullability in place")

    def rename_table(self, old_table_name: str, new_table_name: Any,
                     schema: Any = None) -> None:
        raise self._refuse("rename_table", old_table_name, "use op.rename_feature, which carries "
                           "the rows to the new feature's table")

    def create_table(self, table: sa.Table, **kw: Any) -> None:
        raise self._refuse("create_table", table.name, "a feature's table is created by its "
                           "first write")

    def drop_table(self, table: sa.Table, **kw: Any) -> None:
        raise self._refuse("drop_table", table.name, "drop the feature's rows with "
                           "store.hard_delete instead")

    def add_constraint(self, const: Any, **kw: Any) -> None:
        raise self._refuse("add_constraint", _table_of(const), "it has no constraints")

    def drop_constraint(self, const: Any, **kw: Any) -> None:
        raise self._refuse("drop_constraint", _table_of(const), "it has no constraints")

    def create_index(self, index: Any, **kw: Any) -> None:
        raise self._refuse("create_index", _table_of(index), "it has no indexes")

    def drop_index(self, index: Any, **kw: Any) -> None:
        raise self._refuse("drop_index", _table_of(index), "it has no indexes")

    def create_table_comment(self, table: sa.Table) -> None:
        raise self._refuse("create_table_comment", table.name, "it has no comments")

    def drop_table_comment(self, table: sa.Table) -> None:
        raise self._refuse("drop_table_comment", table.name, "it has no comments")

    def create_column_comment(self, column: sa.Column[Any]) -> None:
        raise self._refuse("create_column_comment", _table_of(column), "it has no comments")

    def bulk_insert(self, table: Any, rows: Any, multiinsert: bool = True) -> None:
        raise self._refuse("bulk_insert", _table_of(table), "write rows with op.backfill")

    def execute(self, sql: Any, execution_options: Any = None) -> None:
        raise self._refuse("op.execute", None, f"a SQL statement cannot run: {str(sql)[:80]!r}")


def _table_of(obj: Any) -> str | None:
    table = getattr(obj, "table", None)
    name = getattr(table, "name", None) or getattr(obj, "name", None)
    return str(name) if name is not None else None


def load_versions(conn: sa.Connection, state: MigrationState) -> list[str]:
    """Create the version table on the SQLite connection with the store's recorded revisions."""
    heads = records.versions(state.store)
    table = sa.Table(VERSION_TABLE, sa.MetaData(),
                     sa.Column("version_num", sa.String(32), nullable=False),
                     sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"))
    table.create(conn)
    if heads:
        conn.execute(table.insert(), [{"version_num": h} for h in heads])
    conn.commit()
    return heads


def save_versions(conn: sa.Connection, state: MigrationState) -> None:
    """Write the SQLite version table back to the store's records (when it changed)."""
    stmt: sa.Select[Any] = sa.select(sa.column("version_num")).select_from(
        sa.table(VERSION_TABLE))
    heads = [str(r[0]) for r in conn.execute(stmt).all()]
    records.save_versions(state.store, heads)


def use_store_records(migration_context: Any, state: MigrationState) -> None:
    """Swap the context's Alembic implementation for :class:`StoreRecordsImpl`."""
    old = migration_context.impl
    impl = StoreRecordsImpl(old.dialect, old.connection, False, None, old.output_buffer,
                            old.context_opts)
    impl.metaxy_state = state
    migration_context.impl = impl

