"""The store conformance suite (SPEC §3-§6): every backend must pass it unchanged.

Plain pytest classes, split into packs. A backend runs them by subclassing (all of them through
:class:`StoreConformanceTests`, or single packs) and providing a ``store_url`` fixture::

    class TestMyStore(StoreConformanceTests):
        @pytest.fixture
        def store_url(self, tmp_path):
            return f"mystore:///{tmp_path / 'db'}"

Each test gets a fresh, active, isolated graph holding the suite's own features
(:func:`metaxy.testing.graphs.define_suite_features`) and a store from ``make_store()``; override
``make_store`` for a backend that needs more than a URL. Stores resolve features in the *active*
graph, so a test can switch to a re-declared graph (a bumped code version) on the same store.
Every hash is compared with the plain-Python recipe (:mod:`metaxy.testing.reference`), so two
backends that pass agree bit for bit.

The packs live in their own modules (:mod:`~metaxy.testing.suite_crud`,
:mod:`~metaxy.testing.suite_resolve`, :mod:`~metaxy.testing.suite_lazy`,
:mod:`~metaxy.testing.suite_lineage`,
:mod:`~metaxy.testing.suite_types`,
:mod:`~metaxy.testing.suite_cleanup`,
:mod:`~metaxy.testing.suite_rules` (``stale_if``), :mod:`~metaxy.testing.suite_contract`: the public
store contract), the fixtures and helpers in
:mod:`~metaxy.testing.suite_helpers`; everything is re-exported here.
"""

from __future__ import annotations

from metaxy.testing.suite_cleanup import CleanupTests
from metaxy.testing.suite_contract import ContractTests
from metaxy.testing.suite_crud import CrudTests, ReadDeleteTests, WriteValidationTests
from metaxy.testing.suite_helpers import (
    INPUT_DTYPE,
    MakeStore,
    StoreFixtures,
    by_id,
    ids,
    materialize,
    root_samples,
    stale_fields,
)
from metaxy.testing.suite_lazy import LazyTests
from metaxy.testing.suite_lineage import HashSettingsTests, LineageTests
from metaxy.testing.suite_resolve import FilterTests, ResolveTests
from metaxy.testing.suite_rules import StaleIfTests
from metaxy.testing.suite_types import TypesTests

__all__ = [
    "INPUT_DTYPE",
    "CleanupTests",
    "ContractTests",
    "CrudTests",
    "FilterTests",
    "HashSettingsTests",
    "LazyTests",
    "LineageTests",
    "MakeStore",
    "ReadDeleteTests",
    "ResolveTests",
    "StaleIfTests",
    "StoreConformanceTests",
    "StoreFixtures",
    "TypesTests",
    "WriteValidationTests",
    "by_id",
    "ids",
    "materialize",
    "root_samples",
    "stale_fields",
]


class StoreConformanceTests(CrudTests, ReadDeleteTests, WriteValidationTests, ResolveTests,
                            LineageTests, FilterTests, LazyTests, HashSettingsTests, TypesTests,
                            CleanupTests, ContractTests, StaleIfTests):
    """Every pack of the conformance suite; subclass it and provide ``store_url``."""
