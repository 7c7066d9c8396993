"""How a store travels to Ray workers: as its URL or configured name, never as an open store.

A :class:`StoreRef` is a small picklable value (strings only). The driver builds it from what the
user passed; each worker (a read planner, a writer actor) turns it back into an unopened store with
:meth:`StoreRef.make`, which loads the configuration (the same file the driver used, by path) and
the features installed on the worker (``metaxy.load_features()``: the team packages' entry points).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from metaxy_ray.errors import RayIntegrationError

if TYPE_CHECKING:
    from metaxy.store import MetadataStore

SINGLE_WRITER_BACKENDS = frozenset({"duckdb", "sqlite"})
"""Backends whose database is one file that admits one writing process at a time."""


@dataclass(frozen=True)
class StoreRef:
    """A store by URL or configured name, plus the configuration file that names it.

    Attributes:
        store: a store URL (``postgresql://...``, ``duckdb:///path``) or a store name from the
            configuration (``None``: the configured default store).
        config_path: the configuration file the driver found (``None``: none), so that workers
            resolve a store name, hash settings and options exactly as the driver did.
    """

    store: str | None
    config_path: str | None

    @classmethod
    def of(cls, store: str | None, config_path: str | None = None) -> StoreRef:
        """The reference for ``store`` as a user passed it (checked on the driver)."""
        if store is not None and not isinstance(store, str):
            raise RayIntegrationError(
                f"store must be a store URL or a configured store name (a string), got "
                f"{type(store).__name__}; an open store cannot travel to Ray workers")
        if config_path is None:
            from metaxy import load_config

            found = load_config().path
            config_path = str(found) if found is not None else None
        return cls(store, config_path)

    def make(self, *, load_features: bool = False) -> MetadataStore:
        """An unopened store; with ``load_features`` the installed team packages' features are
        loaded into the process's default graph first (on a fresh worker it is empty)."""
        import metaxy as mx

        if load_features:
            _load_features_once()
        config = mx.load_config(self.config_path) if self.config_path else mx.load_config()
        return mx.get_store(self.store, config=config)


_LOADED = False


def _load_features_once() -> None:
    global _LOADED
    if not _LOADED:
        import metaxy as mx

        mx.load_features()
        _LOADED = True


def check_shareable(store: MetadataStore) -> None:
    """Refuse a store that lives inside one process (workers would each get their own)."""
    url = store.url
    if store.backend == "memory" or ":memory:" in url:
        raise RayIntegrationError(
            f"store {store.display()} lives in one process's memory; Ray workers cannot share it. "
            "Use a DuckDB file, SQLite file or PostgreSQL store")
