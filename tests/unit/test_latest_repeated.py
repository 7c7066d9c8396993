"""``latest`` with the list of repeated samples (``repeated_ids``) gives the same rows as the
plain sort over the whole history: samples with one row pass through, the others are sorted."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from metaxy import columns as C
from metaxy.engine import frames as E

IDS = ["grp", "item"]


def _history(seed: int, samples: int = 60) -> pl.DataFrame:
    """Samples with 1-4 rows each (some timestamps tied, so the row id decides), a few of
    them soft-deleted last, in a shuffled order."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for s in range(samples):
        for depth in range(rng.choice([1, 1, 1, 2, 4])):
            rows.append({
                "grp": f"g{s % 3}", "item": None if s == 7 else f"i{s}",
                C.ROW_ID: f"r{rng.randrange(10**9):09d}",
                C.UPDATED_AT: t0 + timedelta(seconds=rng.choice([depth, depth, 0])),
                C.DELETED_AT: t0 if rng.random() < 0.1 else None,
                "value": f"{s}/{depth}",
            })
    rng.shuffle(rows)
    return pl.DataFrame(rows)


def _sorted(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.collect().sort(C.ROW_ID)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("include_deleted", [False, True])
def test_sorting_only_repeated_samples_gives_the_same_latest_rows(
        seed: int, include_deleted: bool) -> None:
    history = _history(seed).lazy()
    repeated = E.repeated_ids(history, IDS).collect().get_column(E.ID_HASH)
    assert repeated.len() > 0
    plain = _sorted(E.latest(history, IDS, include_deleted=include_deleted))
    split = _sorted(E.latest(history, IDS, include_deleted=include_deleted, repeated=repeated))
    assert plain.height > 0
    assert split.equals(plain)
    assert split.columns == history.collect_schema().names()


def test_repeated_ids_lists_exactly_the_samples_with_more_than_one_row() -> None:
    history = _history(11)
    counts = history.group_by(IDS).len()
    want = counts.filter(pl.col("len") > 1).select(E.id_hash(IDS)).get_column(E.ID_HASH)
    got = E.repeated_ids(history.lazy(), IDS).collect().get_column(E.ID_HASH)
    assert sorted(got.to_list()) == sorted(want.to_list())
    assert got.n_unique() == got.len()


def test_listing_extra_samples_changes_nothing() -> None:
    """A hash collision lists a sample with one row: it is sorted with the others, no harm."""
    history = _history(3).lazy()
    every = history.select(E.id_hash(IDS)).unique().collect().get_column(E.ID_HASH)
    plain = _sorted(E.latest(history, IDS))
    assert _sorted(E.latest(history, IDS, repeated=every)).equals(plain)


def test_no_repeated_sample_means_every_row_is_its_samples_latest() -> None:
    once = _history(5).unique(subset=IDS, keep="first").lazy()
    none = E.repeated_ids(once, IDS).collect().get_column(E.ID_HASH)
    assert none.len() == 0
    live = once.filter(pl.col(C.DELETED_AT).is_null())
    assert _sorted(E.latest(once, IDS, repeated=none)).equals(_sorted(live))
    assert _sorted(E.latest(once, IDS, repeated=none)).equals(_sorted(E.latest(once, IDS)))
