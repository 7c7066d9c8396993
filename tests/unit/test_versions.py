"""Static versions (SPEC §2): golden values, what they depend on, and what they ignore."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metaxy as mx
from metaxy.versions import digest

from .conftest import define

K = mx.FeatureKey


def _golden_graph(*, feature_order: Sequence[str] = ("video", "transcript", "summary"),
                  reverse_lists: bool = False) -> mx.FeatureGraph:
    """A small fixed graph; ``reverse_lists`` declares deps and fields in the opposite order."""

    def order(items: list[object]) -> list[object]:
        return items[::-1] if reverse_lists else items

    definitions = {
        "video": lambda: define(
            "media/video", name="Video", columns={"video_id": str, "fps": int | None},
            id_columns=["video_id"],
            fields=order([mx.FieldSpec(key="audio", code_version="1"),
                          mx.FieldSpec(key="frames", code_version="2")])),
        "transcript": lambda: define(
            "speech/transcript", name="Transcript", id_columns=["video_id"],
            columns={"video_id": str, "text": str | None},
            deps=[mx.FeatureDep(feature="media/video", columns=())],
            fields=[mx.FieldSpec(key="text", code_version="3",
                                 deps=[mx.FieldDep(feature="media/video", fields=["audio"])])]),
        "summary": lambda: define(
            "speech/summary", name="Summary", id_columns=["video_id"],
            columns={"video_id": str},
            deps=order(["speech/transcript", "media/video"])),
    }
    with mx.FeatureGraph().use() as graph:
        for name in feature_order:
            definitions[name]()
    return graph


def test_golden_versions() -> None:
    """Pinned: a change here changes every stored provenance, i.e. it is a breaking change."""
    v = mx.versions_of(_golden_graph())
    assert v.field_versions("media/video") == {"audio": "1082eada1e77bed0",
                                               "frames": "d1411922965ccdfb"}
    assert v.field_versions("speech/transcript") == {"text": "7b902e2e34183754"}
    assert v.field_versions("speech/summary") == {"default": "f1cb1b54753b59ec"}
    assert v.feature_version("media/video") == "baa6ff4963a06e8b"
    assert v.feature_version("speech/transcript") == "35ffe18770d32a0e"
    assert v.feature_version("speech/summary") == "cc491605c6cb71c6"
    assert v.definition_version("media/video") == "1c2275dd1244749f"
    assert v.definition_version("speech/transcript") == "ecabfef6d54196ca"
    assert v.definition_version("speech/summary") == "67c3a8968918a505"
    assert v.project_version("golden") == "a84b6cb7f0904815"


def test_digest_encoding_is_pinned() -> None:
    assert digest(["field", "a", "b", "1", []]) == digest(["field", "a", "b", "1", []])
    assert re.fullmatch(r"[0-9a-f]{16}", digest(["x"]))
    # Unambiguous: moving a separator between strings changes the digest.
    assert digest(["ab", "c"]) != digest(["a", "bc"])
    assert digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})


def test_versions_ignore_declaration_order() -> None:
    base = mx.versions_of(_golden_graph())
    shuffled = mx.versions_of(_golden_graph(feature_order=("summary", "transcript", "video"),
                                            reverse_lists=True))
    for key in base.graph.keys:
        assert shuffled.field_versions(key) == base.field_versions(key)
        assert shuffled.feature_version(key) == base.feature_version(key)
    # Registration order alone changes no definition, hence not the project version.
    reordered = mx.versions_of(_golden_graph(feature_order=("summary", "transcript", "video")))
    assert reordered.project_version("golden") == base.project_version("golden")


def test_what_each_version_depends_on() -> None:
    base = mx.versions_of(_golden_graph())
    assert base.project_version("golden") != base.project_version("other")
    with mx.FeatureGraph().use() as graph:
        define("media/video", name="Video", id_columns=["video_id"],
               columns={"video_id": str, "fps": float | None},  # column type edited
               fields=[mx.FieldSpec(key="audio", code_version="1"),
                       mx.FieldSpec(key="frames", code_version="2")])
    edited = mx.versions_of(graph)
    assert edited.field_versions("media/video") == base.field_versions("media/video")
    assert edited.feature_version("media/video") == base.feature_version("media/video")
    assert edited.definition_version("media/video") != base.definition_version("media/video")
    assert edited.project_version("golden", [K("media/video")]) != base.project_version(
        "golden", [K("media/video")])


# ------------------------------------------------------------------ propagation along field edges

FIELD_NAMES = ("a", "b", "c")


@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, object]]:
    """Features f0..fn; each depends on a subset of earlier ones, with random field mappings."""
    n = draw(st.integers(min_value=1, max_value=6))
    features: list[dict[str, object]] = []
    for i in range(n):
        fields = draw(st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=3, unique=True))
        ups = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        specs = []
        for name in fields:
            modes = ["default", "all", "none", "explicit"] if ups else ["default"]
            mode = draw(st.sampled_from(modes))
            deps: object = None
            if mode in ("all", "none"):
                deps = mode
            elif mode == "explicit":
                chosen = draw(st.lists(st.sampled_from(ups), min_size=1, unique=True))
                deps = [mx.FieldDep(
                    feature=f"g/f{u}",
                    fields=draw(st.one_of(
                        st.just("all"),
                        st.lists(st.sampled_from(features[u]["fields"]),  # type: ignore[arg-type]
                                 min_size=1, unique=True))))
                    for u in chosen]
            specs.append({"key": name, "deps": deps})
        features.append({"fields": fields, "ups": ups, "specs": specs})
    return features


def _build(features: list[dict[str, object]], bump: tuple[int, str] | None) -> mx.FeatureGraph:
    with mx.FeatureGraph().use() as graph:
        for i, f in enumerate(features):
            fields = [
                mx.FieldSpec(key=s["key"], deps=s["deps"],
                             code_version="2" if bump == (i, s["key"]) else "1")
                for s in f["specs"]  # type: ignore[attr-defined]
            ]
            define(f"g/f{i}", name=f"F{i}", fields=fields,
                   deps=[f"g/f{u}" for u in f["ups"]])  # type: ignore[attr-defined]
    return graph


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.data())
def test_code_version_change_propagates_exactly_downstream(
    features: list[dict[str, object]], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(features) - 1))
    field = data.draw(st.sampled_from(features[i]["fields"]))  # type: ignore[arg-type]
    before = mx.versions_of(_build(features, None))
    after = mx.versions_of(_build(features, (i, field)))
    graph = before.graph

    children: dict[tuple[str, str], set[tuple[str, str]]] = {}
    all_fields = []
    for key in graph.keys:
        for fk in graph.spec(key).field_keys:
            all_fields.append((str(key), str(fk)))
            for pk, pf in graph.field_parents(key, fk):
                children.setdefault((str(pk), str(pf)), set()).add((str(key), str(fk)))
    reachable = {(f"g/f{i}", field)}
    frontier = set(reachable)
    while frontier:
        frontier = set().union(*(children.get(n, set()) for n in frontier)) - reachable
        reachable |= frontier

    changed = {(k, f) for k, f in all_fields
               if before.field_version(k, f) != after.field_version(k, f)}
    assert changed == reachable
    changed_features = {k for k in graph.keys
                        if before.feature_version(k) != after.feature_version(k)}
    assert changed_features == {K(k) for k, _ in reachable}


@pytest.mark.parametrize("length", [1, 50])
def test_versions_of_is_cached_until_the_graph_changes(length: int) -> None:
    with mx.FeatureGraph().use() as graph:
        for n in range(length):
            define(f"c/f{n}", name=f"C{n}", deps=[f"c/f{n - 1}"] if n else [])
        first = mx.versions_of(graph)
        assert mx.versions_of(graph) is first
        define("c/extra", name="Extra")
        assert mx.versions_of(graph) is not first
