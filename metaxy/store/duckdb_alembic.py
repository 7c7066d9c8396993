"""Alembic implementation for duckdb-engine's ``duckdb`` dialect (Alembic has none built in).

DuckDB's DDL is PostgreSQL-compatible for what migrations of feature tables use (add / drop /
alter column). Defining the class registers it with Alembic (its ``__dialect__``); the column
type change (``op.alter_column(..., type_=sa.BigInteger())``, ``ALTER COLUMN ... TYPE``) reuses
PostgreSQL's rendering, which Alembic registers for the ``postgresql`` dialect only.
"""

from __future__ import annotations

from alembic.ddl.postgresql import (  # noqa: TID253 (module imported lazily, never by `import metaxy`)
    PostgresqlColumnType,
    PostgresqlImpl,
    visit_column_type,
)
from sqlalchemy.ext.compiler import compiles

compiles(PostgresqlColumnType, "duckdb")(visit_column_type)


class DuckDBImpl(PostgresqlImpl):
    __dialect__ = "duckdb"
    transactional_ddl = True
