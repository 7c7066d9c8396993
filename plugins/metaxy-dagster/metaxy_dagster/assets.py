"""Features -> Dagster assets: the :func:`metaxy_asset` decorator and :func:`metaxy_assets` factory.

Every asset is keyed by its feature key (:mod:`metaxy_dagster.keys`), depends on the assets of its
upstream features, carries ``code_version`` = the metaxy *feature version* (so Dagster flags a
code change exactly when metaxy would recompute), the model's description and column schema, and
the metaxy key in its metadata. Data does not flow through Dagster IO managers: every body reads
and writes through the metaxy store resource and returns a ``MaterializeResult``.

A compute function receives the :class:`~metaxy_dagster.increment.FeatureIncrement`:

* for a **downstream** feature it is called only when there is work (``inc.to_process`` is not
  empty) and returns the computed rows -- ``inc.to_process`` plus the model's columns (an expansion
  returns several rows per parent row). The rows are written with the run id.
* for a **root** feature it returns the *samples* (id columns, user columns and the
  ``metaxy_input_by_field`` struct, e.g. content hashes of the raw files); only the new and stale
  ones among them are written.

A function may instead write itself (``inc.write(...)``) and return ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import dagster as dg

from metaxy import FeatureGraph, versions_of
from metaxy_dagster.errors import ComputeError
from metaxy_dagster.increment import META_PREFIX, FeatureIncrement, OrphanPolicy, check_rows
from metaxy_dagster.keys import asset_keys
from metaxy_dagster.schema import description_of, table_schema

if TYPE_CHECKING:
    from metaxy import Feature
    from metaxy_dagster.resource import MetaxyStoreResource

ComputeFn = Callable[[FeatureIncrement], Any]
DEFAULT_RESOURCE_KEY = "metaxy"


def _key_of(ref: type[Feature] | str) -> str:
    return str(ref.spec().key) if isinstance(ref, type) else str(ref)


def feature_asset_spec(feature: type[Feature] | str, *, graph: FeatureGraph | None = None,
                       key_prefix: Sequence[str] = (),
                       group_name: str | None = None) -> dict[str, Any]:
    """The ``@dg.asset`` keyword arguments describing one feature (key, deps, versions...)."""
    graph = graph if graph is not None else FeatureGraph.get_active()
    cls = graph.get(_key_of(feature))
    spec = cls.spec()
    key = str(spec.key)
    keys = asset_keys(graph, key_prefix)
    versions = versions_of(graph)
    return {
        "key": keys[key],
        "deps": [keys[str(d)] for d in graph.upstream(cls)],
        "code_version": versions.feature_version(cls),
        "description": description_of(cls),
        "group_name": group_name or keys[key].path[len(key_prefix)],
        "kinds": {"metaxy"},
        "metadata": {
            f"{META_PREFIX}feature": key,
            f"{META_PREFIX}feature_version": versions.feature_version(cls),
            f"{META_PREFIX}id_columns": dg.MetadataValue.json(list(spec.id_columns)),
            f"{META_PREFIX}fields": dg.MetadataValue.json(versions.field_versions(cls)),
            f"{META_PREFIX}table": spec.key.table_name,
            "dagster/column_schema": table_schema(cls),
        },
    }


def run_compute(context: Any, inc: FeatureIncrement, fn: ComputeFn,
                on_orphaned: OrphanPolicy = "keep") -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Run one compute function against its increment and write the results back."""
    if inc.is_root:
        samples = fn(inc)
        if samples is None:
            if not inc.resolved:
                raise ComputeError(f"root feature '{inc.key}': the compute function must "
                                   "return the samples (or resolve and write them itself)")
        else:
            inc.resolve(samples)
            if inc.to_process.height:
                inc.write(inc.to_process)
    elif inc.to_process.height:
        before = inc.rows_written
        rows = fn(inc)
        if rows is not None or inc.rows_written == before:
            inc.write(check_rows(inc, rows))
    if on_orphaned == "delete" and inc.orphaned.height:
        inc.delete_orphaned()
    meta = inc.metadata()
    missing = meta.get(f"{META_PREFIX}unprocessed", 0)
    if missing:
        context.log.warning(f"metaxy feature '{inc.key}': {missing} sample(s) to process got "
                            "no written row; they stay new/stale")
    context.log.info(
        f"metaxy feature '{inc.key}': new={meta.get(f'{META_PREFIX}new')} "
        f"stale={meta.get(f'{META_PREFIX}stale')} orphaned={meta.get(f'{META_PREFIX}orphaned')}"
        f" rows_written={meta[f'{META_PREFIX}rows_written']}")
    return inc.result()


