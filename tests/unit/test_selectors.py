"""Issue 19 item 2: dbt-style graph selectors (metaxy.selectors), on the example teams' graph and
on random DAGs (property tests: ``+k+`` covers ``+k`` and ``k+``, which cover ``k``; depths grow
monotonically; ``--exclude`` removes exactly its selection)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaxy import api
from metaxy.errors import SelectorError
from metaxy.graph import FeatureGraph
from metaxy.selectors import select
from tests.unit.conftest import define


@pytest.fixture(scope="module")
def graph() -> FeatureGraph:
    return api.load_project().graph


def keys(graph: FeatureGraph, *include: str, exclude: tuple[str, ...] = ()) -> list[str]:
    return [str(k) for k in select(graph, list(include), list(exclude))]


def test_plain_keys_globs_and_topological_order(graph: FeatureGraph) -> None:
    assert keys(graph, "speech/summary") == ["speech/summary"]
    speech = [k for k in (str(x) for x in graph.topological_order()) if k.startswith("speech/")]
    assert keys(graph, "speech/*") == speech and len(speech) == 3
    everything = [str(k) for k in graph.topological_order()]
    assert keys(graph) == everything
    assert keys(graph, "vision/faces, media/video") == ["media/video", "vision/faces"]


def test_ancestors_and_descendants_with_depth(graph: FeatureGraph) -> None:
    assert keys(graph, "+speech/keywords") == ["media/video", "speech/transcript",
                                               "speech/keywords"]
    assert keys(graph, "1+speech/keywords") == ["speech/transcript", "speech/keywords"]
    assert set(keys(graph, "media/video+1")) == {"media/video", *(
        str(k) for k in graph.downstream("media/video"))}
    assert set(keys(graph, "media/video+")) == {str(k) for k in graph.topological_order()}
    assert set(keys(graph, "+speech/transcript+")) == {"media/video", "speech/transcript",
                                                       "speech/keywords"}


def test_exclude(graph: FeatureGraph) -> None:
    assert "speech/keywords" not in keys(graph, "media/video+", exclude=("speech/keywords",))
    assert keys(graph, exclude=("speech/*", "media/*")) == ["vision/faces"]


@pytest.mark.parametrize(("selector", "message"), [
    ("speech/nope", "selector 'speech/nope' matches no feature (features: media/video"),
    ("x/*", "selector 'x/*' matches no feature"),
    ("++speech/summary", "expected [N]+key[+N]"),
])
def test_bad_selectors_are_named(graph: FeatureGraph, selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        select(graph, [selector])
    assert message in str(info.value)


# ---------------------------------------------------------------------- properties on random DAGs
@st.composite
def dags(draw: st.DrawFn) -> FeatureGraph:
    """A random DAG of 1..7 features (edges only from lower to higher index)."""
    n = draw(st.integers(1, 7))
    graph = FeatureGraph()
    with graph.use():
        for i in range(n):
            parents = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
            define(f"g/f{i}", deps=[f"g/f{p}" for p in parents], name=f"F{i}")
    return graph


@settings(max_examples=40, deadline=None)
@given(dags(), st.data())
def test_selection_invariants(graph: FeatureGraph, data: st.DataObject) -> None:
    all_keys = [str(k) for k in graph.topological_order()]
    k = data.draw(st.sampled_from(all_keys))
    both, up, down, one = (set(keys(graph, s)) for s in (f"+{k}+", f"+{k}", f"{k}+", k))
    assert one == {k} and one <= up <= both and one <= down <= both and both == up | down
    for d in range(4):
        assert set(keys(graph, f"{d}+{k}")) <= set(keys(graph, f"{d + 1}+{k}")) <= up
        assert set(keys(graph, f"{k}+{d}")) <= set(keys(graph, f"{k}+{d + 1}")) <= down
    assert set(keys(graph, f"1+{k}")) == {k, *(str(p) for p in graph.upstream(k))}
    # every ancestor's descendants include k; exclude removes exactly its own selection
    for a in up:
        assert k in keys(graph, f"{a}+")
    assert set(keys(graph, exclude=(f"+{k}",))) == set(all_keys) - up
    result = keys(graph, f"+{k}+")
    assert result == [x for x in all_keys if x in result]  # topological order kept
