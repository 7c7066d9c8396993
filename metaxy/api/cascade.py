"""How many downstream samples a pending upstream change will make stale (``metaxy plan``;
issue 18, item 5).

Staleness travels through data: a downstream sample becomes stale only once its upstream sample
is recomputed *with a different output*. Before anything runs, the plan can only bound it: every
stored downstream sample linked through lineage to an upstream sample with pending work (new,
stale, or itself reached by the cascade) *may* become stale. The count is that bound, labelled as
such (an unchanged recomputed output, the early cutoff, makes the real number smaller).

The link is the dependency's first join column (downstream name; the upstream column it comes
from): identity and expansion deps join on the upstream ids, aggregations on the ``on``
columns. Matching on one column of a composite key can only select more samples, so the count
stays an upper bound. The stored downstream rows are selected in the store by a filter on that
column (values bound in chunks); an upstream whose pending rows lack the column (an aggregation
on a column the upstream computes itself) bounds by every stored downstream sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from metaxy.engine.plan import build_plan

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.graph import FeatureGraph
    from metaxy.store.base import MetadataStore

CHUNK = 5_000
"""Values bound per lookup (SQLite allows 32766 per statement)."""


@dataclass(frozen=True)
class Cascade:
    """The bound for one feature: ``samples`` stored samples that may become stale (beyond the
    ones stale now), and the affected rows (propagated to the features downstream)."""

    samples: int
    rows: pl.DataFrame


def cascade(store: MetadataStore, graph: FeatureGraph, cls: type[Feature],
            upstreams: list[str], pending: dict[str, pl.DataFrame],
            stale_now: pl.DataFrame | None) -> Cascade:
    """The upper bound for ``cls`` from the pending rows of its ``upstreams`` (feature keys);
    ``stale_now``: its samples stale now (ids), not counted again."""
    ids = list(cls.spec().id_columns)
    if not store.has_feature(cls):
        return Cascade(0, pl.DataFrame())
    plan = build_plan(cls, graph)
    parts: list[pl.DataFrame] = []
    for dep in plan.deps:
        up = str(dep.feature.spec().key)
        rows = pending.get(up)
        if up not in upstreams or rows is None or rows.height == 0:
            continue
        column = dep.join_keys[0]
        source = dep.upstream_name(column) if dep.kind == "aggregation" else next(
            (u for u in dep.upstream_ids if dep.renamed(u) == column), column)
        if source not in rows.columns:
            parts.append(store.read(cls))  # the column is not known before the recompute
            continue
        values = rows.get_column(source).drop_nulls().unique().to_list()
        attr = cls.__table__.c[column]  # type: ignore[attr-defined]
        for i in range(0, len(values), CHUNK):
            parts.append(store.read(cls, attr.in_(values[i:i + CHUNK])))
    if not parts:
        return Cascade(0, pl.DataFrame())
    affected = pl.concat(parts, how="diagonal_relaxed").unique(subset=ids)
    if stale_now is not None and stale_now.height:
        affected = affected.join(stale_now.select(ids).unique(), on=ids, how="anti")
    return Cascade(affected.height, affected)


def empty_upstream(store: MetadataStore, cls: type[Feature]) -> str | None:
    """For a feature with no sample at all: the note naming its required upstream features that
    hold no sample (None when they all hold some: then it really is up to date)."""
    empty = []
    for dep in cls.spec().deps:
        if dep.optional:
            continue
        up = store.feature(dep.feature if isinstance(dep.feature, type) else str(dep.feature))
        if store.has_feature(up):
            batches = store.read_batches(up, batch_rows=1)
            try:
                if next(batches, None) is not None:
                    continue
            finally:
                batches.close()  # type: ignore[attr-defined]
        empty.append(str(up.spec().key))
    if not empty:
        return None
    return f"no samples: upstream {', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty"
