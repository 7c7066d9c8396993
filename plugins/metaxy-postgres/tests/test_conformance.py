"""metaxy's shipped store conformance suite, run on PostgreSQL (``store_url``: conftest.py)."""

from __future__ import annotations

from metaxy.testing import StoreConformanceTests


class TestPostgresConformance(StoreConformanceTests):
    """Every conformance test on a fresh PostgreSQL database."""
