"""Every pluggy hook metaxy defines. Plugins implement them with ``metaxy.hookimpl``.

Store backends and integrations register in the entry-point group ``metaxy.plugins``; team packages
register features in ``metaxy.features`` (a module, or an object implementing
:func:`metaxy_features`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from metaxy.config import MetaxyConfig
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


@hookspec(firstresult=True)
def metaxy_alembic_impl(dialect_name: str) -> type | None:
    """Return an Alembic ``DefaultImpl`` subclass for a SQLAlchemy dialect (``firstresult``).

    SQL store plugins whose dialect Alembic does not know implement it for migrations.
    """


@hookspec(historic=True)
def metaxy_configure(config: MetaxyConfig) -> None:
    """Called once the final configuration is known (``historic``: late plugins get it too)."""
