"""Discovery of team packages (SPEC §7) and the plugin manager's deterministic loading."""

from __future__ import annotations

from collections.abc import Iterator

import pluggy
import pytest

import metaxy as mx
from metaxy import plugins
from metaxy.errors import (
    DuplicateFeatureError,
    DuplicatePluginError,
    FeatureDefinitionError,
    MetaxyWarning,
    MissingUpstreamError,
    PluginLoadError,
)
from metaxy.hookspecs import BackendSpec

from .conftest import FakeDist, assert_names, state

K = mx.FeatureKey
TEAM_FEATURES = [K("media/chunk"), K("media/video"), K("speech/keywords"), K("speech/summary"),
                 K("speech/transcript"), K("vision/faces")]
TEAMS = ["team-media", "team-speech", "team-vision"]

BROKEN = """
import metaxy as mx

class Partial(mx.Feature, table=True, spec=mx.FeatureSpec(key="broken/partial",
                                                          id_columns=["i"])):
    i: str

raise RuntimeError("boom while importing")
"""


def _duplicate(cls_name: str) -> str:
    return f"""
import metaxy as mx

class {cls_name}(mx.Feature, table=True, spec=mx.FeatureSpec(key="dup/thing",
                                                             id_columns=["i"])):
    i: str
"""


def test_example_teams_load_across_packages(graph: mx.FeatureGraph) -> None:
    active = graph  # the fixture's isolated graph is the active one; loading targets another
    graph = mx.load_features(mx.FeatureGraph())
    assert graph.keys == TEAM_FEATURES
    order = graph.topological_order()
    for key in graph.keys:
        for up in graph.upstream(key):
            assert order.index(up) < order.index(key), (up, key)
    # speech depends on media across package boundaries, by class and by key
    assert graph.upstream("speech/transcript") == [K("media/video")]
    assert graph.upstream("speech/summary") == [K("media/chunk")]
    assert graph.get("speech/transcript").__module__ == "team_speech.features"
    assert "media/video" not in active


def test_loading_twice_into_fresh_graphs_is_deterministic() -> None:
    first = mx.load_features(mx.FeatureGraph())
    second = mx.load_features(mx.FeatureGraph())
    assert first.topological_order() == second.topological_order()
    assert first.get("media/video") is not second.get("media/video")
    v1, v2 = mx.versions_of(first), mx.versions_of(second)
    assert [v1.definition_version(k) for k in first.keys] == [
        v2.definition_version(k) for k in second.keys]


def test_load_selected_packages_only() -> None:
    graph = mx.load_features(mx.FeatureGraph(), packages=["team-media"])
    assert graph.keys == [K("media/chunk"), K("media/video")]


def test_entry_points_are_sorted_by_distribution_and_name() -> None:
    refs = plugins.entry_points(plugins.FEATURES_GROUP)
    teams = [r for r in refs if r.dist in TEAMS]
    assert [r.plugin_name for r in teams] == [f"{t}:features" for t in TEAMS]


def test_broken_package_strict(fake_dist: FakeDist) -> None:
    fake_dist("team-broken", "team_broken", BROKEN)
    graph = mx.FeatureGraph()
    with pytest.raises(PluginLoadError, match="boom while importing") as err:
        mx.load_features(graph)
    assert err.value.entry_point == "features"
    assert err.value.package == "team-broken"
    assert "team-broken" in str(err.value) and "'features = team_broken'" in str(err.value)
    assert "broken/partial" not in graph
    assert "broken__partial" not in graph.sa_registry.metadata.tables


def test_broken_package_lenient(fake_dist: FakeDist) -> None:
    fake_dist("team-broken", "team_broken", BROKEN)
    graph = mx.FeatureGraph()
    with pytest.warns(MetaxyWarning, match="skipped package team-broken.*boom"):
        mx.load_features(graph, strict=False)
    assert graph.keys == TEAM_FEATURES
    assert "broken__partial" not in graph.sa_registry.metadata.tables
    assert all(m.class_.__module__ != "team_broken" for m in graph.sa_registry.mappers)


def test_two_packages_defining_one_key(fake_dist: FakeDist) -> None:
    fake_dist("team-dup-a", "team_dup_a", _duplicate("ThingA"))
    fake_dist("team-dup-b", "team_dup_b", _duplicate("ThingB"))
    graph = mx.FeatureGraph()
    with pytest.raises(DuplicateFeatureError) as err:
        mx.load_features(graph, packages=["team-dup-a", "team-dup-b"])
    message = str(err.value)
    for part in ("'dup/thing'", "team_dup_a.ThingA", "team-dup-a", "team_dup_b.ThingB",
                 "team-dup-b"):
        assert part in message
    assert graph.keys == [K("dup/thing")]  # the first package stays, the second left nothing
    assert graph.get("dup/thing").__name__ == "ThingA"
    assert state(graph).tables == {"dup__thing"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('deps=["media/nowhere"])):\n    i: str', MissingUpstreamError),
        (')):\n    i: str\n    metaxy_mine: str', FeatureDefinitionError),
    ],
)
def test_definition_errors_name_the_package(fake_dist: FakeDist, body: str,
                                            error: type[FeatureDefinitionError]) -> None:
    fake_dist("team-faulty", "team_faulty", "import metaxy as mx\n\n"
              "class Faulty(mx.Feature, table=True, spec=mx.FeatureSpec(\n"
              f'    key="faulty/x", id_columns=["i"], {body}\n')
    with pytest.raises(error) as err:
        mx.load_features(mx.FeatureGraph(), packages=["team-faulty"])
    assert_names(err.value, key="faulty/x", class_path="team_faulty.Faulty",
                 package="team-faulty")


