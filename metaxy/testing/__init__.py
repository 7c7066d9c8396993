"""Testing helpers shipped with metaxy: the store conformance suite and pytest fixtures.

A third-party store backend runs the conformance suite by subclassing its test classes in its own
test module and providing a ``store_url`` fixture (or overriding ``make_store``)::

    import pytest
    from metaxy.testing.suite import StoreConformanceTests

    class TestMyBackend(StoreConformanceTests):
        @pytest.fixture
        def store_url(self, tmp_path):
            return f"mybackend:///{tmp_path}/db"

The fixtures ``isolated_graph``, ``example_graph`` and ``store_factory`` come from the pytest plugin
:mod:`metaxy.testing.pytest_plugin`, registered automatically (entry point ``pytest11: metaxy``).
Nothing here imports a database driver at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metaxy.testing.suite import StoreConformanceTests

__all__ = ["StoreConformanceTests"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from metaxy.testing import suite

        return getattr(suite, name)
    raise AttributeError(f"module 'metaxy.testing' has no attribute {name!r}")
