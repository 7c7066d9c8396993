"""The shipped conformance suite, run on every backend available here (see conftest.py)."""

from __future__ import annotations

import polars as pl

import metaxy as mx
from metaxy import columns as C
from metaxy.testing.graphs import define_suite_features
from metaxy.testing.pytest_plugin import make_store
from metaxy.testing.suite import StoreConformanceTests, materialize, root_samples


class TestConformance(StoreConformanceTests):
    """``store_url`` is parametrised over the backends by tests/stores/conftest.py."""


def test_backends_agree_bit_for_bit(all_store_urls: dict[str, str],
                                    isolated_graph: mx.FeatureGraph) -> None:
    """The same data written to every backend gives identical hashes in every feature."""
    feats = define_suite_features()
    sids = ["b", "B", "a", "é", "Z", "日本", "a b"]
    samples = root_samples({s: (f"in-{s}", None if s == "Z" else "x") for s in sids},
                           labels={s: "g" if s < "b" else "h" for s in sids})
    results: dict[str, dict[str, pl.DataFrame]] = {}
    assert {"duckdb-file", "sqlite-file"} <= set(all_store_urls)
    for backend, url in all_store_urls.items():
        store = make_store(url)
        with store.open("w"):
            for f in (feats.root, feats.child, feats.parts, feats.agg, feats.bylabel):
                materialize(store, f, samples=samples if f is feats.root else None,
                            children=(0, 1, 10))
            results[backend] = {
                str(f.spec().key): store.read(f).select(
                    *f.spec().id_columns, C.PROVENANCE, C.PROVENANCE_BY_FIELD,
                    C.DATA_VERSION).sort(*f.spec().id_columns)
                for f in (feats.root, feats.child, feats.parts, feats.agg, feats.bylabel)
            }
    first, *others = results
    for other in others:
        for key, frame in results[first].items():
            assert frame.to_dicts() == results[other][key].to_dicts(), (first, other, key)
