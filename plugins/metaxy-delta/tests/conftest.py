"""Fixtures of the Delta Lake backend tests: a fresh root directory per test (local file
system only: object stores take the same delta-rs path with ``storage_options``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from metaxy.testing import backend_database

# The suite runs with --import-mode=importlib: put this folder on sys.path so the test modules
# (and the spawned workers of the concurrency test, which inherit sys.path) import mxdelta_helpers.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def delta_url(tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty Delta store (this plugin's test backend ``delta``)."""
    yield from backend_database("delta", tmp_path)
