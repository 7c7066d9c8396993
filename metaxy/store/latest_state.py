"""The latest state of a feature table, kept at write time (issue 14; docs/design-latest-state.md).

Every feature table ``<t>`` of a SQL store that keeps it (:attr:`SQLStore.keeps_latest_state`)
has a companion table ``<t>__state``: one row per sample (the feature's id columns) naming the
sample's latest history row (``metaxy_row_id``) with its ``metaxy_updated_at``,
``metaxy_deleted_at`` (a tombstone is kept, so reads hide the sample) and ``metaxy_created_at``,
and the row's per-field data versions and provenances (:func:`columns_of`). "Latest" is exactly
what the history window picks: the greatest ``(updated_at, row_id)``. ``resolve_update`` and
``status`` read only states (an upstream's data versions, the target's provenances), unless a
filter, a ``stale_if=`` rule or a carried user column names a column only the history has; an
orphan's stored row is then joined from the history by its row id. Reads of latest rows
(``read()``) are ``history JOIN state USING (metaxy_row_id)``: a hash join against a relation
with one row per sample instead of a sort or window over the whole history.

Consistency (each case is in the property test tests/reliability/test_latest_state_property.py):

* **write / append / soft delete** (a tombstone is an append): the rows just written (the history
  rows stamped with this write's time by the write clock) replace their samples' state rows, in
  the write's transaction.
* **hard delete**: in its transaction, state rows whose history row is gone are deleted (hard
  delete removes every row of a chosen sample).
* **cleanup** removes only rows that are not their sample's latest: the state is unchanged.
* **migrations** write through the store (reconcile, backfill, renames): the state follows.
  Schema operations add, drop or rename field columns: the state's recorded column set (a
  digest in ``metaxy_state_versions.id_columns``) then differs from the feature's, so the
  state is not used until the next write or writable open drops and rebuilds it.
* **readiness**: ``metaxy_state_versions`` records per feature table the state's format
  version, its id columns and column set, and the write clock (:mod:`metaxy.store.write_clock`)
  value the state was last made equal at. The state is used only when that value equals the
  table's clock now and the column set is the feature's: a write that did not maintain the
  state (an older metaxy, a store with the switch off) moves the clock and the state is
  ignored — reads fall back to the window, never wrong — until the next write or writable open
  rebuilds it from the history. Every change to the state happens
  with the table's clock row locked (``UPDATE ... RETURNING``: PostgreSQL writers of one table
  serialise on it; DuckDB and SQLite have one writer), so rebuilds are idempotent and race-free.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine import sql as Q
from metaxy.errors import MetaxyError
from metaxy.keys import MAX_IDENTIFIER_BYTES
from metaxy.store import ddl, state_inputs, write_clock
from metaxy.store.write_clock import WRITE_CLOCK_TABLE

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.sql import SQLStore

#: The state table's format; a recorded state of another version is rebuilt.
#: 2: the per-field data versions and provenances and ``metaxy_created_at`` (resolve/status
#: read only states); the recorded ``id_columns`` text also names a digest of the column set.
#: 3: the input and signature columns of 1:1 features (metaxy.store.state_inputs).
STATE_VERSION = 3
SUFFIX = "__state"
#: System columns of the state besides the ids and the per-field columns.
SYSTEM = (C.ROW_ID, C.UPDATED_AT, C.DELETED_AT, C.CREATED_AT)

STATE_VERSIONS_TABLE = sa.Table(
    "metaxy_state_versions", sa.MetaData(),
    sa.Column("table_name", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("id_columns", sa.String, nullable=False),
    sa.Column("clock_us", sa.BigInteger, nullable=False),
)

_TABLES: dict[tuple[str, tuple[str, ...], bool], sa.Table] = {}


def columns_of(feature: type[Feature]) -> tuple[str, ...]:
    """The state's columns for ``feature``, in order: ids, :data:`SYSTEM`, then per field (in
    the spec's order) its data version and provenance: what resolve and status read of the
    upstream and the target, so neither touches the history for them."""
    spec = feature.spec()
    per_field = [n for f in spec.field_keys for n in (C.dv_column(f), C.pv_column(f))]
    return (*spec.id_columns, *SYSTEM, *per_field)


def state_name(table_name: str) -> str:
    """``<table>__state``; a table name too long for that is shortened with a digest."""
    name = table_name + SUFFIX
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.md5(table_name.encode()).hexdigest()[:8]
    head = table_name.encode()[:MAX_IDENTIFIER_BYTES - len(SUFFIX) - 9].decode(errors="ignore")
    return f"{head}_{digest}{SUFFIX}"


def state_table(table: sa.Table, ids: tuple[str, ...], unique_key: bool,
                columns: tuple[str, ...]) -> sa.Table:
    """The state table of feature table ``table`` keyed by ``ids`` with ``columns`` (a unique
    index on the ids when ``unique_key``: the backend's upsert needs one)."""
    key = (table.name, tuple(columns), unique_key)
    found = _TABLES.get(key)
    if found is not None:
        return found
    required = {*ids, C.ROW_ID, C.UPDATED_AT}
    # the input and signature columns (metaxy.store.state_inputs) are not in the history
    types = {n: table.c[n].type if n in table.c else sa.String() for n in columns}
    cols = [sa.Column(n, types[n], nullable=n not in required,
                      info={ddl.STORAGE_HINT: ddl.INCOMPRESSIBLE}
                      if _incompressible(n, types[n], ids) else {}) for n in columns]
    name = state_name(table.name)
    extra = [sa.Index(f"{name[:MAX_IDENTIFIER_BYTES - 3]}_ux", *ids, unique=True)] \
        if unique_key else []
    result = sa.Table(name, sa.MetaData(), *cols, *extra, schema=table.schema)
    _TABLES[key] = result
    return result


def _incompressible(name: str, type_: sa.types.TypeEngine[Any], ids: tuple[str, ...]) -> bool:
    """The state's hex digests (:func:`metaxy.store.ddl.incompressible`) and its string keys:
    the row id and a single string id column hold one distinct value per state row, so a
    dictionary buys nothing, and DuckDB's string compression analysis of them cost about as
    much as writing them (docs/performance-history.md, "Writes III")."""
    if ddl.incompressible(name):
        return True
    key = name == C.ROW_ID or (len(ids) == 1 and name == ids[0])
    return key and isinstance(getattr(type_, "impl_instance", type_), sa.String)


def narrow(rel: Any, state: sa.Table) -> list[sa.ColumnElement[Any]]:
    """The state's columns the history has, in order, taken from a relation of the history's
    shape (the others, last in the state, are added by :func:`state_inputs.complete`)."""
    return [rel.c[c.name] for c in state.c if c.name in rel.c]


def hold_clock(conn: sa.Connection, table: sa.Table) -> int | None:
    """Lock ``table``'s write-clock row for this transaction and return its value (None: no
    row yet). ``UPDATE ... SET x = x RETURNING x`` locks on PostgreSQL; DuckDB and SQLite
    have a single writer."""
    t = WRITE_CLOCK_TABLE
    got = conn.execute(sa.update(t).where(t.c.table_name == table.name)
                       .values(last_written_us=t.c.last_written_us)
                       .returning(t.c.last_written_us)).scalar()
    return None if got is None else int(got)


def _ids_text(state: sa.Table, ids: tuple[str, ...]) -> str:
    """What ``metaxy_state_versions.id_columns`` records: the ids and a digest of the state's
    column set. A state whose columns are not the feature's now (a migration renamed, added or
    dropped a field) does not match: it is not used, and is rebuilt on the next write."""
    digest = hashlib.md5(json.dumps([c.name for c in state.c]).encode()).hexdigest()[:16]
    return json.dumps({"ids": list(ids), "columns": digest})


def recorded(conn: sa.Connection, table: sa.Table, state: sa.Table,
             ids: tuple[str, ...]) -> int | None:
    """The clock value the state of ``table`` was last made equal at (None: no usable state)."""
    t = STATE_VERSIONS_TABLE
    row = conn.execute(sa.select(t.c.version, t.c.id_columns, t.c.clock_us)
                       .where(t.c.table_name == table.name)).first()
    if row is None or row.version != STATE_VERSION or row.id_columns != _ids_text(state, ids):
        return None
    return int(row.clock_us)


def ready(conn: sa.Connection, wanted: dict[str, str]) -> set[str]:
    """Of the feature tables ``wanted`` (name -> the recorded ids text it needs, see
    :func:`_ids_text`), those whose state is ready: recorded for this format, these ids and
    this column set at the table's current write-clock value."""
    if not wanted:
        return set()
    v, c = STATE_VERSIONS_TABLE, WRITE_CLOCK_TABLE
    stmt = (sa.select(v.c.table_name, v.c.version, v.c.id_columns)
            .select_from(v.join(c, c.c.table_name == v.c.table_name))
            .where(v.c.table_name.in_(sorted(wanted)), v.c.clock_us == c.c.last_written_us))
    return {r.table_name for r in conn.execute(stmt)
            if r.version == STATE_VERSION and r.id_columns == wanted[r.table_name]}


def mark(conn: sa.Connection, table: sa.Table, state: sa.Table, ids: tuple[str, ...],
         clock_us: int) -> None:
    """Record the state of ``table`` as equal to its history at clock value ``clock_us``."""
    t = STATE_VERSIONS_TABLE
    conn.execute(sa.delete(t).where(t.c.table_name == table.name))
    conn.execute(t.insert().values(table_name=table.name, version=STATE_VERSION,
                                   id_columns=_ids_text(state, ids), clock_us=clock_us))


def history_was_empty(conn: sa.Connection, table: sa.Table, at: Any) -> bool:
    """Whether ``table`` held no row before this write (stamped ``at``)."""
    older = sa.select(sa.literal(1)).select_from(table).where(table.c[C.UPDATED_AT] != at)
    return not conn.execute(sa.select(sa.exists(older))).scalar()


def written(table: sa.Table, state: sa.Table, at: Any) -> sa.Select[Any]:
    """The narrow rows of the write stamped ``at`` (the write clock gives each write of a table
    its own time; DuckDB skips the older row groups by their min/max)."""
    return sa.select(*narrow(table, state)).where(table.c[C.UPDATED_AT] == at)


def replace_rows(conn: sa.Connection, state: sa.Table, ids: tuple[str, ...],
                 source: sa.Select[Any], keys: sa.Select[Any]) -> None:
    """The default upsert: delete the state rows of the samples in ``keys`` (``source``'s
    samples), insert ``source`` (one writer holds the clock row, so no other transaction
    races on an id)."""
    delete_samples(conn, state, ids, keys)
    conn.execute(sa.insert(state).from_select([c.name for c in state.c], source))


def delete_samples(conn: sa.Connection, state: sa.Table, ids: tuple[str, ...],
                   keys: sa.Select[Any]) -> None:
    """Delete the state rows of the samples in ``keys`` (a select with the id columns): by the
    write's narrow rows, not by the verified rows of a 1:1 feature, whose join with the
    upstream states and hashes would be evaluated only to read the ids."""
    src = keys.subquery("written")
    conn.execute(sa.delete(state).where(
        sa.tuple_(*[state.c[i] for i in ids]).in_(sa.select(*[src.c[i] for i in ids]))))


def recreate(store: SQLStore, conn: sa.Connection, state: sa.Table) -> None:
    """Drop the state table and create it with ``state``'s columns (its recorded column set
    may be another one: a migration changed the feature's fields), in the transaction."""
    conn.execute(sa.schema.DropTable(state, if_exists=True))
    store._existing.discard(state.name)
    store._ensure_system_table(conn, state)


def rebuild(store: SQLStore, conn: sa.Connection, feature: type[Feature], state: sa.Table
            ) -> None:
    """Make the state equal to the history's latest rows (the window, tombstones included),
    recreating its table (its columns may be another set)."""
    table: sa.Table = feature.__table__  # type: ignore[attr-defined]
    ids = feature.spec().id_columns
    rel = Q.latest(table, ids, include_deleted=True, method=store.latest_method,
                   columns=tuple(c.name for c in state.c if c.name in table.c))
    recreate(store, conn, state)
    rows = state_inputs.complete(store, feature, sa.select(*narrow(rel, state)))
    conn.execute(sa.insert(state).from_select([c.name for c in state.c], rows))


def drop_vanished(conn: sa.Connection, table: sa.Table, state: sa.Table) -> None:
    """After a hard delete: delete the state rows whose history row is gone."""
    gone = ~sa.exists(sa.select(sa.literal(1)).select_from(table)
                      .where(table.c[C.ROW_ID] == state.c[C.ROW_ID]))
    conn.execute(sa.delete(state).where(gone))


# ---------------------------------------------------------------- the store's side (SQLStore)
def of(store: SQLStore, feature: type[Feature]) -> sa.Table:
    """The state table of ``feature`` in ``store``."""
    return state_table(feature.__table__,  # type: ignore[attr-defined]
                       feature.spec().id_columns, store.state_unique_key,
                       (*columns_of(feature), *state_inputs.extra_columns(store, feature)))


def keep(store: SQLStore, conn: sa.Connection, feature: type[Feature], table: sa.Table,
         held: int | None, at: datetime, written_rows: int, stamped_alike: bool) -> None:
    """After the history insert of a write stamped ``at`` (the clock row held, its value before
    the write ``held``): make the state equal again — the write's rows replace their samples',
    or, when the state was not equal before the write or the rows carry times of their own
    (not ``stamped_alike``: copied history, only ``append_storage_rows`` passes such rows), a
    rebuild from the history — and record it at the new clock value."""
    ids, state = feature.spec().id_columns, of(store, feature)
    store._ensure_system_table(conn, STATE_VERSIONS_TABLE)
    store._ensure_system_table(conn, state)
    loaded = written_rows  # rows upserted (statistics: PostgreSQL re-analyzes past 10%)
    rows = written(table, state, at)
    if stamped_alike and held is not None and recorded(conn, table, state, ids) == held:
        store._upsert_state(conn, state, ids, state_inputs.complete(store, feature, rows), rows)
    elif stamped_alike and history_was_empty(conn, table, at):
        recreate(store, conn, state)  # its recorded column set may be another one
        store._upsert_state(conn, state, ids, state_inputs.complete(store, feature, rows), rows)
    else:  # not equal before the write, or rows carrying their own times (copied history)
        rebuild(store, conn, feature, state)
        loaded = int(conn.execute(sa.select(sa.func.count()).select_from(state)).scalar() or 0)
    store._refresh_statistics(conn, state, loaded)
    mark(conn, table, state, ids, write_clock.to_us(at))


def ready_states(store: SQLStore, features: Sequence[type[Feature]]) -> dict[str, sa.Table]:
    """Feature key -> state table, for those of ``features`` whose state is ready (the rest:
    none; they are read by the window)."""
    if not store.keeps_latest_state or not store._exists(WRITE_CLOCK_TABLE.name) \
            or not store._exists(STATE_VERSIONS_TABLE.name):
        return {}
    stored = {f.spec().key.table_name: f for f in features
              if store._exists(f.spec().key.table_name)}
    conn = store.conn
    idle = not conn.in_transaction()
    names = ready(conn, {n: _ids_text(of(store, f), f.spec().id_columns)
                         for n, f in stored.items()})
    if idle:
        conn.commit()
    return {str(f.spec().key): of(store, f) for n, f in stored.items()
            if n in names and store._exists(of(store, f).name)}


def build_missing(store: SQLStore) -> None:
    """On a writable open: build the state of every stored feature of the graph whose state is
    not ready (a store written by an earlier metaxy), each in a transaction holding the table's
    clock row; idempotent. A table that cannot be built (its columns drifted) stays on the
    window, and its reads report the drift as before."""
    graph = store.graph
    # upstream first: a state's input columns are verified against its upstreams' states
    stored = [f for f in (graph.get(k) for k in graph.topological_order())
              if store._exists(f.spec().key.table_name)]
    done = ready_states(store, stored)
    conn = store.conn
    for feature in stored:
        if str(feature.spec().key) in done:
            continue
        table: sa.Table = feature.__table__  # type: ignore[attr-defined]
        ids, state = feature.spec().id_columns, of(store, feature)
        try:
            with conn.begin():
                store._ensure_system_table(conn, WRITE_CLOCK_TABLE)
                store._ensure_system_table(conn, STATE_VERSIONS_TABLE)
                store._ensure_system_table(conn, state)
                at = write_clock.claim(conn, table, write_clock.EPOCH, store._insert_missing)
                rebuild(store, conn, feature, state)
                count = conn.execute(sa.select(sa.func.count()).select_from(state)).scalar()
                store._refresh_statistics(conn, state, int(count or 0))
                mark(conn, table, state, ids, write_clock.to_us(at))
        except (sa.exc.SQLAlchemyError, MetaxyError):
            store._existing = set(sa.inspect(conn).get_table_names())
            conn.commit()
