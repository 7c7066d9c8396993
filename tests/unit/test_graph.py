"""The feature graph: validation errors, topological order, field-level dependencies, rollback."""

from __future__ import annotations

import pytest

import metaxy as mx
from metaxy.errors import (
    DependencyCycleError,
    FeatureDefinitionError,
    FeatureNotFoundError,
    MissingUpstreamError,
)

from .conftest import assert_names, define, defined_path, state

K = mx.FeatureKey
F = mx.FieldKey


def test_missing_upstream(graph: mx.FeatureGraph) -> None:
    define("t/ok", name="Ok")
    define("t/down", deps=["t/nowhere"], name="Down")  # lazily resolved: may come later
    before = state(graph)
    with pytest.raises(MissingUpstreamError, match="'t/nowhere'") as err:
        graph.validate()
    assert_names(err.value, key="t/down", class_path=defined_path("Down"))
    assert state(graph) == before
    with pytest.raises(MissingUpstreamError):
        mx.versions_of(graph)


def test_upstream_defined_later_resolves(graph: mx.FeatureGraph) -> None:
    define("t/down", deps=["t/up"], name="Down")
    define("t/up", name="Up")
    assert graph.topological_order() == [K("t/up"), K("t/down")]


def test_dependency_cycle(graph: mx.FeatureGraph) -> None:
    define("t/a", deps=["t/c"], name="A")
    define("t/b", deps=["t/a"], name="B")
    define("t/c", deps=["t/b"], name="C")
    before = state(graph)
    with pytest.raises(DependencyCycleError, match="t/a -> t/c -> t/b -> t/a") as err:
        graph.validate()
    assert_names(err.value, key="t/a", class_path=defined_path("A"))
    assert state(graph) == before


def test_field_dep_on_unknown_upstream_field(graph: mx.FeatureGraph) -> None:
    define("t/up", fields=["audio"], name="Up")
    fields = [mx.FieldSpec(key="x", deps=[mx.FieldDep(feature="t/up", fields=["video"])])]
    define("t/down", deps=["t/up"], fields=fields, name="Down")
    with pytest.raises(FeatureDefinitionError, match="field 'video' of 't/up'") as err:
        graph.validate()
    assert_names(err.value, key="t/down", class_path=defined_path("Down"))
    assert err.value.field == "x"


def test_topological_order_and_neighbours(graph: mx.FeatureGraph) -> None:
    define("z/root", name="Root")
    define("a/mid", deps=["z/root"], name="Mid")
    define("b/side", deps=["z/root"], name="Side")
    define("a/leaf", deps=["a/mid", "b/side"], name="Leaf")
    assert graph.topological_order() == [K("z/root"), K("a/mid"), K("b/side"), K("a/leaf")]
    assert graph.upstream("a/leaf") == [K("a/mid"), K("b/side")]
    assert graph.downstream("z/root") == [K("a/mid"), K("b/side")]
    assert graph.downstream("z/root", transitive=True) == [K("a/mid"), K("b/side"), K("a/leaf")]
    assert graph.downstream("a/leaf") == []


def test_lookup(graph: mx.FeatureGraph) -> None:
    cls = define("t/x")
    assert graph.get("t/x") is graph.get(K("t/x")) is graph.get(cls) is cls
    assert "t/x" in graph and "t/y" not in graph and "Not A Key" not in graph
    with pytest.raises(FeatureNotFoundError, match=r"unknown feature 't/y'.*t/x"):
        graph.get("t/y")


def test_field_parents(graph: mx.FeatureGraph) -> None:
    define("m/video", fields=["audio", "frames"], name="Video")
    define("m/meta", fields=["default"], name="Meta")
    deps = ["m/video", "m/meta"]
    define("d/same", deps=deps, fields=["audio"], name="Same")
    define("d/other", deps=deps, fields=["text"], name="Other")
    define("d/all", deps=deps, fields=[mx.FieldSpec(key="audio", deps="all")], name="All")
    define("d/none", deps=deps, fields=[mx.FieldSpec(key="audio", deps="none")], name="NoDeps")
    explicit = [mx.FieldSpec(key="x", deps=[mx.FieldDep(feature="m/video", fields=["frames"])])]
    define("d/explicit", deps=deps, fields=explicit, name="Explicit")
    video_all = [(K("m/video"), F("audio")), (K("m/video"), F("frames"))]
    meta = [(K("m/meta"), F("default"))]
    # Default: the same-key field where the upstream has one, else all its fields.
    assert graph.field_parents("d/same", "audio") == [*meta, (K("m/video"), F("audio"))]
    assert graph.field_parents("d/other", "text") == [*meta, *video_all]
    assert graph.field_parents("d/all", "audio") == [*meta, *video_all]
    assert graph.field_parents("d/none", "audio") == []
    # Explicit mappings override the default, also for upstreams they do not mention.
    assert graph.field_parents("d/explicit", "x") == [(K("m/video"), F("frames"))]


def test_staged_rolls_back_everything_added(graph: mx.FeatureGraph) -> None:
    define("t/kept", name="Kept")
    before = state(graph)
    with pytest.raises(RuntimeError, match="halfway"), graph.staged():
        define("t/new", name="New")
        raise RuntimeError("halfway")
    assert state(graph) == before
    assert define("t/new", name="New") is graph.get("t/new")


def test_isolated_graph_does_not_touch_the_active_one() -> None:
    outer = mx.FeatureGraph.get_active()
    with mx.FeatureGraph.isolated() as g:
        assert mx.FeatureGraph.get_active() is g is not outer
        define("t/x")
    assert mx.FeatureGraph.get_active() is outer
    assert "t/x" not in outer


def test_lookup_in_an_empty_graph_hints_at_load_features(graph: mx.FeatureGraph) -> None:
    with pytest.raises(FeatureNotFoundError, match=r"graph is empty.*mx\.load_features\(\)"):
        graph.get("media/video")