def test_hook_object_entry_point(fake_dist: FakeDist) -> None:
    fake_dist("team-hooked", "team_hooked", """
        import metaxy as mx

        class Plugin:
            @mx.hookimpl
            def metaxy_features(self):
                class Hooked(mx.Feature, table=True,
                             spec=mx.FeatureSpec(key="hooked/x", id_columns=["i"])):
                    i: str
                return [Hooked]

        plugin = Plugin()
        """, entry_points={"features": "team_hooked:plugin"})
    graph = mx.load_features(mx.FeatureGraph(), packages=["team-hooked"])
    assert graph.keys == [K("hooked/x")]


# ------------------------------------------------------------------------------ plugin manager


class _Backends:
    def __init__(self, *names: str) -> None:
        self.names = names

    @mx.hookimpl
    def metaxy_store_backends(self) -> list[BackendSpec]:
        return [BackendSpec(name=n, schemes=(n,)) for n in self.names]


PLUGIN_SOURCE = """
from metaxy.hookspecs import BackendSpec, hookimpl

class _P:
    def __init__(self, name):
        self.name = name

    @hookimpl
    def metaxy_store_backends(self):
        return [BackendSpec(name=self.name, schemes=(self.name,))]

one = _P("{a}")
two = _P("{b}")
"""


@pytest.fixture
def fresh_plugin_manager() -> Iterator[None]:
    plugins.get_plugin_manager.cache_clear()
    yield
    plugins.get_plugin_manager.cache_clear()


def _fake_plugin_dists(fake_dist: FakeDist, second: str = "b2") -> list[plugins.EntryPointRef]:
    fake_dist("plug-b", "plug_b", PLUGIN_SOURCE.format(a="b1", b=second),
              group=plugins.PLUGINS_GROUP, entry_points={"zeta": "plug_b:one",
                                                          "alpha": "plug_b:two"})
    fake_dist("plug-a", "plug_a", PLUGIN_SOURCE.format(a="a1", b="a2"),
              group=plugins.PLUGINS_GROUP, entry_points={"store": "plug_a:one"})
    return [r for r in plugins.entry_points(plugins.PLUGINS_GROUP) if r.dist.startswith("plug-")]


def test_get_plugin_manager_registers_dist_name_in_order(
    fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch, fresh_plugin_manager: None
) -> None:
    refs = _fake_plugin_dists(fake_dist)
    assert [r.plugin_name for r in refs] == ["plug-a:store", "plug-b:alpha", "plug-b:zeta"]
    monkeypatch.setattr(plugins, "entry_points", lambda group: refs)
    pm = plugins.get_plugin_manager()
    assert [name for name, _ in pm.list_name_plugin()] == [r.plugin_name for r in refs]
    assert {n: owner for n, (_, owner) in plugins.backends(pm).items()} == {
        "a1": "plug-a:store", "b2": "plug-b:alpha", "b1": "plug-b:zeta"}
    assert plugins.get_plugin_manager() is pm


def test_duplicate_backend_name_from_entry_points(fake_dist: FakeDist) -> None:
    refs = _fake_plugin_dists(fake_dist, second="a1")
    pm = pluggy.PluginManager("metaxy")
    pm.add_hookspecs(plugins.hookspecs)
    with pytest.raises(DuplicatePluginError, match=r"'a1'.*plug-a:store.*plug-b:alpha"):
        plugins.load_plugins(pm, refs)


def test_duplicate_backend_name_between_two_plugins() -> None:
    pm = pluggy.PluginManager("metaxy")
    pm.add_hookspecs(plugins.hookspecs)
    pm.register(_Backends("duckdb"), name="one:x")
    pm.register(_Backends("memory", "duckdb"), name="two:x")
    with pytest.raises(DuplicatePluginError, match="'duckdb'") as err:
        plugins.backends(pm)
    assert "one:x" in str(err.value) and "two:x" in str(err.value)


def test_plugin_entry_point_that_fails_names_its_package(fake_dist: FakeDist) -> None:
    fake_dist("plug-bad", "plug_bad", "raise ImportError('no driver')",
              group=plugins.PLUGINS_GROUP, entry_points={"store": "plug_bad"})
    refs = [r for r in plugins.entry_points(plugins.PLUGINS_GROUP) if r.dist == "plug-bad"]
    pm = pluggy.PluginManager("metaxy")
    with pytest.raises(PluginLoadError, match=r"plug-bad.*ImportError: no driver"):
        plugins.load_plugins(pm, refs)
