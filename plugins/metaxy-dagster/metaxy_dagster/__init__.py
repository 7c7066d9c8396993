"""metaxy-dagster: metaxy features as Dagster assets.

* :func:`metaxy_assets` / :func:`metaxy_asset` -- features -> assets (keys, deps, code versions,
  column schemas);
* :class:`MetaxyStoreResource` -- the store as a resource; ``resource.increment(context, feature)``
  gives a hand-written asset body its increment and writes back with the run id;
* :func:`metaxy_observation_job` / :func:`metaxy_staleness_sensor` -- staleness observations.

See ``docs/dagster.md``.
"""

from __future__ import annotations

from metaxy_dagster.assets import (
    ComputeFn,
    feature_asset_spec,
    metaxy_asset,
    metaxy_assets,
    run_compute,
)
from metaxy_dagster.errors import AssetKeyCollisionError, ComputeError, DagsterIntegrationError
from metaxy_dagster.increment import FeatureIncrement
from metaxy_dagster.keys import asset_key, asset_keys
from metaxy_dagster.observe import (
    metaxy_observation_job,
    metaxy_staleness_sensor,
    observe_features,
)
from metaxy_dagster.resource import MetaxyStoreResource

__all__ = [
    "AssetKeyCollisionError",
    "ComputeError",
    "ComputeFn",
    "DagsterIntegrationError",
    "FeatureIncrement",
    "MetaxyStoreResource",
    "asset_key",
    "asset_keys",
    "feature_asset_spec",
    "metaxy_asset",
    "metaxy_assets",
    "metaxy_observation_job",
    "metaxy_staleness_sensor",
    "observe_features",
    "run_compute",
]
