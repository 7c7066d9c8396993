"""Fixtures of the CLI tests: the real entry point (typer's runner) over a populated store."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from metaxy import api, demo
from metaxy.cli import app

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _no_metaxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("METAXY_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def project() -> api.Project:
    return api.load_project()


def run(*args: str, ok: bool = True) -> Result:
    """Invoke ``metaxy ARGS``; with ``ok`` assert exit code 0."""
    result = CliRunner().invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--format", "json").stdout)


def one_line_error(result: Result) -> str:
    """The error output of a failed command: exactly one line, no traceback."""
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def _postgres_url() -> str:
    """A fresh PostgreSQL database for this test session (skip when unreachable outside CI)."""
    try:
        import metaxy_postgres  # noqa: F401
        import psycopg
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("metaxy-postgres plugin not installed")
    name = f"metaxy_cli_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True,
                             connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # generated name, no user input
    except psycopg.OperationalError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is unreachable")
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _drop_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store of each backend."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'cli.duckdb'}"
        return
    url = _postgres_url()
    try:
        yield url
    finally:
        _drop_postgres(url)


N = 10


@pytest.fixture
def populated(project: api.Project, store_url: str) -> str:
    """A store where the example pipeline ran once over N videos (all up to date)."""
    store = api.get_store(project, store_url)
    demo.run_pipeline(store, project.graph, demo.make_samples(N), "fixture")
    return store_url
