"""Which row is "latest" does not depend on the writers' clocks (issue 13 item 4).

A write's ``metaxy_updated_at`` is assigned by the store inside the write's transaction:
``max(client clock, the feature's last write + 1 µs)``, from a per-table clock row
(``metaxy_write_clock``) that concurrent writers serialise on. A writer whose clock is an hour
behind (another host, an NTP step) therefore still writes the latest row, and its soft delete
still hides the sample; two writes in the same microsecond are ordered by the order they ran.

The skewed clock is simulated by patching :func:`metaxy.store.base.write_timestamp` (the
client's clock) in this process, or in child processes for the PostgreSQL concurrency test.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy import columns as C
from metaxy.store import base as store_base
from metaxy.store import frames as store_frames
from tests.reliability.faultlib import item_features, items, make_store
from tests.stores.conftest import BACKENDS, backend_url, is_sql

ROOT = Path(__file__).resolve().parents[2]
HOUR = timedelta(hours=1)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_url(request.param, tmp_path)


def skew_clock(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    """Make this process's writes carry a client clock ``offset`` away from real time."""
    real = store_frames.write_timestamp
    monkeypatch.setattr(store_base, "write_timestamp", lambda: real() + offset)


def freeze_clock(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    """Every write carries the same client timestamp ``at``, and row ids restart their
    in-process counter (as two hosts' would), so nothing but the store can order them."""
    def frozen() -> datetime:
        monkeypatch.setattr(store_frames, "_row_counter", itertools.count())
        return at

    monkeypatch.setattr(store_base, "write_timestamp", frozen)
    monkeypatch.setattr(store_frames.time, "time_ns", lambda: int(at.timestamp() * 1e9))


def value_of(store: Any, item: Any, sample: str = "s0") -> int | None:
    rows = store.read(item).filter(pl.col("sample_id") == sample)
    return None if rows.height == 0 else int(rows["value"][0])


def test_writer_with_clock_an_hour_behind_writes_the_latest_row(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with mx.FeatureGraph.isolated():
        item, derived = item_features()
        store = make_store(store_url)
        with store.open("w"):
            store.write(item, items(["s0", "s1"]))  # values 0, 1 at the real time
            skew_clock(monkeypatch, -HOUR)
            store.write(item, pl.DataFrame({"sample_id": ["s0"], "value": [42]}))
            assert value_of(store, item) == 42
            history = store.read(item, with_history=True).sort(C.UPDATED_AT)
            assert history.filter(pl.col("sample_id") == "s0")["value"].to_list() == [0, 42]
            assert store.resolve_update(derived).new.height == 2
            assert store.delete(item, item.sample_id == "s0") == 1  # behind, too
            assert value_of(store, item) is None
            assert store.read(item)["sample_id"].to_list() == ["s1"]
            assert store.status(derived).orphaned == 0 and store.status(derived).new == 1
        monkeypatch.undo()
        with store:  # and after reopening
            assert store.read(item)["sample_id"].to_list() == ["s1"]
            tomb = store.read(item, include_deleted=True).filter(pl.col("sample_id") == "s0")
            assert tomb[C.DELETED_AT][0] is not None


def test_writer_with_clock_ahead_does_not_hide_later_writes(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with mx.FeatureGraph.isolated():
        item, _ = item_features()
        store = make_store(store_url)
        with store.open("w"):
            skew_clock(monkeypatch, HOUR)
            store.write(item, items(["s0"]))
            monkeypatch.undo()
            store.write(item, pl.DataFrame({"sample_id": ["s0"], "value": [7]}))
            assert value_of(store, item) == 7
            rows = store.read(item, with_history=True).sort(C.UPDATED_AT)
            assert rows["value"].to_list() == [0, 7]
            assert rows[C.UPDATED_AT][1] > rows[C.UPDATED_AT][0]


def test_writes_in_the_same_microsecond_are_ordered_by_the_store(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with mx.FeatureGraph.isolated():
        item, _ = item_features()
        store = make_store(store_url)
        freeze_clock(monkeypatch, datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC))
        with store.open("w"):
            for value in range(12):
                store.write(item, pl.DataFrame({"sample_id": ["s0"], "value": [value]}))
                assert value_of(store, item) == value
            store.delete(item, item.sample_id == "s0")
            assert value_of(store, item) is None
            history = store.read(item, with_history=True)
            assert history[C.UPDATED_AT].n_unique() == history.height == 13


def test_store_written_before_the_write_clock_keeps_its_order(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store whose rows predate the clock row (written by the previous version, or by a
    migration that copied rows): the first write seeds the clock from the stored rows."""
    if not is_sql(store_url):
        pytest.skip("no write-clock table in a frame store (memory, Delta)")
    with mx.FeatureGraph.isolated():
        item, _ = item_features()
        store = make_store(store_url)
        with store.open("w"):
            store.write(item, items(["s0"]))
            conn = store.conn
            conn.execute(sa.text("DROP TABLE IF EXISTS metaxy_write_clock"))  # ClickHouse has none
            conn.commit()
            store._existing.discard("metaxy_write_clock")
        with store.open("w"):
            skew_clock(monkeypatch, -HOUR)
            store.write(item, pl.DataFrame({"sample_id": ["s0"], "value": [5]}))
            assert value_of(store, item) == 5


# ------------------------------------------------------------------ PostgreSQL, several processes
def _writer(url: str, worker: int, skew_s: float, writes: int, barrier: str) -> None:
    """Child: write sample ``s0`` ``writes`` times with a clock ``skew_s`` away from real time;
    print each write's real start and end times and its materialization id as JSON."""
    real = store_frames.write_timestamp
    store_base.write_timestamp = lambda: real() + timedelta(seconds=skew_s)  # type: ignore[assignment]
    with mx.FeatureGraph.isolated():
        item, _ = item_features()
        store = make_store(url)
        with store.open("w"):
            print("ready", flush=True)
            deadline = time.monotonic() + 120
            while not Path(barrier).exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            for i in range(writes):
                mid = f"w{worker}-{i}"
                start = time.time()
                store.write(item, pl.DataFrame({"sample_id": ["s0"], "value": [worker]}),
                            materialization_id=mid)
                print(json.dumps({"id": mid, "start": start, "end": time.time()}), flush=True)


def test_concurrent_postgres_writers_with_skewed_clocks(pg_url: str, tmp_path: Path) -> None:
    """Four processes (clocks -1 h, -1 s, 0, +2 s) write one sample concurrently. Whenever a
    write ended (real time) before another started, the later one has the larger
    ``updated_at``; no write started after the latest row's write had ended."""
    barrier = tmp_path / "go"
    skews = [-3600.0, -1.0, 0.0, 2.0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("METAXY_CONFIG", None)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.test_write_order", pg_url, str(w), str(s),
         "15", str(barrier)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for w, s in enumerate(skews)]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
        barrier.touch()
        outputs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    assert [p.returncode for p in procs] == [0] * len(procs), [err for _, err in outputs]
    spans = {d["id"]: d for out, _ in outputs for d in map(json.loads, out.splitlines())}
    with mx.FeatureGraph.isolated():
        item, _ = item_features()
        with make_store(pg_url) as store:
            history = store.read(item, with_history=True)
            latest = store.read(item)
    stamped = dict(zip(history[C.MATERIALIZATION_ID], history[C.UPDATED_AT], strict=True))
    assert set(stamped) == set(spans) and len(spans) == 15 * len(skews)
    violations = [(a, b) for a in spans for b in spans
                  if spans[a]["end"] < spans[b]["start"] and not stamped[a] < stamped[b]]
    assert not violations, f"{len(violations)} writes ordered against real time: {violations[:3]}"
    (winner,) = latest[C.MATERIALIZATION_ID].to_list()
    later = [b for b in spans if spans[winner]["end"] < spans[b]["start"]]
    assert not later, f"{winner} is latest, but {later} started after it had ended"


if __name__ == "__main__":
    _writer(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
