"""Staleness observations: per-feature ``store.status`` counts reported as AssetObservations.

Two ways to run them: :func:`metaxy_observation_job` (a one-op job, schedule it or launch it by
hand) and :func:`metaxy_staleness_sensor` (emits the observations from the sensor tick itself, no
run needed). Either way the Dagster UI shows on each asset how many samples are new, stale or
orphaned. Root features have no upstream to compare against: they are observed only when a
samples function is given for them (typically the same function that feeds their asset).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import dagster as dg

from metaxy import FeatureGraph, versions_of
from metaxy_dagster.assets import DEFAULT_RESOURCE_KEY, _key_of
from metaxy_dagster.increment import META_PREFIX, FeatureIncrement
from metaxy_dagster.keys import asset_keys

if TYPE_CHECKING:
    from metaxy import Feature
    from metaxy.store import MetadataStore
    from metaxy_dagster.resource import MetaxyStoreResource

SamplesFn = Callable[[FeatureIncrement], Any]


def _selected(graph: FeatureGraph, features: Iterable[type[Feature] | str] | None) -> list[str]:
    wanted = None if features is None else {str(graph.get(_key_of(f)).spec().key)
                                            for f in features}
    return [str(k) for k in graph.topological_order() if wanted is None or str(k) in wanted]


def observe_features(context: Any, store: MetadataStore, graph: FeatureGraph, *,
                     features: Iterable[type[Feature] | str] | None = None,
                     root_samples: Mapping[Any, SamplesFn] | None = None,
                     key_prefix: Sequence[str] = ()) -> list[dg.AssetObservation]:
    """One observation per feature with its status counts (``store`` must be open)."""
    keys = asset_keys(graph, key_prefix)
    samples_fns = {str(graph.get(_key_of(k)).spec().key): fn
                   for k, fn in (root_samples or {}).items()}
    versions = versions_of(graph)
    observations = []
    for key in _selected(graph, features):
        cls = graph.get(key)
        samples = None
        if not cls.spec().deps:
            fn = samples_fns.get(key)
            if fn is None:
                continue
            samples = fn(FeatureIncrement(context, store, cls))
        status = store.status(cls, samples=samples)
        observations.append(dg.AssetObservation(
            asset_key=keys[key],
            metadata={
                f"{META_PREFIX}feature": key,
                f"{META_PREFIX}feature_version": versions.feature_version(cls),
                f"{META_PREFIX}new": status.new,
                f"{META_PREFIX}stale": status.stale,
                f"{META_PREFIX}orphaned": status.orphaned,
                f"{META_PREFIX}up_to_date": status.up_to_date,
                f"{META_PREFIX}needs_work": status.needs_work,
            },
        ))
    return observations


def metaxy_observation_job(graph: FeatureGraph | None = None, *,
                           features: Iterable[type[Feature] | str] | None = None,
                           root_samples: Mapping[Any, SamplesFn] | None = None,
                           store_resource_key: str = DEFAULT_RESOURCE_KEY,
                           resource_keys: Iterable[str] = (),
                           key_prefix: Sequence[str] = (),
                           name: str = "metaxy_observe_staleness") -> dg.JobDefinition:
    """A job whose single op logs one staleness observation per feature."""
    graph = graph if graph is not None else FeatureGraph.get_active()
    asset_keys(graph, key_prefix)
    selected = _selected(graph, features)

    def observe_fn(context: dg.OpExecutionContext) -> None:
        resource = cast("MetaxyStoreResource", getattr(context.resources, store_resource_key))
        store = resource.get_store(graph)
        with store.open("r"):
            for obs in observe_features(context, store, graph, features=selected,
                                        root_samples=root_samples, key_prefix=key_prefix):
                context.log_event(obs)

    # Dagster checks the context annotation at runtime; postponed annotations are strings.
    observe_fn.__annotations__["context"] = dg.OpExecutionContext
    observe = dg.op(name=f"{name}_op",
                    required_resource_keys={store_resource_key, *resource_keys})(observe_fn)

    @dg.job(name=name, description="Report each metaxy feature's new/stale/orphaned counts as "
                                    "asset observations.")
    def job() -> None:
        observe()

    return job


def metaxy_staleness_sensor(graph: FeatureGraph | None = None, *,
                            features: Iterable[type[Feature] | str] | None = None,
                            root_samples: Mapping[Any, SamplesFn] | None = None,
                            store_resource_key: str = DEFAULT_RESOURCE_KEY,
                            resource_keys: Iterable[str] = (),
                            key_prefix: Sequence[str] = (),
                            minimum_interval_seconds: int = 300,
                            name: str = "metaxy_staleness_sensor") -> dg.SensorDefinition:
    """A sensor emitting the staleness observations on every tick (no run is launched)."""
    graph = graph if graph is not None else FeatureGraph.get_active()
    asset_keys(graph, key_prefix)
    selected = _selected(graph, features)

    @dg.sensor(name=name, minimum_interval_seconds=minimum_interval_seconds,
               required_resource_keys={store_resource_key, *resource_keys},
               description="Report each metaxy feature's new/stale/orphaned counts as asset "
                           "observations.")
    def sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult:
        # Direct invocation passes every required resource as a keyword (the daemon passes only
        # annotated resource parameters); the resources are read from the context either way.
        resource = cast("MetaxyStoreResource", getattr(context.resources, store_resource_key))
        store = resource.get_store(graph)
        with store.open("r"):
            observations = observe_features(context, store, graph, features=selected,
                                            root_samples=root_samples, key_prefix=key_prefix)
        return dg.SensorResult(asset_events=observations)

    return sensor
