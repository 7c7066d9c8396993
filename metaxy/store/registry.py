"""``mx.get_store``: a store from a URL or a configured name, built by the backend plugins."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from metaxy.config import MetaxyConfig, load_config, redact_url
from metaxy.errors import ConfigError, StoreNotFoundError, StoreOptionError
from metaxy.graph import FeatureGraph
from metaxy.hashing import HashSettings
from metaxy.store.base import MetadataStore
from metaxy.store.options import check_options


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
    config = config if config is not None else load_config()
    return _make_store(url_or_name, config, graph, options, ())


def _label(url_or_name: str | None, config: MetaxyConfig, url: str) -> str:
    name = url_or_name or config.store
    return f"'{name}'" if name and "://" not in name else f"'{redact_url(url)}'"


def _make_store(url_or_name: str | None, config: MetaxyConfig, graph: FeatureGraph | None,
                options: dict[str, Any], chain: tuple[str, ...]) -> MetadataStore:
    """:func:`get_store`; ``chain``: the stores whose fallbacks led here (to refuse a cycle)."""
    from metaxy.plugins import get_plugin_manager

    store_config = config.store_config(url_or_name)
    url = _absolute(store_config.url, config.root)
    label = _label(url_or_name, config, url)
    check_options(label, {**store_config.options, **options})
    settings = HashSettings(str(options.pop("hash_algorithm", config.hash_algorithm)),
                            int(options.pop("hash_length", config.hash_length)))
    fallback = tuple(_fallback(name, config, graph, (*chain, label))
                     for name in store_config.fallback)
    merged = {**store_config.options, **options, "hash_settings": settings,
              "project": config.project, "graph": graph}
    if fallback:
        merged["fallback"] = fallback
    store = _call_backend(label, url, merged, set(store_config.options) | set(options))
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


def _call_backend(label: str, url: str, merged: dict[str, Any], given: set[str]) -> Any:
    """The backend's store; an option it does not take (a typo such as ``lock_timout``) is a
    StoreOptionError naming it, not the constructor's TypeError."""
    from metaxy.plugins import get_plugin_manager

    try:
        return get_plugin_manager().hook.metaxy_make_store(url=url, options=merged)
    except TypeError as e:
        m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if m is None or m.group(1) not in given:
            raise
        raise StoreOptionError(f"store {label}: unknown option '{m.group(1)}' for the "
                               f"{url.split(':', 1)[0]} backend") from None


def _fallback(name: str, config: MetaxyConfig, graph: FeatureGraph | None,
              chain: tuple[str, ...]) -> MetadataStore:
    """The fallback store ``name`` of the last store of ``chain``; a cycle (``a -> b -> a``)
    is a ConfigError naming it, not a RecursionError."""
    label = _label(name, config, config.store_config(name).url)
    if label in chain:
        cycle = " -> ".join((*chain[chain.index(label):], label))
        raise ConfigError(f"store fallbacks form a cycle: {cycle} (in "
                          f"{config.path or 'the configuration'})")
    return _make_store(name, config, graph, {}, chain)
