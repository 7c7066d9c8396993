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
* ``postgres_url``: the URL of a fresh, empty PostgreSQL database (:mod:`metaxy.testing.postgres`),
  dropped after the test. Skips when the server or the metaxy-postgres plugin is unavailable,
  except with ``CI=true``, where it fails (:func:`postgres_database` is the same as a generator,
  for parametrised fixtures).

Importing this module imports no database driver.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

import metaxy as mx
from metaxy.testing.postgres import DEFAULT_ADMIN_URL, fresh_database

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


def skip_or_fail(reason: str) -> None:
    """Skip the test, except in CI (``CI=true``), where a missing service is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def postgres_database(admin_url: str | None = None, *, prefix: str = "mx_test_") -> Iterator[str]:
    """Yield the URL of a fresh database (see :func:`fresh_database`), skipping (or, in CI,
    failing) when metaxy-postgres is not installed or the server is unreachable."""
    from metaxy.config import redact_url

    if importlib.util.find_spec("metaxy_postgres") is None:
        skip_or_fail("metaxy-postgres is not installed (plugins/metaxy-postgres)")
    import psycopg

    admin_url = admin_url or DEFAULT_ADMIN_URL
    with ExitStack() as stack:
        try:
            url = stack.enter_context(fresh_database(admin_url, prefix=prefix))
        except psycopg.OperationalError as e:
            skip_or_fail(f"PostgreSQL unreachable at {redact_url(admin_url)}: "
                         f"{str(e).splitlines()[0]}")
            raise
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    yield from postgres_database()
