"""Frames with correct provenance for tests, and a temporary store to compute them in.

Provenance columns are never written by hand: these helpers let the engine compute them.

* :func:`temporary_store` — an opened store (by default an in-memory DuckDB database) with
  metaxy's default configuration, closed afterwards;
* :func:`materialize` — resolve a feature's increment and write it back, adding the caller's
  columns (joined on the id columns);
* :func:`provenance_frame` — the rows a pipeline would write for a feature, upstream included, as
  one Polars frame (computed in a throw-away store)::

      from metaxy.testing.frames import provenance_frame

      videos = pl.DataFrame({"video_id": ["a"], "path": ["/a"], "duration_s": [1.0],
                             "metaxy_input_by_field": [{"audio": "ha", "frames": "fa"}]})
      frame = provenance_frame("speech/transcript", pl.DataFrame({"video_id": ["a"], ...}),
                               upstream={"media/video": videos})
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import polars as pl

import metaxy as mx
from metaxy.testing.pytest_plugin import make_store

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.base import Increment, MetadataStore

__all__ = ["materialize", "provenance_frame", "temporary_store"]


@contextmanager
def temporary_store(url: str = "duckdb:///:memory:", *, graph: mx.FeatureGraph | None = None,
                    **options: Any) -> Iterator[MetadataStore]:
    """An opened (``"w"``) store on ``url`` with default configuration, closed on exit.

    With ``graph=None`` the store resolves features in whichever graph is active when used.
    """
    store = make_store(url, graph, **options)
    with store.open("w"):
        yield store


def _is_root(store: MetadataStore, feature: type[Feature] | str) -> bool:
    return not store.feature(feature).spec().deps


def with_columns_of(store: MetadataStore, feature: type[Feature] | str, rows: pl.DataFrame,
                    columns: pl.DataFrame | None) -> pl.DataFrame:
    """``rows`` (an increment) inner-joined with the caller's ``columns`` on the id columns they
    share; id columns only in ``columns`` (e.g. the child id of a 1:N expansion) are added."""
    if columns is None:
        return rows
    ids = [c for c in store.feature(feature).spec().id_columns
           if c in rows.columns and c in columns.columns]
    extra = [c for c in columns.columns if c in ids or c not in rows.columns]
    return rows.join(columns.select(extra), on=ids, how="inner")


def _increment(store: MetadataStore, feature: type[Feature] | str,
               rows: pl.DataFrame | None) -> tuple[Increment, pl.DataFrame]:
    """The increment of ``feature`` and the rows to write for it (new and stale samples)."""
    if _is_root(store, feature):
        inc = store.resolve_update(feature, samples=rows)
        return inc, inc.to_process()
    inc = store.resolve_update(feature)
    return inc, with_columns_of(store, feature, inc.to_process(), rows)


def materialize(store: MetadataStore, feature: type[Feature] | str,
                rows: pl.DataFrame | None = None) -> Increment:
    """Resolve ``feature`` and write its new and stale samples; returns the increment.

    For a root feature ``rows`` are the ``samples=`` (ids, user columns and
    ``metaxy_input_by_field``). For a downstream feature they hold the ids and the user columns
    the computation would produce; they are joined onto the increment by id (samples without a
    row are not written). The store must be open for writing.
    """
    inc, out = _increment(store, feature, rows)
    if out.height:
        store.write(feature, out)
    return inc


def provenance_frame(feature: type[Feature] | str, rows: pl.DataFrame | None = None, *,
                     graph: mx.FeatureGraph | None = None,
                     upstream: Mapping[type[Feature] | str, pl.DataFrame] | None = None,
                     ) -> pl.DataFrame:
    """The frame a pipeline would write for ``feature``: ``rows`` plus the provenance columns.

    ``upstream`` maps each upstream feature (root ones first, i.e. in dependency order) to its
    rows, as :func:`materialize` takes them; they are materialized in a temporary in-memory
    store bound to ``graph`` (default: the active graph), then ``feature``'s rows are resolved
    against them. The result can be written to any store with the same graph and settings.
    """
    with temporary_store(graph=graph) as store:
        for parent, parent_rows in (upstream or {}).items():
            materialize(store, parent, parent_rows)
        return _increment(store, feature, rows)[1]
