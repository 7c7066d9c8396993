"""The order of writes: a per-table clock assigned by the store, not by the writer's clock.

"Latest row" is the row with the greatest ``metaxy_updated_at`` (then ``metaxy_row_id``). If a
writer stamped that column with its own clock, a host whose clock is an hour behind (or one that
an NTP step set back) would write rows that are older than the ones they replace: its write and
its soft delete would be invisible. Two hosts writing in the same microsecond would be ordered by
the random bits of their row ids.

So the store assigns the timestamp inside the write's transaction::

    updated_at = max(client clock, the table's last updated_at + 1 µs)

from one row per feature table in ``metaxy_write_clock`` (``table_name``, ``last_written_us``),
updated with one ``UPDATE ... RETURNING``. On PostgreSQL the ``UPDATE`` locks the row until
the write commits, so concurrent writers of one feature serialise on it and commit order equals
timestamp order (writers of different features do not wait for each other); DuckDB has one
writing process, SQLite's write transaction is exclusive. The cost is O(1) per write.

A table without a clock row (written by a metaxy that had no clock, or filled by copying rows)
gets one on its first write, seeded from the greatest ``updated_at`` it holds (one scan, once):
upgrading needs nothing from the user. Writers of the previous version do not advance the clock,
so every writer of a store must run a version with the clock.

The client's clock still matters when it is *ahead*: then its time is used as is (the timestamp
remains close to real time whenever the clocks are right).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from metaxy import columns as C

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)

WRITE_CLOCK_TABLE = sa.Table(
    "metaxy_write_clock", sa.MetaData(),
    sa.Column("table_name", sa.String, primary_key=True),
    sa.Column("last_written_us", sa.BigInteger, nullable=False),
)


def to_us(at: datetime) -> int:
    """Microseconds since the epoch (a naive datetime is UTC, as SQLite returns them)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - EPOCH) // ONE_US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def next_time(client: datetime, last_us: int | None) -> datetime:
    """The write's timestamp: the client's, unless that is not after the last write."""
    want = to_us(client)
    return from_us(want if last_us is None or want > last_us else last_us + 1)


def claim(conn: sa.Connection, table: sa.Table, client: datetime,
          insert_missing: Any = None) -> datetime:
    """Advance ``table``'s clock in the open transaction and return the write's timestamp.

    ``insert_missing(conn, clock_table, values)`` inserts the seed row, ignoring a concurrent
    writer's (PostgreSQL: ``ON CONFLICT DO NOTHING``); default: a plain insert.
    """
    t = WRITE_CLOCK_TABLE
    want = to_us(client)
    bump = (sa.update(t).where(t.c.table_name == table.name)
            .values(last_written_us=sa.case((t.c.last_written_us < want, want),
                                            else_=t.c.last_written_us + 1))
            .returning(t.c.last_written_us))
    got = conn.execute(bump).scalar()
    if got is None:
        stored = conn.execute(sa.select(sa.func.max(table.c[C.UPDATED_AT]))).scalar()
        values = {"table_name": table.name, "last_written_us": -1 if stored is None
                  else to_us(stored)}
        (insert_missing or _insert)(conn, t, values)
        got = conn.execute(bump).scalar()
    assert got is not None, f"no write clock row for table {table.name}"
    return from_us(int(got))


def _insert(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> None:
    conn.execute(table.insert().values(**values))