def metaxy_asset(feature: type[Feature] | str, *, graph: FeatureGraph | None = None,
                 store_resource_key: str = DEFAULT_RESOURCE_KEY,
                 key_prefix: Sequence[str] = (), group_name: str | None = None,
                 on_orphaned: OrphanPolicy = "keep",
                 resource_keys: Iterable[str] = (),
                 **asset_kwargs: Any) -> Callable[[ComputeFn], dg.AssetsDefinition]:
    """Decorate a compute function into the Dagster asset of ``feature``.

    Args:
        feature: the feature class or key.
        graph: the feature graph (default: the active graph).
        store_resource_key: the resource key of the :class:`MetaxyStoreResource`.
        key_prefix: asset key parts put before the feature key's parts.
        group_name: the asset group (default: the feature key's first part).
        on_orphaned: ``"delete"`` tombstones orphaned samples; ``"keep"`` only reports them.
        resource_keys: other resources the compute function uses (``inc.context.resources``).
        asset_kwargs: further ``@dg.asset`` arguments (``owners``, ``tags``...).
    """
    graph = graph if graph is not None else FeatureGraph.get_active()
    cls = graph.get(_key_of(feature))
    kwargs = feature_asset_spec(cls, graph=graph, key_prefix=key_prefix, group_name=group_name)
    metadata = {**kwargs.pop("metadata"), **asset_kwargs.pop("metadata", {})}

    def decorate(fn: ComputeFn) -> dg.AssetsDefinition:
        def body(context: dg.AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
            resource = cast("MetaxyStoreResource", getattr(context.resources, store_resource_key))
            with resource.increment(context, cls, graph=graph) as inc:
                return run_compute(context, inc, fn, on_orphaned)

        # Dagster checks the context annotation at runtime; postponed annotations are strings.
        body.__annotations__["context"] = dg.AssetExecutionContext
        body.__name__ = getattr(fn, "__name__", "metaxy_asset")
        body.__doc__ = fn.__doc__
        asset: dg.AssetsDefinition = dg.asset(
            **kwargs, **asset_kwargs, metadata=metadata,
            required_resource_keys={store_resource_key, *resource_keys},
        )(body)
        return asset

    return decorate


def metaxy_assets(graph: FeatureGraph | None,
                  compute_fns: Mapping[Any, ComputeFn], *,
                  features: Iterable[type[Feature] | str] | None = None,
                  store_resource_key: str = DEFAULT_RESOURCE_KEY,
                  key_prefix: Sequence[str] = (), group_name: str | None = None,
                  on_orphaned: OrphanPolicy = "keep",
                  resource_keys: Mapping[str, Iterable[str]] | Iterable[str] = (),
                  ) -> list[dg.AssetsDefinition]:
    """One asset per feature (default: every feature of ``graph``), in topological order.

    Args:
        graph: the feature graph (``None``: the active graph).
        compute_fns: feature (class or key) -> compute function (module docstring).
        features: restrict to these features (their upstream stay external assets).
        resource_keys: other resources the compute functions use, for all of them or per
            feature key.
        store_resource_key, key_prefix, group_name, on_orphaned: as in :func:`metaxy_asset`.
    """
    graph = graph if graph is not None else FeatureGraph.get_active()
    asset_keys(graph, key_prefix)  # reject collisions before building anything
    fns = {str(graph.get(_key_of(k)).spec().key): fn for k, fn in compute_fns.items()}
    wanted = {str(graph.get(_key_of(f)).spec().key) for f in features} \
        if features is not None else {str(k) for k in graph.keys}
    missing = sorted(wanted - set(fns))
    if missing:
        raise ComputeError(f"no compute function for feature(s) {missing}")
    per_feature = resource_keys if isinstance(resource_keys, Mapping) else None
    shared = [] if per_feature is not None else list(resource_keys)
    assets = []
    for key in graph.topological_order():
        skey = str(key)
        if skey not in wanted:
            continue
        extra = list(per_feature.get(skey, ())) if per_feature is not None else shared
        assets.append(metaxy_asset(
            skey, graph=graph, store_resource_key=store_resource_key, key_prefix=key_prefix,
            group_name=group_name, on_orphaned=on_orphaned, resource_keys=extra,
        )(fns[skey]))
    return assets
