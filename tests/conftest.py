"""Shared test settings: hypothesis profiles (``ci`` is selected when CI=true), ``postgres_url``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from metaxy.testing.backends import backend_database

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev")
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the test backend ``postgresql`` (declared by metaxy-postgres; skips
    when unavailable, fails with ``CI=true``)."""
    yield from backend_database("postgresql", tmp_path)
