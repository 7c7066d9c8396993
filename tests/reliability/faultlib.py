"""Shared pieces of the reliability and security suites: features, backends, child processes.

The same module is the entry point of the child processes the fault tests kill or race
(``python -m tests.reliability.faultlib <command> <url> ...``): the child defines the very same
features (same keys, same versions) as the parent, so both sides read and write the same tables.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import select
import subprocess
import sys
import threading
import time
import types
import uuid
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy.testing.backends import backend_database, backend_missing, skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Pa55w0rd"


# ---------------------------------------------------------------------------------- features
def define(key: str, *, fields: Sequence[Any] = ("default",),
           id_columns: Sequence[str] = ("sample_id",), columns: dict[str, Any] | None = None,
           deps: Sequence[Any] = (), name: str = "Generated") -> type[mx.Feature]:
    """Define a feature class in the active graph without a class statement."""
    spec = mx.FeatureSpec(key=key, id_columns=list(id_columns), fields=list(fields),
                          deps=list(deps))
    annotations = columns if columns is not None else {c: str for c in id_columns}

    def body(ns: dict[str, Any]) -> None:
        ns.update({"__module__": __name__, "__qualname__": name,
                   "__annotations__": annotations})

    return types.new_class(name, (mx.Feature,), {"table": True, "spec": spec}, body)


def item_features() -> tuple[type[mx.Feature], type[mx.Feature]]:
    """``rel/item`` (root: sample_id, value) and ``rel/derived`` (1:1 on item)."""
    item = define("rel/item", columns={"sample_id": str, "value": int | None}, name="Item")
    derived = define("rel/derived", columns={"sample_id": str, "out": str | None},
                     deps=[mx.FeatureDep(feature=item)], name="Derived")
    return item, derived


def items(ids: Sequence[str] | range, *, offset: int = 0) -> pl.DataFrame:
    """Root rows ``s<i>`` with value ``i + offset``."""
    names = [f"s{i}" for i in ids] if isinstance(ids, range) else list(ids)
    values = list(ids) if isinstance(ids, range) else list(range(len(names)))
    return pl.DataFrame({"sample_id": names, "value": [v + offset for v in values]})


def checksum(df: pl.DataFrame) -> str:
    """A digest of every value of every row (order-independent: sorted by row id)."""
    rows = df.sort("metaxy_row_id").rows()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def open_error(store: Any, mode: str = "r", timeout: float = 60) -> BaseException | None:
    """What opening ``store`` in ``mode`` raises (None: it opened), in a thread; fails if the
    open hangs longer than ``timeout`` seconds."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with store.open(mode):
                pass
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"opening {store.display()} in mode {mode!r} hangs"
    return errors[0] if errors else None


def make_store(url: str, **options: Any) -> Any:
    from metaxy.testing.pytest_plugin import make_store as factory

    return factory(url, **options)


# ---------------------------------------------------------------------------------- backends
def postgres_plugin_missing() -> str | None:
    from metaxy.plugins import backends, get_plugin_manager

    if "postgresql" not in backends(get_plugin_manager()):
        return "no installed plugin provides the store backend 'postgresql' (metaxy-postgres)"
    return backend_missing("postgresql")


def pg_database() -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards; its URL (skip or, in CI, fail
    when the backend or the server is unavailable)."""
    reason = postgres_plugin_missing()
    if reason is not None:
        skip_or_fail(reason)
    yield from backend_database("postgresql", prefix="mx_rel_")


def backend_url(backend: str, tmp_path: Path) -> Generator[str, None, None]:
    if backend == "duckdb":
        yield f"duckdb:///{tmp_path / f'rel-{uuid.uuid4().hex[:6]}.duckdb'}"
    elif backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'rel-{uuid.uuid4().hex[:6]}.sqlite'}"
    elif backend == "memory":
        try:
            importlib.import_module("metaxy.store.memory")
        except ImportError as e:
            pytest.skip(f"metaxy.store.memory is not available yet ({e})")
        yield "memory://"
    elif backend == "postgresql":
        yield from pg_database()
    else:  # pragma: no cover
        raise ValueError(backend)


# ---------------------------------------------------------------------------------- fixtures
# Imported by tests/reliability/conftest.py and tests/security/conftest.py.
@pytest.fixture(autouse=True)
def _no_metaxy_env(no_metaxy_env: None) -> None:
    """These suites never see the developer's METAXY_* variables."""


