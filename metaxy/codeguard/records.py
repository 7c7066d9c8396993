"""Recorded fingerprints: the system table ``metaxy_snapshot_code``, part of a graph snapshot.

A snapshot (``metaxy_snapshots`` / ``metaxy_snapshot_features``) is keyed by the project version,
which only definitions change; a code change without a ``code_version`` bump keeps it. So the
fingerprints are kept beside it, append-only: ``metaxy push`` appends a row for each guarded
field whose fingerprint or code version differs from the field's latest row, tagged with the
project version it was pushed with, and marked ``accepted`` when the author accepted the change
as output-neutral (``metaxy push --accept FEATURE:FIELD``). The latest row per field is what
``metaxy check`` compares the code with. Nothing is ever updated or deleted; snapshots pushed
before this table existed simply have no rows (their fields are reported as not yet recorded).
A store without SQL (``memory://``, ``delta:///``) keeps the same rows as its system records
(:mod:`metaxy.migrations.records`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

if TYPE_CHECKING:
    from metaxy.store.base import MetadataStore

CODE_METADATA = sa.MetaData()
CODE_TABLE = sa.Table(
    "metaxy_snapshot_code", CODE_METADATA,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("project", sa.String, nullable=False),
    sa.Column("project_version", sa.String, nullable=False),
    sa.Column("feature_key", sa.String, nullable=False),
    sa.Column("field_key", sa.String, nullable=False),
    sa.Column("code_version", sa.String, nullable=False),
    sa.Column("fingerprint", sa.String, nullable=False),
    sa.Column("function", sa.String, nullable=False),
    sa.Column("file", sa.String, nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
)


@dataclass(frozen=True)
class CodeRecord:
    """One recorded fingerprint of a field's compute function."""

    project: str
    project_version: str
    feature: str
    field: str
    code_version: str
    fingerprint: str
    function: str
    file: str
    line: int
    accepted: bool = False
    recorded_at: datetime | None = None


def _conn(store: MetadataStore) -> sa.Connection | None:
    """The open store's SQL connection (the public store contract); None for a store without
    one (``memory://``)."""
    from metaxy.errors import StoreError

    store.require_open("r")
    try:
        return store.sql_connection()
    except StoreError:
        return None


def _has_table(conn: sa.Connection) -> bool:
    return CODE_TABLE.name in set(sa.inspect(conn).get_table_names())


def latest_records(store: MetadataStore, project: str) -> dict[tuple[str, str], CodeRecord]:
    """(feature key, field key) -> the field's latest record (empty without the table or for a
    store without SQL system tables)."""
    conn = _conn(store)
    if conn is None:  # a store without SQL keeps the rows as its system records
        from metaxy.migrations import records

        if records.uses_sql(store):
            return {}
        found = records.read(store, CODE_TABLE).filter(pl.col("project") == project) \
            .sort(["seq", "recorded_at"])
        return {(r["feature_key"], r["field_key"]): _record(r) for r in found.to_dicts()}
    if not _has_table(conn):
        return {}
    t = CODE_TABLE
    rows = conn.execute(sa.select(t).where(t.c.project == project)
                        .order_by(t.c.seq, t.c.recorded_at)).mappings().all()
    conn.commit()
    out: dict[tuple[str, str], CodeRecord] = {}
    for r in rows:  # ascending: the last row of a field wins
        out[(r["feature_key"], r["field_key"])] = _record(r)
    return out


def _record(r: Any) -> CodeRecord:
    return CodeRecord(
        project=r["project"], project_version=r["project_version"], feature=r["feature_key"],
        field=r["field_key"], code_version=r["code_version"], fingerprint=r["fingerprint"],
        function=r["function"], file=r["file"], line=int(r["line"]),
        accepted=bool(r["accepted"]), recorded_at=r["recorded_at"])


def append_records(store: MetadataStore, records: list[CodeRecord]) -> int:
    """Append records in one transaction (store open for writing); returns how many."""
    from metaxy.errors import MigrationError
    from metaxy.migrations.snapshots import begin

    if not records:
        return 0
    conn = _conn(store)
    now = datetime.now(UTC)
    if conn is None:
        from metaxy.migrations import records as system

        if system.uses_sql(store):
            raise MigrationError(f"{store.display()}: the {store.backend} backend cannot record "
                                 "code fingerprints (no SQL connection)")
        known = system.read(store, CODE_TABLE)["seq"]
        seq = int(known.max() or 0) if known.len() else 0  # type: ignore[arg-type]
        system.append(store, CODE_TABLE, [_row(r, now, seq + i + 1)
                                          for i, r in enumerate(records)])
        return len(records)
    with begin(conn):
        CODE_METADATA.create_all(conn, checkfirst=True)
        t = CODE_TABLE
        seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.seq), 0))).all()[0][0]
        conn.execute(t.insert(), [_row(r, now, int(seq) + i + 1)
                                  for i, r in enumerate(records)])
    return len(records)


def _row(r: CodeRecord, now: datetime, seq: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex, "project": r.project, "project_version": r.project_version,
        "feature_key": r.feature, "field_key": r.field, "code_version": r.code_version,
        "fingerprint": r.fingerprint, "function": r.function, "file": r.file,
        "line": r.line, "accepted": r.accepted, "recorded_at": now, "seq": seq,
    }
