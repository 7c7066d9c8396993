"""What a store's reads of state return: counts (:class:`Status`) and increments, eager
(:class:`Increment`) or spooled (:class:`LazyIncrement`). Re-exported by
:mod:`metaxy.store.base` and :mod:`metaxy.store`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from metaxy import columns as C

if TYPE_CHECKING:
    from metaxy.store.spool import Spool


@dataclass(frozen=True)
class Status:
    """Counts of one feature's samples, computed in the store (only the numbers travel).

    :meth:`MetadataStore.status` always fills the four counts. ``metaxy.api.status`` (and
    ``metaxy status``) also report a *root* feature whose expected samples were not given: the
    store cannot tell new from up-to-date then, so the counts are ``None`` and ``stored`` holds
    the number of stored samples.

    Attributes:
        feature: the feature key.
        root: whether the feature has no upstream (its samples come from the caller).
        new: expected samples never written.
        stale: written samples whose provenance changed (in at least one field).
        orphaned: written samples that no longer exist upstream.
        up_to_date: written samples whose provenance matches.
        stored: stored samples (only where the counts are ``None``).
    """

    feature: str
    root: bool
    new: int | None
    stale: int | None
    orphaned: int | None
    up_to_date: int | None
    stored: int | None = None

    @property
    def needs_work(self) -> bool:
        """Whether anything is new, stale or orphaned."""
        return bool(self.new or self.stale or self.orphaned)


@dataclass(frozen=True)
class Increment:
    """What to (re)compute for a feature.

    ``new`` and ``stale`` rows carry the *expected* provenance (write them back, with your computed
    columns, to bring the samples up to date); ``stale`` also lists ``metaxy_stale_fields``;
    ``orphaned`` carries the stored rows whose sample no longer exists upstream. For an expansion
    (1:N) feature every part has one row per *parent*.
    """

    new: pl.DataFrame
    stale: pl.DataFrame
    orphaned: pl.DataFrame

    def collect(self) -> Increment:
        return self

    @property
    def counts(self) -> dict[str, int]:
        return {"new": self.new.height, "stale": self.stale.height,
                "orphaned": self.orphaned.height}

    def to_process(self) -> pl.DataFrame:
        """``new`` and ``stale`` rows together (the samples to compute)."""
        stale = self.stale.drop(C.STALE_FIELDS, C.STALE_REASON, strict=False)
        return pl.concat([self.new, stale], how="diagonal_relaxed")


class LazyPart:
    """One part (``new``, ``stale`` or ``orphaned``) of a :class:`LazyIncrement`."""

    def __init__(self, spool: Spool, part: str) -> None:
        self._spool, self._part = spool, part

    def __len__(self) -> int:
        """Rows in the part (known without reading it)."""
        return self._spool.counts[self._part]

    def iter_batches(self, n: int = 100_000) -> Iterator[pl.DataFrame]:
        """Stream the part in frames of at most ``n`` rows.

        The rows come from the increment's spool, not from the database: the store is free
        for writes meanwhile (e.g. writing each computed batch back).
        """
        yield from self._spool.batches(self._part, n)

    def collect(self) -> pl.DataFrame:
        """The whole part as one frame."""
        return self._spool.read(self._part)


class LazyIncrement:
    """An increment computed once and spooled to temporary files (``resolve_update(...,
    lazy=True)``); its parts are read on demand, in batches.

    The three parts come from one snapshot of the store (one statement), so a sample is in at
    most one of them even when writers commit while they are read. No transaction stays open
    once ``resolve_update`` returns. The files are removed by :meth:`close` (or leaving a
    ``with`` block), when the object is garbage-collected, and when the store closes; reading a
    closed increment raises :class:`~metaxy.errors.StoreError`::

        with store.resolve_update(Feature, lazy=True) as inc:
            for batch in inc.new.iter_batches(10_000):
                store.write(Feature, compute(batch))

    Attributes:
        new: samples never written (expected provenance).
        stale: written samples whose provenance changed (with ``metaxy_stale_fields``).
        orphaned: written samples that no longer exist upstream (stored rows).
    """

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self.new = LazyPart(spool, "new")
        self.stale = LazyPart(spool, "stale")
        self.orphaned = LazyPart(spool, "orphaned")

    @property
    def counts(self) -> dict[str, int]:
        """Rows per part (known without reading them)."""
        return dict(self._spool.counts)

    @property
    def closed(self) -> bool:
        return self._spool.closed

    def collect(self) -> Increment:
        """The whole increment in memory (an :class:`Increment`)."""
        return Increment(self.new.collect(), self.stale.collect(), self.orphaned.collect())

    def close(self) -> None:
        """Remove the spooled files (idempotent)."""
        self._spool.close()

    def __enter__(self) -> LazyIncrement:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
