"""Fixtures of the CLI tests: the real entry point (typer's runner) over a populated store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from metaxy import api, demo
from metaxy.cli import app
from metaxy.testing.backends import backend_database


@pytest.fixture(autouse=True)
def _no_metaxy_env(no_metaxy_env: None) -> None:
    """CLI tests never see the developer's METAXY_* variables."""


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


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store of each backend."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'cli.duckdb'}"
        return
    yield from backend_database("postgresql", prefix="metaxy_cli_")


N = 10


@pytest.fixture
def populated(project: api.Project, store_url: str) -> str:
    """A store where the example pipeline ran once over N videos (all up to date)."""
    store = project.store(store_url)
    demo.run_pipeline(store, project.graph, demo.make_samples(N), "fixture")
    return store_url
