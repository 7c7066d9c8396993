"""Fixtures of the security suite (see tests/reliability/faultlib.py for the shared pieces)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import metaxy as mx
from tests.reliability.faultlib import backend_url, item_features


@pytest.fixture(autouse=True)
def _no_metaxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("METAXY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def features() -> Iterator[tuple[type[mx.Feature], type[mx.Feature]]]:
    """``(Item, Derived)`` in a fresh active graph."""
    with mx.FeatureGraph.isolated():
        yield item_features()


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store on every SQL backend (PostgreSQL: a fresh database)."""
    yield from backend_url(request.param, tmp_path)


@pytest.fixture(params=["duckdb", "postgresql"])
def server_or_file_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store on a DuckDB file and on the PostgreSQL server."""
    yield from backend_url(request.param, tmp_path)
