"""Copy feature metadata from one store to another (``mx.copy``, ``metaxy copy``; issue 18).

The typical use is a dev or branch store seeded from production (docs/how-to/dev-branch.md)::

    report = mx.copy("prod", "dev", ["media/video"], where=Video.duration_s > 10)

Rows are copied as they are stored: row ids, provenance, data versions and every timestamp stay
bit-identical (:meth:`~metaxy.store.contract.StoreContract.append_storage_rows` with
``keep_times``), so the target computes exactly the increments the source would, and "latest"
means the same row in both. Only the public store API is used, so any two backends work.

* **Streaming**: the source is read in batches (:meth:`~metaxy.store.base.MetadataStore.
  read_batches`: one statement per feature for SQL stores), each batch appended to the target
  in its own transaction.
* **Idempotent**: a row whose ``metaxy_row_id`` the target already holds is skipped (one
  bounded lookup per batch), so a rerun copies nothing new, and a copy interrupted between (or
  inside) batches is finished by running it again: committed batches are skipped, the
  interrupted one was rolled back whole.
* **What is copied**: ``history=False`` (default, ``--latest-only``): the latest row of every
  sample, soft-delete tombstones included (a sample deleted in the source is deleted in the
  target too); ``history=True``: every stored row. ``where`` selects rows in the source (for
  ``history=True`` each historical row is judged on its own values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine.protocol import to_storage
from metaxy.errors import ApiError, HashConfigMismatchError

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.base import MetadataStore

DEFAULT_BATCH_ROWS = 10_000
"""Rows per batch: bounded memory, and a row-id lookup in the target of that many bound values
(SQLite allows 32766 per statement)."""

Progress = Callable[[str, int, int], None]
"""Called after each batch with the feature key, the rows read and the rows copied so far."""


@dataclass(frozen=True)
class CopiedFeature:
    """One feature's copy: rows read from the source, appended to the target, and skipped
    because the target already held them (same row id)."""

    feature: str
    read: int
    copied: int
    skipped: int


@dataclass(frozen=True)
class CopyReport:
    source: str
    target: str
    history: bool
    features: list[CopiedFeature] = field(default_factory=list)

    @property
    def copied(self) -> int:
        """Rows appended to the target, over all features (0 on a rerun)."""
        return sum(f.copied for f in self.features)


def copy(source: MetadataStore | str, target: MetadataStore | str,
         features: Iterable[type[Feature] | str] | None = None, *, where: Any = None,
         history: bool = False, batch_rows: int = DEFAULT_BATCH_ROWS,
         progress: Progress | None = None, skip_unstored: bool = False) -> CopyReport:
    """Copy the stored rows of ``features`` from ``source`` to ``target`` (see the module doc).

    Args:
        source: the store to read (a store, or a store URL / configured name).
        target: the store to append to (opened for writing; created tables as on a write).
        features: feature classes or keys; default: every feature of the graph the source
            holds. Copied in topological order.
        where: rows to copy: a SQLAlchemy expression on the features' columns (applied, by
            column name, to every copied feature), a mapping feature key -> expression, or a
            CLI filter string (parsed per feature).
        history: every stored row instead of the latest row per sample.
        batch_rows: rows per batch (at least 1).
        progress: called after each batch (:data:`Progress`).
        skip_unstored: skip the named features the source stores no rows of instead of
            refusing them (features chosen by selectors such as ``speech/*``).

    Raises:
        ApiError: the two stores are the same database, a named feature is not stored in the
            source, or ``batch_rows`` is not positive.
        HashConfigMismatchError: the stores use different sample-hash settings (the copied
            hashes could not be compared with the target's).
        FilterError / FilterParseError: a bad ``where``.
    """
    from metaxy.store.registry import get_store

    src = get_store(source) if isinstance(source, str) else source
    dst = get_store(target) if isinstance(target, str) else target
    private = src.url.rstrip("/").endswith(("://", ":memory:"))  # one database per object
    if src is dst or (src.url == dst.url and not private):
        raise ApiError(f"copy: the source and the target are the same store ({src.display()})")
    if src.hash_settings.as_text() != dst.hash_settings.as_text():
        raise HashConfigMismatchError(
            f"copy from {src.display()} (sample hash '{src.hash_settings.as_text()}') to "
            f"{dst.display()} ('{dst.hash_settings.as_text()}'): configure the target with the "
            "source's setting")
    if not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or batch_rows < 1:
        raise ApiError(f"copy: batch_rows must be a positive integer, got {batch_rows!r}")
    report = CopyReport(src.display(), dst.display(), history)
    with src.open("r"), dst.open("w"):
        for cls in _features(src, features, skip_unstored):
            report.features.append(_copy_feature(src, dst, cls, _where_for(cls, where),
                                                 history, batch_rows, progress))
    return report


def _features(src: MetadataStore, features: Iterable[type[Feature] | str] | None,
              skip_unstored: bool) -> list[type[Feature]]:
    graph = src.graph
    if features is None:
        return [graph.get(k) for k in graph.topological_order() if src.has_feature(graph.get(k))]
    chosen = {src.feature(f).spec().key for f in features}
    missing = [str(k) for k in chosen if not src.has_feature(str(k))]
    if skip_unstored:
        chosen -= {src.feature(k).spec().key for k in missing}
    elif missing:
        raise ApiError(f"copy: {src.display()} stores no rows of feature(s) "
                       f"{', '.join(sorted(missing))}")
    return [graph.get(k) for k in graph.topological_order() if k in chosen]


def _where_for(cls: type[Feature], where: Any) -> Any:
    if isinstance(where, Mapping):
        return where.get(str(cls.spec().key))
    if isinstance(where, str):
        from metaxy.filter_syntax import parse_filter

        return parse_filter(where, cls)
    return where


def _copy_feature(src: MetadataStore, dst: MetadataStore, cls: type[Feature], where: Any,
                  history: bool, batch_rows: int, progress: Progress | None) -> CopiedFeature:
    key = str(cls.spec().key)
    row_id = cls.__table__.c[C.ROW_ID]  # type: ignore[attr-defined]
    check = dst.has_feature(cls)  # a target without the table holds none of the rows yet
    read = copied = 0
    batches = src.read_batches(cls, where, with_history=history, include_deleted=True,
                               batch_rows=batch_rows)
    for batch in batches:
        read += batch.height
        if check:
            ids = batch[C.ROW_ID]
            # the range lets a columnar store skip blocks (row ids are time-ordered UUIDv7)
            held = dst.read(cls, sa.and_(row_id >= ids.min(), row_id <= ids.max(),
                                         row_id.in_(ids.to_list())),
                            with_history=True, include_deleted=True)[C.ROW_ID]
            batch = batch.filter(~pl.col(C.ROW_ID).is_in(held.implode()))
        if batch.height:
            copied += dst.append_storage_rows(cls, to_storage(cls, batch), keep_times=True)
            check = True
        if progress is not None:
            progress(key, read, copied)
    return CopiedFeature(key, read, copied, read - copied)
