"""Alembic implementation for duckdb-engine's ``duckdb`` dialect (Alembic has none built in).

DuckDB's DDL is PostgreSQL-compatible for what migrations of feature tables use (add / drop /
alter column). Defining the class registers it with Alembic (its ``__dialect__``).
"""

from __future__ import annotations

from alembic.ddl.postgresql import PostgresqlImpl  # noqa: TID253 (module imported lazily, never by `import metaxy`)


class DuckDBImpl(PostgresqlImpl):
    __dialect__ = "duckdb"
    transactional_ddl = True
