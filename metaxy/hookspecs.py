"""Every pluggy hook metaxy defines. Plugins implement them with ``metaxy.hookimpl``.

Store backends and integrations register in the entry-point group ``metaxy.plugins``; team packages
register features in ``metaxy.features`` (a module, or an object implementing
:func:`metaxy_features`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from metaxy.store.base import MetadataStore

hookspec = pluggy.HookspecMarker("metaxy")
hookimpl = pluggy.HookimplMarker("metaxy")


@dataclass(frozen=True)
class BackendSpec:
    """What a store plugin declares about itself.

    Attributes:
        name: the backend's unique name (``duckdb``, ``postgresql``).
        schemes: URL schemes the backend accepts (``duckdb``, ``postgresql+psycopg``).
        description: one line for ``metaxy plugins``.
        hash_algorithms: sample-hash algorithms it computes natively.
    """

    name: str
    schemes: tuple[str, ...]
    description: str = ""
    hash_algorithms: tuple[str, ...] = field(default=("md5",))


class FreshStoreURL(Protocol):
    """Makes an empty store for one test: ``with fresh(workdir, prefix="mx_test_") as url:``.

    ``workdir`` is a private, empty directory (the test's ``tmp_path``) for file-based stores;
    ``prefix`` names server-side objects (e.g. a database ``<prefix><random>``). The context
    manager drops what it created on exit. It raises
    :class:`metaxy.errors.BackendUnavailableError` when the backend cannot run here (driver not
    installed, server unreachable).
    """

    def __call__(self, workdir: Path, *, prefix: str) -> AbstractContextManager[str]: ...


@dataclass(frozen=True)
class BackendUnderTest:
    """A store backend the shared test fixtures run on (see :func:`metaxy_test_backends`).

    Attributes:
        name: the test id (``postgresql`` gives ``test_x[postgresql]``); unique across plugins.
        fresh: yields the URL of an empty store per test (:class:`FreshStoreURL`).
        in_database: a SQL store resolving in the database (its ``store.stats`` count the
            statements): it joins the in-database proof (the ``sql_store_url`` fixture).
    """

    name: str
    fresh: FreshStoreURL
    in_database: bool = False


@hookspec
def metaxy_store_backends() -> list[BackendSpec]:  # type: ignore[empty-body]
    """Declare the store backends a plugin provides (1:N: every store plugin implements it).

    Returns:
        The backends, each with its name and the URL schemes it accepts. Two plugins declaring the
        same backend name is an error.
    """


@hookspec(firstresult=True)
def metaxy_make_store(url: str, options: Mapping[str, object]) -> MetadataStore | None:  # type: ignore[empty-body]
    """Build an unopened store for ``url`` (``firstresult``).

    Args:
        url: the store URL; a plugin returns ``None`` for a scheme that is not its own.
        options: backend options from the configuration (e.g. ``hash_algorithm``).

    Returns:
        A :class:`metaxy.store.base.MetadataStore`, or ``None``.
    """


@hookspec
def metaxy_features() -> Iterable[type | ModuleType]:  # type: ignore[empty-body]
    """Return feature classes or modules defining them (team packages; optional).

    A team package may instead point its ``metaxy.features`` entry point at a plain module.
    """


@hookspec
def metaxy_test_backends() -> list[BackendUnderTest]:  # type: ignore[empty-body]
    """Declare the backends the shared test fixtures (``store_url``, ``all_store_urls``,
    ``sql_store_url`` and the conformance suite) should also run on (1:N, optional).

    A backend that cannot run here raises :class:`metaxy.errors.BackendUnavailableError` from
    its ``fresh`` factory: the test is skipped, except with ``CI=true``, where it fails.

    Returns:
        The backends, each with a unique name. Keep the hook import-light (no driver imports).
    """


@hookspec(firstresult=True)
def metaxy_alembic_impl(dialect_name: str) -> type | None:
    """Return an Alembic ``DefaultImpl`` subclass for a SQLAlchemy dialect (``firstresult``).

    SQL store plugins whose dialect Alembic does not know implement it for migrations (the
    built-in DuckDB backend does, in :mod:`metaxy.store.duckdb`). Migrations call it before
    Alembic runs; importing the class registers it with Alembic (its ``__dialect__``), so import
    it inside the hook, keeping Alembic out of ``import metaxy``.

    Args:
        dialect_name: the store's SQLAlchemy dialect (``store.sql_dialect_name()``).

    Returns:
        The implementation class for ``dialect_name``; ``None`` for another dialect.
    """

