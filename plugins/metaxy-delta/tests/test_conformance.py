"""metaxy's shipped store conformance suite, run on a local Delta store (``store_url``)."""

from __future__ import annotations

from metaxy.testing import StoreConformanceTests


class TestDeltaConformance(StoreConformanceTests):
    """Every conformance test on a fresh Delta root directory."""
