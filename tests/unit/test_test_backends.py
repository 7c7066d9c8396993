"""The test-backend hook (issue 12): plugins declare backends the shared fixtures run on; an
unavailable one skips the test, except with ``CI=true``, where it fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from metaxy.errors import BackendUnavailableError, DuplicatePluginError
from metaxy.hookspecs import BackendUnderTest, hookimpl
from metaxy.plugins import get_plugin_manager
from metaxy.testing.backends import BUILTIN, backend_database, backends_under_test


@contextmanager
def _down(workdir: Path, *, prefix: str) -> Iterator[str]:
    raise BackendUnavailableError("server at fake://x unreachable")
    yield ""  # pragma: no cover


@contextmanager
def _up(workdir: Path, *, prefix: str) -> Iterator[str]:
    yield f"duckdb:///{workdir / (prefix + 'up.duckdb')}"


class _Plugin:
    def __init__(self, *backends: BackendUnderTest) -> None:
        self.backends = list(backends)

    @hookimpl
    def metaxy_test_backends(self) -> list[BackendUnderTest]:
        return self.backends


@pytest.fixture
def declare() -> Iterator[list[_Plugin]]:
    """Register fake plugins with the process-wide manager for one test."""
    plugins: list[_Plugin] = []
    yield plugins
    for plugin in plugins:
        get_plugin_manager().unregister(plugin)


def _register(declare: list[_Plugin], *backends: BackendUnderTest) -> None:
    plugin = _Plugin(*backends)
    get_plugin_manager().register(plugin)
    declare.append(plugin)


def test_builtins_come_first_then_plugins(declare: list[_Plugin], tmp_path: Path) -> None:
    _register(declare, BackendUnderTest("fake-up", _up))
    names = list(backends_under_test())
    assert names[:len(BUILTIN)] == [b.name for b in BUILTIN] and names[-1] == "fake-up"
    gen = backend_database("fake-up", tmp_path, prefix="p_")
    assert next(gen) == f"duckdb:///{tmp_path / 'p_up.duckdb'}"
    gen.close()


@pytest.mark.parametrize(("ci", "outcome"), [("false", pytest.skip.Exception),
                                             ("true", pytest.fail.Exception)])
def test_unavailable_backend_skips_or_fails_in_ci(declare: list[_Plugin], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, ci: str,
                                                  outcome: type[BaseException]) -> None:
    _register(declare, BackendUnderTest("fake-down", _down))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=r"fake-down: server at fake://x unreachable"):
        next(backend_database("fake-down", tmp_path))


@pytest.mark.parametrize(("ci", "outcome"), [("false", pytest.skip.Exception),
                                             ("true", pytest.fail.Exception)])
def test_undeclared_backend_skips_or_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 ci: str, outcome: type[BaseException]) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=r"no installed plugin declares the test backend 'nope'"):
        next(backend_database("nope", tmp_path))


def test_a_name_declared_twice_is_an_error(declare: list[_Plugin]) -> None:
    _register(declare, BackendUnderTest("duckdb-file", _up))
    with pytest.raises(DuplicatePluginError, match="'duckdb-file' is declared twice"):
        backends_under_test()
