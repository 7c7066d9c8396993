"""metaxy's migration records on a store without SQL (``memory://``, ``delta:///``).

A SQL store keeps the graph snapshots, the migration progress and Alembic's version table in SQL
tables of its database (:mod:`metaxy.migrations.snapshots`), unchanged. A store without SQL keeps
the same rows, table by table, through the store contract's system records
(:meth:`~metaxy.store.StoreContract.system_rows`, ``append_system_rows``,
``replace_system_rows``): frames in memory, Delta tables under ``<root>/_metaxy/`` for Delta.
The SQLAlchemy table definitions stay the single description of each table: the frames carry
the same column names, with the Polars type of each column's SQL type.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy.errors import MigrationError, StoreError
from metaxy.migrations.state import VERSION_TABLE
from metaxy.store import StoreContract

if TYPE_CHECKING:
    from metaxy.store.base import MetadataStore


def uses_sql(store: MetadataStore) -> bool:
    """Whether the store keeps metaxy's records in SQL tables (it has a SQL dialect)."""
    try:
        store.sql_dialect_name()
    except StoreError:
        return False
    return True


def _dtype(column: sa.Column[Any]) -> pl.DataType:
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return pl.Datetime("us", "UTC")
    if isinstance(kind, sa.Integer):
        return pl.Int64()
    if isinstance(kind, sa.Boolean):
        return pl.Boolean()
    return pl.Utf8()


def schema(table: sa.Table) -> dict[str, pl.DataType]:
    """The Polars schema of a system table's frame."""
    return {c.name: _dtype(c) for c in table.columns}


def frame(table: sa.Table, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """``rows`` as a frame of the table's schema (missing columns are an error)."""
    return pl.DataFrame(rows, schema=schema(table), orient="row") if rows else \
        pl.DataFrame(schema=schema(table))


def read(store: MetadataStore, table: sa.Table) -> pl.DataFrame:
    """Every stored row of a system table (an empty frame when never written), cast to the
    table's schema."""
    store.require_open("r")
    with _supported(store):
        found = store.system_rows(table.name)
    want = schema(table)
    if found is None:
        return pl.DataFrame(schema=want)
    return found.select([pl.col(n).cast(d) if n in found.columns else pl.lit(None, d).alias(n)
                         for n, d in want.items()])


def append(store: MetadataStore, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Append rows to a system table (one commit)."""
    if rows:
        with _supported(store):
            store.append_system_rows(table.name, frame(table, rows))


def replace(store: MetadataStore, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Make ``rows`` the only rows of a system table (one commit)."""
    with _supported(store):
        store.replace_system_rows(table.name, frame(table, rows))


@contextlib.contextmanager
def _supported(store: MetadataStore) -> Iterator[None]:
    """A store with neither SQL nor system records cannot hold snapshots and migrations: say
    so as a MigrationError (other store errors -- a lock held, read-only -- pass unchanged)."""
    try:
        yield
    except StoreError as e:
        if type(store).system_rows is not StoreContract.system_rows:
            raise
        raise MigrationError(f"{store.display()}: the {store.backend} backend does not support "
                             "graph snapshots and migrations (it has neither SQL nor system "
                             "records)") from e


#: The applied revisions (Alembic's version table) on a store without SQL.
VERSIONS_TABLE = sa.Table(
    VERSION_TABLE, sa.MetaData(),
    sa.Column("version_num", sa.String(32), primary_key=True),
)


def versions(store: MetadataStore) -> list[str]:
    """The revisions a store without SQL is at (empty: none applied)."""
    return sorted(read(store, VERSIONS_TABLE)["version_num"].to_list())


def save_versions(store: MetadataStore, heads: list[str]) -> None:
    """Record the revisions a store without SQL is at (one commit replacing the old ones)."""
    if sorted(heads) != versions(store):
        replace(store, VERSIONS_TABLE, [{"version_num": h} for h in sorted(heads)])
