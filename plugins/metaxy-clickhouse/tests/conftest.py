"""Fixtures of the ClickHouse backend tests: a fresh chDB directory per test (the plugin's test
backend ``chdb``). chDB runs in this process, so the tests need no server and never skip in CI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metaxy.testing import backend_database


@pytest.fixture
def chdb_url(tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty chDB store (``chdb:///<tmp>/...``)."""
    yield from backend_database("chdb", tmp_path)


@pytest.fixture
def store_url(chdb_url: str) -> str:
    """The conformance suite's store (:mod:`test_conformance`)."""
    return chdb_url
