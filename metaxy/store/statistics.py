"""Which columns of a feature table a planner's statistics are worth collecting for.

A backend that analyzes a table after a bulk load (PostgreSQL: ``ANALYZE``) pays per column: the
sample's values are sorted and counted column by column. A feature table's (and its latest
state's) hash columns
(``metaxy_provenance``, ``metaxy_data_version`` and one ``metaxy_pv__`` / ``metaxy_dv__`` pair per
field) are most of its columns and all of them are distinct 32-64 character strings, the dearest
to analyze; yet no statement metaxy issues joins, filters or groups on them (they are compared
row by row with computed values, which a planner estimates without statistics). The ids, row id,
timestamps and user columns, which joins and filters do use, keep their statistics.
docs/performance-history.md ("Writes (issue 14)") has the measurement: the same plans, a third
of the ``ANALYZE`` time.
"""

from __future__ import annotations

import sqlalchemy as sa

from metaxy import columns as C

_HASH_COLUMNS = frozenset({C.PROVENANCE, C.DATA_VERSION})


def is_hash_column(name: str) -> bool:
    """Whether ``name`` is one of the hash columns metaxy stores per row."""
    return name in _HASH_COLUMNS or name.startswith((C.PV_PREFIX, C.DV_PREFIX))


def planner_columns(table: sa.Table) -> list[str] | None:
    """The columns of ``table`` to collect statistics for, in table order; None when that is
    every column (a table without hash columns, e.g. a staged sample frame)."""
    names = [c.name for c in table.columns]
    kept = [n for n in names if not is_hash_column(n)]
    return None if len(kept) == len(names) else kept
