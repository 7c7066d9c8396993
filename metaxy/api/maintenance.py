"""Store maintenance: ``cleanup`` drops history older than a bound, keeping the latest rows;
``optimize`` compacts a store's files (Delta Lake)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from metaxy.api.project import Project
from metaxy.api.state import _resolve_keys
from metaxy.errors import ApiError

if TYPE_CHECKING:
    from metaxy.store.base import MetadataStore

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_age(text: str) -> timedelta | datetime:
    """``30d``, ``12h``, ``1w2d``, ``90m``, ``45s`` (an age), or an ISO date / datetime (a point
    in time; without a timezone it is UTC)."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        delta = timedelta()
        for number, unit in parts:
            delta += timedelta(**{_UNITS[unit]: float(number)})
        return delta
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(f"--older-than {text!r}: use an age like 30d, 12h, 1w2d, 90m, or an ISO "
                       "date such as 2026-01-31") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class CleanupRow:
    """Rows of one feature's history dropped (or, in a dry run, that would be)."""

    feature: str
    rows: int


def cleanup(project: Project, store: MetadataStore, keys: list[str] | None,
            older_than: str | timedelta | datetime, *, dry_run: bool = False) -> list[CleanupRow]:
    """Drop rows written before ``older_than`` that are not their sample's latest (per feature,
    topological order; default: every feature). The bound is fixed once for all features."""
    bound = parse_age(older_than) if isinstance(older_than, str) else older_than
    if isinstance(bound, timedelta):
        if bound < timedelta():
            raise ApiError(f"--older-than {older_than}: the age must not be negative")
        bound = datetime.now(UTC) - bound
    rows = []
    with store.open("r" if dry_run else "w"):
        for key in _resolve_keys(project, keys):
            cls = project.graph.get(key)
            rows.append(CleanupRow(str(key), store.cleanup(cls, bound, dry_run=dry_run)))
    return rows


@dataclass(frozen=True)
class OptimizeRow:
    """Files of one feature's table compacted: ``files_removed`` small ones rewritten into
    ``files_added`` large ones."""

    feature: str
    files_removed: int
    files_added: int


def optimize(project: Project, store: MetadataStore,
             keys: list[str] | None) -> list[OptimizeRow]:
    """Compact the files of each feature's table (topological order; default: every
    feature), see :meth:`~metaxy.store.contract.StoreContract.optimize`."""
    rows = []
    with store.open("w"):
        for key in _resolve_keys(project, keys):
            done = store.optimize(project.graph.get(key))
            rows.append(OptimizeRow(str(key), int(done.get("files_removed", 0)),
                                    int(done.get("files_added", 0))))
    return rows


def break_lock(store: MetadataStore, name: str) -> dict[str, Any] | None:
    """Remove the store's named lock ``name`` whoever holds it (``metaxy break-lock``); returns
    what it said about its holder, ``None`` when nobody held it. See
    :meth:`~metaxy.store.StoreContract.break_lock`: only for a holder known to be dead."""
    return store.break_lock(name)


def delete_matches(project: Project, store: MetadataStore, key: str, where: str, *,
                   hard: bool = False) -> int:
    """How many samples ``metaxy delete`` would delete: the samples whose latest row matches the
    filter (for a soft delete, those not deleted already; a hard delete also drops tombstoned
    samples). The CLI shows it before asking for confirmation (and for ``--dry-run``)."""
    from metaxy.filter_syntax import parse_filter

    cls = project.graph.get(key)
    expr = parse_filter(where, cls)
    with store.open("r"):
        if not store.has_feature(cls):
            return 0
        return store.read(cls, expr, include_deleted=hard).height


def delete_preview(project: Project, store: MetadataStore, key: str, where: str, *,
                   hard: bool = False, limit: int = 20) -> list[dict[str, Any]]:
    """The ids of the samples ``metaxy delete`` would delete (those :func:`delete_matches`
    counts), sorted, at most ``limit``: ``metaxy delete --dry-run`` prints them."""
    from metaxy.filter_syntax import parse_filter

    cls = project.graph.get(key)
    expr = parse_filter(where, cls)
    id_cols = list(cls.spec().id_columns)
    with store.open("r"):
        if not store.has_feature(cls):
            return []
        frame = store.read(cls, expr, include_deleted=hard).select(id_cols)
    return frame.sort(id_cols).head(limit).to_dicts()
