"""The sample-hash setting of a store whose record of it is gone (``metaxy_settings`` dropped).

A store records ``algorithm:length`` on its first write and refuses a reader configured
otherwise. Without the record (the table dropped or emptied by hand, a partial restore), a store
opened with another setting would accept everything: every sample would show as stale and the
history would mix hash lengths. So when feature tables exist but no setting is recorded, the
setting is inferred from the stored hashes before anything is compared or written:

* the **length** of a stored ``metaxy_provenance`` must be the configured length;
* the **algorithm** is confirmed by recomputing one row's ``metaxy_provenance`` from its
  per-field provenance columns (``H(enc(field) enc(pv) ...)``, :mod:`metaxy.hashing`), for a row
  written under the feature version the code defines (its fields are the code's).

A mismatch raises :class:`~metaxy.errors.HashConfigMismatchError` naming the setting that
reproduces the stored hashes where one does. The next write records the setting again. Only a
few rows of a few tables are read (bounded cost, on this rare path only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from metaxy import columns as C
from metaxy.errors import HashConfigMismatchError
from metaxy.hashing import FULL_LENGTH, MIN_LENGTH, HashSettings, enc, python_hash
from metaxy.store.drift import stored_columns

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.graph import FeatureGraph

MAX_TABLES = 8  # feature tables inspected at most
ROWS = 4  # rows per table tried for the algorithm


def check_unrecorded(conn: sa.Connection, existing: set[str], graph: FeatureGraph,
                     settings: HashSettings, store: str) -> None:
    """Refuse ``settings`` if the stored hashes of the graph's existing tables were not made
    with it (see the module docstring); nothing to check when no feature table holds rows."""
    from metaxy.versions import versions_of

    tables = [cls for key in graph.keys
              if (cls := graph.get(key)).spec().key.table_name in existing][:MAX_TABLES]
    if not tables:
        return
    versions = versions_of(graph)
    for cls in tables:
        rows = _sample_rows(conn, cls, versions.feature_version(cls))
        if rows:
            _judge(cls, rows, settings, store)
            return


def _sample_rows(conn: sa.Connection, cls: type[Feature], version: str) -> list[dict[str, Any]]:
    """A few rows with a provenance, preferring rows of the code's feature version."""
    table: sa.Table = cls.__table__  # type: ignore[attr-defined]
    present = set(stored_columns(conn, table))
    if C.PROVENANCE not in present:
        return []
    pv = [C.pv_column(f) for f in cls.spec().field_keys if C.pv_column(f) in present]
    cols = [table.c[C.PROVENANCE], *[table.c[c] for c in pv]]
    rows: list[dict[str, Any]] = []
    try:
        for current in (True, False):
            stmt = sa.select(*cols).where(table.c[C.PROVENANCE].is_not(None)).limit(ROWS)
            if current and C.FEATURE_VERSION in present:
                stmt = stmt.where(table.c[C.FEATURE_VERSION] == version)
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
            if rows:
                for row in rows:
                    row["__current"] = current
                break
    finally:
        conn.rollback()
    return rows


def _total(cls: type[Feature], row: dict[str, Any], settings: HashSettings) -> str | None:
    """The row's ``metaxy_provenance`` recomputed with ``settings`` (None: a field is missing)."""
    parts = []
    for f in sorted(cls.spec().field_keys):
        value = row.get(C.pv_column(f))
        if value is None:
            return None
        parts.append(enc(str(f)) + enc(str(value)))
    return python_hash(settings, "".join(parts))


def _candidates(length: int) -> list[HashSettings]:
    return [HashSettings(a, length) for a, full in FULL_LENGTH.items()
            if MIN_LENGTH <= length <= full]


def _judge(cls: type[Feature], rows: list[dict[str, Any]], settings: HashSettings,
           store: str) -> None:
    key = str(cls.spec().key)
    length = len(str(rows[0][C.PROVENANCE]))
    current = [r for r in rows if r["__current"]]
    made_by = [s for s in _candidates(length)
               if any(_total(cls, r, s) == r[C.PROVENANCE] for r in current)]
    if length == settings.length and (not made_by or settings in made_by):
        return  # the length fits and nothing shows another algorithm
    options = " or ".join(s.as_text() for s in _candidates(length)) or "no valid setting"
    found = (f"'{made_by[0].as_text()}'" if made_by
             else f"{length}-character hashes ({options})")
    raise HashConfigMismatchError(
        f"{store} has no recorded sample-hash setting (the metaxy_settings table is missing or "
        f"empty), but the stored hashes of feature '{key}' were made with {found}, and this "
        f"store is configured with '{settings.as_text()}'; hashes cannot be compared. "
        "Configure the store with the setting the data was written with (it is recorded again "
        "on the next write).")

