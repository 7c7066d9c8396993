"""pytest fixtures for metaxy projects and store backends (entry point ``pytest11: metaxy``).

* ``isolated_graph``: a fresh :class:`metaxy.FeatureGraph`, active for the whole test;
* ``example_graph``: the installed team packages' features (``mx.load_features``) loaded into an
  isolated graph (skips the test when no team package is installed);
* ``store_factory``: ``store_factory(url, **options)`` returns an unopened store (bound to
  ``graph=`` or, by default, to whichever graph is active), configured with metaxy's
  defaults only (no ``metaxy.toml``, no ``METAXY_*``);
* ``temp_store``: an opened in-memory DuckDB store bound to the active graph
  (:func:`metaxy.testing.frames.temporary_store`);
* ``no_metaxy_env``: removes every ``METAXY_*`` environment variable for the test (use it as an
  autouse fixture in a ``conftest.py`` to keep a developer's settings out of the tests);

Stores of every backend under test (built-in or declared by a plugin through
:func:`metaxy.hookspecs.metaxy_test_backends`) come from
:func:`metaxy.testing.backends.backend_database`.

Importing this module imports no database driver.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

import metaxy as mx
from metaxy.testing.backends import skip_or_fail

__all__ = ["StoreFactory", "make_store", "skip_or_fail"]

if TYPE_CHECKING:
    from metaxy.store.base import MetadataStore

StoreFactory = Callable[..., "MetadataStore"]


@pytest.fixture
def isolated_graph() -> Iterator[mx.FeatureGraph]:
    """A fresh, empty feature graph made active for the test."""
    with mx.FeatureGraph.isolated() as graph:
        yield graph


@pytest.fixture
def example_graph(isolated_graph: mx.FeatureGraph) -> mx.FeatureGraph:
    """The installed team packages' features, loaded into an isolated graph."""
    from metaxy.plugins import FEATURES_GROUP, entry_points

    if not list(entry_points(FEATURES_GROUP)):
        pytest.skip("no team package with 'metaxy.features' entry points is installed")
    return mx.load_features(isolated_graph)


def make_store(url: str, graph: mx.FeatureGraph | None = None, **options: Any) -> MetadataStore:
    """An unopened store for ``url`` with default configuration.

    With ``graph=None`` the store resolves features in whatever graph is active when it is used
    (so a test can switch to a re-declared graph, e.g. a bumped code version, on the same store).
    """
    from metaxy.store.registry import get_store

    return get_store(url, config=mx.MetaxyConfig(), graph=graph, **options)


@pytest.fixture
def store_factory() -> StoreFactory:
    """``store_factory(url, graph=None, **options)``: an unopened store (default config)."""
    return make_store


@pytest.fixture
def temp_store() -> Iterator[MetadataStore]:
    """An opened (``"w"``) in-memory DuckDB store; features resolve in the active graph."""
    from metaxy.testing.frames import temporary_store

    with temporary_store() as store:
        yield store


@pytest.fixture
def no_metaxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every ``METAXY_*`` environment variable for the duration of the test."""
    for name in list(os.environ):
        if name.startswith("METAXY_"):
            monkeypatch.delenv(name)
