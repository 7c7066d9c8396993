"""metaxy's shipped store conformance suite, run on chDB (``store_url``: conftest.py)."""

from __future__ import annotations

from metaxy.testing import StoreConformanceTests


class TestChdbConformance(StoreConformanceTests):
    """Every conformance test on a fresh chDB directory."""
