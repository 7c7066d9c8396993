"""Which constraints the database enforces on metaxy's tables (the one place that decides).

A feature table's ``metaxy_row_id`` is unique by construction: every stored row gets a fresh
UUID when it is written, and rows are only ever appended. SQLModel and SQLAlchemy still see it
as the primary key (it is declared in the mapping, so ORM sessions, ``select_latest`` and
identity maps work), but the database gets **no PRIMARY KEY constraint** for it: enforcing one
maintains a unique index on every insert that buys nothing (DuckDB: an ART index that must also
fit in memory; the write times with and without it are in docs/performance.md).

Tables whose primary key is anything else keep it: the system tables (settings, feature
versions, write clock, migration snapshots) have natural keys whose conflicts their writers rely
on (``ON CONFLICT DO NOTHING``).

Tables created by an earlier metaxy *with* the constraint keep working unchanged: nothing reads
or relies on it, so no migration is needed and none is proposed (autogenerate compares column
schemas, whose ``primary_key`` flag comes from the mapping and therefore never changes).
"""

from __future__ import annotations

import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine.compare import IN_PREFIX

#: ``Column.info`` key of a storage hint a backend's DDL may act on (the column's values and
#: queries are the same either way).
STORAGE_HINT = "metaxy_storage"
#: The hint for columns of random hex digests (the latest state's per-field hashes): compressing
#: them gains little and costs most of the state's write (DuckDB's string compression
#: analysis; measured in docs/performance-history.md, "Writes II").
INCOMPRESSIBLE = "incompressible"


def incompressible(name: str) -> bool:
    """Whether a state column holds hex digests, one per row: a per-field data version or
    provenance, or an upstream data version a row was computed from (``metaxy_in__``; the
    ``metaxy_code__`` signatures repeat on every row and compress well)."""
    return name.startswith((C.DV_PREFIX, C.PV_PREFIX, IN_PREFIX))


def enforces_primary_key(table: sa.Table) -> bool:
    """Whether ``table`` is created with its mapped primary key as a database constraint.

    False exactly for tables keyed by ``metaxy_row_id`` alone (feature tables).
    """
    return [c.name for c in table.primary_key.columns] != [C.ROW_ID]


def storage_table(table: sa.Table) -> sa.Table:
    """The table as the database creates it: ``table`` itself, or for a feature table a copy
    (same name, schema, columns, nullability and indexes) whose row id is not a primary key."""
    if enforces_primary_key(table):
        return table
    columns = []
    for column in table.columns:
        copy = column._copy()
        copy.primary_key = False  # nullability was copied: the row id stays NOT NULL
        columns.append(copy)
    return sa.Table(table.name, sa.MetaData(), *columns, schema=table.schema)


def create_table(conn: sa.Connection, table: sa.Table) -> None:
    """``CREATE TABLE`` (if missing) of ``table`` with the constraints this module decides."""
    storage_table(table).create(conn, checkfirst=True)
