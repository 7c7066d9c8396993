"""Testing helpers shipped with metaxy: the store conformance suite and pytest fixtures.

A third-party store backend runs the conformance suite by subclassing its test classes in its own
test module and providing a ``store_url`` fixture (or overriding ``make_store``)::

    import pytest
    from metaxy.testing.suite import StoreConformanceTests

    class TestMyBackend(StoreConformanceTests):
        @pytest.fixture
        def store_url(self, tmp_path):
            return f"mybackend:///{tmp_path}/db"

A backend plugin declares the stores metaxy's shared fixtures should also run on through the hook
:func:`metaxy.hookspecs.metaxy_test_backends`; :func:`backend_database` yields an empty store of
any declared backend (skipping the test when it cannot run here, failing it with ``CI=true``).

The fixtures ``isolated_graph``, ``example_graph`` and ``store_factory`` come from the pytest plugin
:mod:`metaxy.testing.pytest_plugin`, registered automatically (entry point ``pytest11: metaxy``).
Nothing here imports a database driver at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metaxy._lazy import lazy_getattr

if TYPE_CHECKING:
    from metaxy.testing.backends import backend_database, backends_under_test, skip_or_fail
    from metaxy.testing.suite import StoreConformanceTests

__all__ = ["StoreConformanceTests", "backend_database", "backends_under_test", "skip_or_fail"]

__getattr__ = lazy_getattr("metaxy.testing", {
    "StoreConformanceTests": "metaxy.testing.suite",
    "backend_database": "metaxy.testing.backends",
    "backends_under_test": "metaxy.testing.backends",
    "skip_or_fail": "metaxy.testing.backends",
})
