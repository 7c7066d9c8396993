"""Fixtures of the Ray integration tests: one local Ray cluster for the session, the example
teams' graph and a store URL per backend.

The cluster is small on purpose (2 CPUs, a 256 MiB object store, no dashboard) and is shut down at
the end of the session, so no Ray process outlives the tests. The Ray tests carry
``xdist_group("ray")``: under ``--dist loadgroup`` (``scripts/test.sh``) they all run on one
pytest-xdist worker, so the suite starts one cluster, not one per worker. pytest-xdist 3.8 marks
a grouped test by rewriting ``item._nodeid``, which pytest 9.2 no longer reads (a node's id is
``item._id``), so the grouping silently did nothing; :func:`pytest_collection_modifyitems` below
applies the group suffix itself (and stands aside once xdist's own suffix shows in the id).
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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under ``--dist loadgroup``: end each grouped test's id with
    ``@<group>``, the suffix xdist's scheduler groups by (see the module docstring)."""
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest < 9.2 reads item._nodeid: xdist's own suffix works there
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is None or "@" in item.nodeid:
            continue
        group = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
        item._id = NodeId.parse(f"{item.nodeid}@{group}")


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
