"""A write's rows found in the history by the blocks the write added, not by a scan of all of it.

The latest-state upkeep (:meth:`PostgresStore._upsert_state`) reads the rows a write just put
in the history: every history row stamped with the write's time (the write clock gives each
write of a table its own time). The history has no index, so that is a sequential scan of the
whole table, and its cost grows with the history's depth, not with the write: a 10% mutation of
a table holding ten writes per sample read all ten. PostgreSQL appends a ``COPY``'s rows to the
relation's last page and the pages it adds after it, so those rows are found by a TID range scan
(``ctid >= '(first, 0)'``) over the pages from the last one before the write.

Where the rows went is the server's choice, not a guarantee: a page with free space elsewhere
(after a hard delete or a cleanup was vacuumed) may take some. The range's rows are therefore
counted against the rows the write loaded; only when they differ is the rest (``ctid <``) read
too, which is the full scan of before. The two parts are disjoint and together are every row of
the write, whatever the count says.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, ColumnClause

from metaxy import columns as C


class Tid(sa.types.UserDefinedType[str]):
    """PostgreSQL's ``tid`` (a row's physical address: page, item)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "tid"


def last_page(conn: sa.Connection, table: sa.Table) -> int:
    """The index of the table's last page now (0 when it has none): the first a write's
    ``COPY`` may put rows in."""
    name = conn.dialect.identifier_preparer.format_table(table)
    pages = conn.execute(sa.text(
        "SELECT pg_relation_size(to_regclass(:name)) / current_setting('block_size')::bigint"),
        {"name": name}).scalar()
    return max(int(pages or 0) - 1, 0)


def split(source: sa.Select[Any], table: sa.Table, first_page: int
          ) -> tuple[sa.Select[Any], sa.Select[Any]] | None:
    """``source`` restricted to ``table``'s rows from page ``first_page`` on, and to the rows
    before it; None when ``source`` does not select ``table``'s rows by their write time
    (``metaxy_updated_at = :at``), the only shape restricted."""
    ctid = ColumnClause("ctid", type_=Tid(), _selectable=table)
    bound = sa.cast(sa.literal(f"({first_page},0)"), Tid())

    def restricted(cond: sa.ColumnElement[bool]) -> sa.Select[Any] | None:
        found = []

        def replace(element: Any, **kw: Any) -> Any:
            if isinstance(element, BinaryExpression) and element.operator is operators.eq \
                    and isinstance(element.left, sa.Column) \
                    and element.left.table is table and element.left.name == C.UPDATED_AT:
                found.append(element)
                return sa.and_(element, cond)
            return None

        out = visitors.replacement_traverse(source, {}, replace)
        return cast("sa.Select[Any]", out) if len(found) == 1 else None

    recent, older = restricted(ctid >= bound), restricted(ctid < bound)
    return None if recent is None or older is None else (recent, older)
