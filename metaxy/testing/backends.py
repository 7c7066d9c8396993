"""The store backends the shared test fixtures run on: the built-in ones plus every plugin's.

A plugin adds its backend by implementing :func:`metaxy.hookspecs.metaxy_test_backends`; core
names no plugin. :func:`backend_database` turns a backend into a URL generator with the
fixtures' semantics: a backend that cannot run here (not installed, server unreachable) skips
the test, except with ``CI=true``, where it fails::

    @pytest.fixture
    def postgres_url(tmp_path):
        yield from backend_database("postgresql", tmp_path)

Importing this module imports no database driver.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import cast

import pytest

from metaxy.errors import BackendUnavailableError, DuplicatePluginError
from metaxy.hookspecs import BackendUnderTest, FreshStoreURL


def _file(scheme: str, suffix: str) -> FreshStoreURL:
    def fresh(workdir: Path, *, prefix: str) -> AbstractContextManager[str]:
        return nullcontext(f"{scheme}:///{workdir / f'{prefix}{uuid.uuid4().hex[:6]}{suffix}'}")
    return fresh


def _fixed(url: str) -> FreshStoreURL:
    def fresh(workdir: Path, *, prefix: str) -> AbstractContextManager[str]:
        return nullcontext(url)
    return fresh


@contextmanager
def _memory(workdir: Path, *, prefix: str) -> Iterator[str]:
    try:
        import metaxy.store.memory  # noqa: F401
    except ImportError as e:  # pragma: no cover - the in-memory backend ships with metaxy
        raise BackendUnavailableError(f"metaxy.store.memory is not importable ({e})") from e
    yield "memory://"


#: The backends shipped with metaxy, in test-id order.
BUILTIN: tuple[BackendUnderTest, ...] = (
    BackendUnderTest("duckdb-file", _file("duckdb", ".duckdb"), in_database=True),
    BackendUnderTest("duckdb-memory", _fixed("duckdb:///:memory:")),
    BackendUnderTest("sqlite-file", _file("sqlite", ".sqlite")),
    BackendUnderTest("memory", _memory),
)


def backends_under_test() -> dict[str, BackendUnderTest]:
    """Name -> backend: the built-in backends, then those the installed plugins declare.

    Raises:
        DuplicatePluginError: two plugins (or a plugin and metaxy) declare one name.
    """
    from metaxy.plugins import get_plugin_manager

    result = {b.name: b for b in BUILTIN}
    hook = get_plugin_manager().hook.metaxy_test_backends
    for impl in hook.get_hookimpls():
        for backend in cast("list[BackendUnderTest]", impl.function()):
            if backend.name in result:
                raise DuplicatePluginError(
                    f"test backend '{backend.name}' is declared twice (again by "
                    f"{impl.plugin_name})")
            result[backend.name] = backend
    return result


def skip_or_fail(reason: str) -> None:
    """Skip the test, except in CI (``CI=true``), where a missing service is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def backend_missing(name: str) -> str | None:
    """Why no backend ``name`` is declared here (``None``: one is)."""
    if name in backends_under_test():
        return None
    return (f"no installed plugin declares the test backend {name!r} "
            "(hook metaxy_test_backends); is its package installed?")


def backend_database(name: str, workdir: Path | None = None, *,
                     prefix: str = "mx_test_") -> Iterator[str]:
    """Yield the URL of an empty store of backend ``name`` and drop it afterwards.

    Skips the test (``CI=true``: fails it) when no plugin declares ``name`` or the backend
    raises :class:`~metaxy.errors.BackendUnavailableError`. ``workdir`` (default: a new temporary
    directory) holds file-based stores.
    """
    reason = backend_missing(name)
    if reason is not None:
        skip_or_fail(reason)
    backend = backends_under_test()[name]
    with ExitStack() as stack:
        if workdir is None:
            import tempfile

            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="metaxy-")))
        try:
            url = stack.enter_context(backend.fresh(workdir, prefix=prefix))
        except BackendUnavailableError as e:
            skip_or_fail(f"{name}: {e}")
            raise
        yield url
