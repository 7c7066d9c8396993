"""Issue 12: no bare ValueError / KeyError escapes from the engine, plan building or the spec
lookups; each is a MetaxyError naming the feature and the field or dependency."""

from __future__ import annotations

import pytest

import metaxy as mx
from metaxy.engine import frames as E
from metaxy.engine import sql as Q
from metaxy.engine.plan import build_plan
from metaxy.errors import (
    DependencyNotFoundError,
    FeatureDefinitionError,
    FieldNotFoundError,
    InvalidFrameError,
    MetaxyError,
)
from metaxy.hashing import HashSettings
from metaxy.testing.graphs import SuiteFeatures, define_feature, define_suite_features
from metaxy.testing.pytest_plugin import make_store


@pytest.fixture
def feats(isolated_graph: mx.FeatureGraph) -> SuiteFeatures:
    return define_suite_features()


def test_unknown_field_names_feature_and_field(feats: SuiteFeatures) -> None:
    spec = feats.child.spec()
    with pytest.raises(FieldNotFoundError) as info:
        spec.field("yy")
    err = info.value
    assert isinstance(err, MetaxyError) and isinstance(err, KeyError)  # KeyError: compatible
    assert (err.feature_key, err.field) == ("conf/child", "yy")
    assert str(err) == ("feature 'conf/child' has no field 'yy'; did you mean 'y'? "
                        "(fields: a, y)")


def test_unknown_field_through_the_graph(isolated_graph: mx.FeatureGraph,
                                         feats: SuiteFeatures) -> None:
    with pytest.raises(FieldNotFoundError, match="'conf/root' has no field 'nope'"):
        isolated_graph.field_parents("conf/root", "nope")


def test_unknown_dependency_names_feature_and_dependency(feats: SuiteFeatures) -> None:
    spec = feats.child.spec()
    assert spec.dep(feats.root.spec().key).feature == feats.root.spec().key
    with pytest.raises(DependencyNotFoundError) as info:
        spec.dep(mx.FeatureKey("conf/roots"))
    err = info.value
    assert isinstance(err, MetaxyError) and isinstance(err, KeyError)
    assert (err.feature_key, err.dependency) == ("conf/child", "conf/roots")
    assert str(err) == ("feature 'conf/child' has no dependency on 'conf/roots'; did you mean "
                        "'conf/root'? (dependencies: conf/root, conf/side)")


def test_dependencies_sharing_no_key_column(isolated_graph: mx.FeatureGraph,
                                            feats: SuiteFeatures) -> None:
    """Two deps whose key columns never meet: refused when the plan is built, naming both."""
    two = define_feature("Two", mx.FeatureSpec(
        key="conf/two", id_columns=["sid", "label"],
        deps=[mx.FeatureDep(feature=feats.root, columns=()),
              mx.FeatureDep(feature=feats.bylabel, columns=())]), {"sid": str, "label": str})
    with pytest.raises(FeatureDefinitionError,
                       match=r"feature 'conf/two'.*'conf/bylabel' shares no column"):
        build_plan(two, isolated_graph)
    for url in ("memory://", "duckdb:///:memory:"):
        store = make_store(url)
        with store.open("w"), pytest.raises(FeatureDefinitionError, match="conf/bylabel"):
            store.resolve_update(two)


def test_root_without_staged_samples(isolated_graph: mx.FeatureGraph,
                                     feats: SuiteFeatures) -> None:
    """The compilers themselves refuse a root without samples with the store's own error."""
    plan = build_plan(feats.root, isolated_graph)
    with pytest.raises(InvalidFrameError, match=r"feature 'conf/root'.*pass samples="):
        Q.expected(plan, Q.SqlContext(HashSettings(), {}), None)
    with pytest.raises(InvalidFrameError, match=r"feature 'conf/root'.*pass samples="):
        E.expected(plan, E.FrameContext(HashSettings(), {}), None)
