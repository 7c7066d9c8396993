"""DuckDB's single writer and the access modes (B6 case 3).

Process A (a child) holds the DuckDB file; process B (the test) must get ``StoreLockedError``
naming the file and A's PID, for a write open and for a read-only open alike, within a bound
(every attempt runs in a thread joined with a timeout, so a hang fails instead of blocking CI).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy.errors import StoreLockedError, StoreModeError
from tests.reliability.faultlib import Child, items, make_store, open_error

BOUND_S = 60.0


def _attempt(url: str, mode: str) -> BaseException | None:
    """Open ``url`` in ``mode`` in a thread; the exception raised (None: it opened)."""
    return open_error(make_store(url), mode, BOUND_S)


@pytest.fixture
def duck_url(tmp_path: Path, features: Any) -> str:
    item, _ = features
    url = f"duckdb:///{tmp_path / 'locked.duckdb'}"
    with make_store(url).open("w") as store:
        store.write(item, items(range(5)))
    return url


@pytest.mark.parametrize("holder_mode", ["w", "r"])
@pytest.mark.parametrize("mode", ["w", "r"])
def test_second_process_gets_store_locked_error(duck_url: str, tmp_path: Path, mode: str,
                                                holder_mode: str, features: Any) -> None:
    item, _ = features
    holder = Child("hold", duck_url, holder_mode)
    holder.expect("holding")
    try:
        error = _attempt(duck_url, mode)
        if holder_mode == "r" and mode == "r":
            assert error is None  # several read-only processes may share a file
        else:
            assert isinstance(error, StoreLockedError), repr(error)
            message = str(error)
            assert str(tmp_path / "locked.duckdb") in message
            assert f"PID {holder.pid}" in message
    finally:
        holder.kill()
    # once the holder is gone, the file opens at once and nothing was written by the loser
    store = make_store(duck_url)
    with store:
        assert store.read(item, with_history=True).height == 5


def test_lock_released_when_the_holder_raises_inside_with(duck_url: str, features: Any) -> None:
    item, _ = features
    child = Child("raise-inside", duck_url)
    child.expect("released")  # the child process is still alive
    try:
        assert _attempt(duck_url, "w") is None
        with make_store(duck_url) as store:
            ids = set(store.read(item)["sample_id"])
        assert ids == {f"s{i}" for i in range(5)} | {"from-child"}  # its write was committed
    finally:
        child.kill()


def test_modes_in_process(any_url: str, features: Any) -> None:
    item, derived = features
    store = make_store(any_url)
    with store.open("w"):
        store.write(item, items(range(3)))
    with store:
        with pytest.raises(StoreModeError, match="read-only"):
            store.write(item, items(["x"]))
        with pytest.raises(StoreModeError, match="read-only"):
            store.delete(item, item.sample_id == "s0")
        with pytest.raises(StoreModeError, match="read-only"):
            store.delete(item, item.sample_id == "s0", soft=False)
        with pytest.raises(StoreModeError):
            with store.open("w"):
                pass
        assert store.read(item, with_history=True).height == 3
    with pytest.raises(StoreModeError, match="not open"):
        store.read(item)
    with pytest.raises(StoreModeError, match="not open"):
        store.write(item, items(["x"]))
    with pytest.raises(StoreModeError, match="not open"):
        store.resolve_update(derived)
    with pytest.raises(StoreModeError, match="access mode"):
        with store.open("rw"):  # type: ignore[arg-type]
            pass


def test_read_inside_write_reuses_the_connection(tmp_path: Path, features: Any) -> None:
    """In-process: a nested read open of a store held for write works (no config clash)."""
    item, _ = features
    store = make_store(f"duckdb:///{tmp_path / 'nested.duckdb'}")
    with store.open("w"):
        store.write(item, items(range(2)))
        with store.open("r") as inner:
            assert inner.read(item).height == 2
        store.write(item, pl.DataFrame({"sample_id": ["n"], "value": [1]}))
    with store:
        assert store.read(item).height == 3


def test_store_reopens_after_a_failed_open(tmp_path: Path, features: Any) -> None:
    """A failed open (here: hash settings mismatch) releases the file for the next open."""
    item, _ = features
    url = f"duckdb:///{tmp_path / 'h.duckdb'}"
    with make_store(url).open("w") as store:
        store.write(item, items(range(2)))
    bad = make_store(url, hash_length=16)
    with pytest.raises(mx.MetaxyError):
        with bad.open("w"):
            pass
    assert bad.mode is None
    other = Child("hold", url, "w")  # another process: fails if the failed open leaked the lock
    other.expect("holding")
    other.kill()


def test_lock_timeout_waits_for_the_holder(duck_url: str, features: Any) -> None:
    """With ``lock_timeout`` an open retries while the file is held, then opens or gives up."""
    item, _ = features
    holder = Child("hold", duck_url, "w")
    holder.expect("holding")
    try:
        with pytest.raises(StoreLockedError, match=r"gave up after waiting 0.3 s"):
            with make_store(duck_url, lock_timeout=0.3).open("w"):
                pass
        releaser = threading.Timer(1.0, holder.kill)
        releaser.start()
        with make_store(duck_url, lock_timeout=60).open("w") as store:  # waits for the kill
            store.write(item, items(["after-wait"]))
        releaser.join()
    finally:
        holder.kill()
    with make_store(duck_url) as store:
        assert "after-wait" in set(store.read(item)["sample_id"])


def test_negative_lock_timeout_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(mx.MetaxyError, match="lock_timeout"):
        make_store(f"duckdb:///{tmp_path / 'x.duckdb'}", lock_timeout=-1)


@pytest.mark.parametrize("holder_mode, mode", [("w", "r"), ("r", "w")])
def test_two_stores_on_one_file_in_one_process(duck_url: str, features: Any,
                                               holder_mode: str, mode: str) -> None:
    """Issue 13 item 17: another store object of this process holds the file in the other mode
    (DuckDB refuses a second configuration): StoreLockedError, and ``lock_timeout`` retries
    until the holder closes."""
    item, _ = features
    holder = make_store(duck_url)
    released = threading.Event()
    opened = threading.Event()

    def hold() -> None:
        with holder.open(holder_mode):
            opened.set()
            released.wait(BOUND_S)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert opened.wait(BOUND_S)
        error = open_error(make_store(duck_url), mode, BOUND_S)
        assert isinstance(error, StoreLockedError), repr(error)
        assert "locked.duckdb" in str(error) and "another store object" in str(error)
        with pytest.raises(StoreLockedError, match=r"gave up after waiting 0.3 s"):
            with make_store(duck_url, lock_timeout=0.3).open(mode):
                pass
        threading.Timer(0.5, released.set).start()
        with make_store(duck_url, lock_timeout=BOUND_S).open(mode) as store:  # waits
            assert store.read(item).height == 5
    finally:
        released.set()
        thread.join(BOUND_S)
    assert not thread.is_alive()
