"""Fixtures of the Ray integration tests: one local Ray cluster for the session, the example
teams' graph and a store URL per backend.

The cluster is small on purpose (2 CPUs, a 256 MiB object store, no dashboard) and is shut down at
the end of the session, so no Ray process outlives the tests. Under pytest-xdist each worker that
runs a Ray test starts its own cluster (``--dist loadgroup`` would keep them on one worker, but
with pytest-xdist 3.8 here it does not group).
PostgreSQL tests use the test backend ``postgresql`` of metaxy-postgres; they skip when the server
is unreachable, except with ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import metaxy as mx
from metaxy.testing import backend_database

OBJECT_STORE_BYTES = 256 * 2**20


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A local Ray cluster (2 CPUs), started once and shut down after the session."""
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             log_to_driver=True, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def teams() -> mx.FeatureGraph:
    """The example teams' features, loaded into the default graph (as on the workers)."""
    return mx.load_features()


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{(tmp_path / 'ray.duckdb').as_posix()}"


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    yield from backend_database("postgresql", tmp_path, prefix="mx_ray_")


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A store URL on each backend (an empty DuckDB file, an empty PostgreSQL database)."""
    fixture = "duckdb_url" if request.param == "duckdb" else "postgres_url"
    return str(request.getfixturevalue(fixture))
