"""metaxy's Delta Lake store backend (``delta:///path/to/root``, ``delta+s3://bucket/prefix``).

This module holds only the pluggy hook implementations; the store lives in
:mod:`metaxy_delta.store` and is imported when a Delta store is made, so loading the plugin
never imports deltalake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from metaxy.hookspecs import BackendSpec, BackendUnderTest, hookimpl

if TYPE_CHECKING:
    from metaxy_delta.store import DeltaStore

#: The URL schemes: a local root, or an object store's (credentials in ``storage_options``).
SCHEMES = ("delta", "delta+s3", "delta+s3a", "delta+gs", "delta+az", "delta+abfss", "delta+file")


@hookimpl
def metaxy_store_backends() -> list[BackendSpec]:
    return [BackendSpec("delta", SCHEMES,
                        "Delta Lake tables on a file system or object store (no server; "
                        "resolve by Polars' streaming engine)", ("md5", "sha256"))]


@hookimpl
def metaxy_test_backends() -> list[BackendUnderTest]:
    """The test backend ``delta``: a fresh root directory per test
    (:func:`metaxy_delta.testing.fresh_store_url`)."""
    from metaxy_delta.testing import fresh_store_url

    return [BackendUnderTest("delta", fresh_store_url)]


@hookimpl
def metaxy_make_store(url: str, options: Mapping[str, object]) -> DeltaStore | None:
    if url.split("://", 1)[0] not in SCHEMES:
        return None
    from metaxy_delta.store import DeltaStore

    return DeltaStore(url, **options)  # type: ignore[arg-type]
