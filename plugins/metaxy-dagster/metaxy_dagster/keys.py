"""Feature key -> Dagster asset key.

Dagster names allow only ``[A-Za-z0-9_]`` while metaxy key parts may contain ``-``. Each part maps
deterministically by replacing ``-`` with ``_`` (``media/raw-video`` -> ``["media", "raw_video"]``).
The mapping is not one-to-one (``raw-video`` and ``raw_video`` meet), so :func:`asset_keys`
checks a whole graph at once and raises :class:`AssetKeyCollisionError` naming both features. It
also checks the op names Dagster derives from asset keys (parts joined by ``__``), which can meet
even when the keys differ (``a__b`` vs ``a/b``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dagster as dg

from metaxy import FeatureGraph, FeatureKey
from metaxy_dagster.errors import AssetKeyCollisionError


def asset_key_parts(key: FeatureKey | str, prefix: Sequence[str] = ()) -> list[str]:
    """The Dagster asset key path of one feature key (``prefix`` parts first, mapped too)."""
    fkey = key if isinstance(key, FeatureKey) else FeatureKey(key)
    return [p.replace("-", "_") for p in (*prefix, *fkey.parts)]


def asset_key(key: FeatureKey | str, prefix: Sequence[str] = ()) -> dg.AssetKey:
    """The Dagster asset key of one feature key (see the module docstring)."""
    return dg.AssetKey(asset_key_parts(key, prefix))


def op_name(akey: dg.AssetKey) -> str:
    """The op name Dagster derives from an asset key."""
    return "__".join(akey.path)


def asset_keys(keys: Iterable[FeatureKey | str] | FeatureGraph,
               prefix: Sequence[str] = ()) -> dict[str, dg.AssetKey]:
    """Feature key string -> asset key for many features, rejecting collisions."""
    items = keys.keys if isinstance(keys, FeatureGraph) else list(keys)
    result: dict[str, dg.AssetKey] = {}
    by_asset: dict[dg.AssetKey, str] = {}
    by_op: dict[str, str] = {}
    for key in sorted(str(k) for k in items):
        akey = asset_key(key, prefix)
        name = op_name(akey)
        other = by_asset.get(akey) or by_op.get(name)
        if other is not None:
            raise AssetKeyCollisionError(
                f"features '{other}' and '{key}' both map to the Dagster asset "
                f"{akey.to_user_string()!r} (op name {name!r}): Dagster names allow only "
                "[A-Za-z0-9_], so '-' becomes '_'; rename one of the feature keys"
            )
        by_asset[akey] = key
        by_op[name] = key
        result[key] = akey
    return result
