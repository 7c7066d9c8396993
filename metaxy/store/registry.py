"""``mx.get_store``: a store from a URL or a configured name, built by the backend plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metaxy.config import MetaxyConfig, load_config, redact_url
from metaxy.errors import StoreNotFoundError
from metaxy.graph import FeatureGraph
from metaxy.hashing import HashSettings
from metaxy.store.base import MetadataStore


def _absolute(url: str, root: Path) -> str:
    """Make a relative embedded-database path relative to the configuration's folder."""
    scheme, sep, rest = url.partition(":///")
    if not sep or not rest or rest.startswith(":memory:") or Path(rest).is_absolute():
        return url
    return f"{scheme}:///{(root / rest).as_posix()}"


def get_store(url_or_name: str | None = None, *, config: MetaxyConfig | None = None,
              graph: FeatureGraph | None = None, **options: Any) -> MetadataStore:
    """An unopened store.

    Args:
        url_or_name: a store URL (``duckdb:///path``, ``postgresql://...``, ``sqlite:///path``,
            ``memory://``) or the name of a store in the configuration; default: the configured
            default store.
        config: the configuration (default: :func:`metaxy.load_config`).
        graph: the feature graph the store resolves features in (default: the active graph).
        options: backend options overriding the configuration's.
    """
    from metaxy.plugins import get_plugin_manager

    config = config if config is not None else load_config()
    store_config = config.store_config(url_or_name)
    url = _absolute(store_config.url, config.root)
    settings = HashSettings(str(options.pop("hash_algorithm", config.hash_algorithm)),
                            int(options.pop("hash_length", config.hash_length)))
    fallback = tuple(get_store(name, config=config, graph=graph) for name in store_config.fallback)
    merged = {**store_config.options, **options, "hash_settings": settings,
              "project": config.project, "graph": graph}
    if fallback:
        merged["fallback"] = fallback
    store = get_plugin_manager().hook.metaxy_make_store(url=url, options=merged)
    if store is None:
        from metaxy.plugins import backends

        schemes = sorted(s for spec, _ in backends(get_plugin_manager()).values()
                         for s in spec.schemes)
        raise StoreNotFoundError(
            f"no store backend accepts '{redact_url(url)}' (known URL schemes: "
            f"{', '.join(schemes)}); is the backend's plugin installed?"
        )
    if not isinstance(store, MetadataStore):
        raise StoreNotFoundError(f"the backend for '{redact_url(url)}' returned {store!r}")
    return store