@pytest.fixture
def features() -> Iterator[tuple[type[mx.Feature], type[mx.Feature]]]:
    """``(Item, Derived)`` in a fresh active graph."""
    with mx.FeatureGraph.isolated():
        yield item_features()


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store on every SQL backend (PostgreSQL: a fresh database)."""
    yield from backend_url(request.param, tmp_path)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database."""
    yield from pg_database()


@pytest.fixture(params=["duckdb", "postgresql"])
def server_or_file_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store on a DuckDB file and on the PostgreSQL server."""
    yield from backend_url(request.param, tmp_path)


# ---------------------------------------------------------------------------------- children
class Child:
    """A child Python process running one command of this module, with bounded waits."""

    def __init__(self, *args: str) -> None:
        self.out = ""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("METAXY_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.faultlib", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def expect(self, line: str, timeout: float = 120.0) -> None:
        """Wait until the child prints ``line`` (fail on exit or timeout)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                got = self.proc.stdout.readline()
                if got.strip() == line:
                    return
                if got == "" and self.proc.poll() is not None:
                    break
        self.kill()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        pytest.fail(f"child never printed {line!r} (exit {self.proc.returncode}):\n{err}")

    def kill(self) -> int:
        """SIGKILL the child (no cleanup, no atexit, no rollback) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(timeout=30)

    def finish(self, timeout: float = 60.0) -> tuple[int, str]:
        try:
            self.out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("child did not finish in time")
        return self.proc.returncode, err


def _park(message: str) -> None:
    print(message, flush=True)
    time.sleep(600)  # killed by the parent long before


def _migrate_child(url: str, directory: str, park: bool) -> None:
    """``upgrade head`` of the example project; with ``park``, stop inside the reconcile."""
    from metaxy.errors import StoreLockedError
    from metaxy.migrations import operations
    from metaxy.migrations.api import Migrations
    from tests.migrations.conftest import PROJECT, bump_transcript, variant

    new = variant(mx.load_features(mx.FeatureGraph()), bump_transcript)
    if park:
        original = operations.reconcile  # type: ignore[attr-defined]

        def parked(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            _park("reconciled")  # rows appended, transaction and advisory lock held
            return result

        operations.reconcile = parked  # type: ignore[attr-defined]
    try:
        report = Migrations(mx.get_store(url, graph=new), new, PROJECT, directory).upgrade("head")
    except StoreLockedError as e:
        print(f"locked: {e}", flush=True)
        return
    print(f"applied {len(report.applied)} rows {report.rows_appended}", flush=True)


def _child(command: str, url: str, *rest: str) -> None:
    if command == "migrate":
        _migrate_child(url, rest[0], rest[1] == "park")
        return
    with mx.FeatureGraph.isolated():
        item, _ = item_features()
        store = make_store(url)
        if command == "crash-before-commit":
            n = int(rest[0])
            backend = type(store)
            original = backend._bulk_insert

            def insert_then_park(self: Any, conn: Any, table: Any, df: pl.DataFrame) -> None:
                original(self, conn, table, df)
                if table.name == item.__table__.name:  # type: ignore[attr-defined]
                    _park("inserted")  # rows are in the open transaction, not committed

            backend._bulk_insert = insert_then_park  # type: ignore[method-assign]
            with store.open("w"):
                store.write(item, items(range(10_000, 10_000 + n)))
        elif command == "crash-after-commit":
            n = int(rest[0])
            with store.open("w"):
                store.write(item, items(range(10_000, 10_000 + n)))
                _park("committed")
        elif command == "hold":
            with store.open(rest[0]):
                _park("holding")
        elif command == "append":  # append ids [start, start + n) once the barrier file exists
            start, n, barrier = int(rest[0]), int(rest[1]), Path(rest[2])
            frame = items(range(start, start + n))
            with store.open("w"):
                print("ready", flush=True)
                deadline = time.monotonic() + 120
                while not barrier.exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
                store.write(item, frame)
            print("done", flush=True)
        elif command == "raise-inside":
            try:
                with store.open("w"):
                    store.write(item, items(["from-child"]))
                    raise RuntimeError("boom inside the with block")
            except RuntimeError:
                pass
            _park("released")
        else:  # pragma: no cover
            raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    _child(*sys.argv[1:])

