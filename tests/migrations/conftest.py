"""Fixtures of the migration tests: the example teams' graph, stores, a project folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import metaxy as mx
from metaxy.migrations.api import Migrations
from metaxy.migrations.snapshots import Snapshot, graph_from_snapshot, snapshot_of
from metaxy.testing.backends import backend_database

PROJECT = "teams_example"


def _backends() -> list[Any]:
    params: list[Any] = ["duckdb"]
    try:
        from metaxy.plugins import backends, get_plugin_manager

        has_pg = "postgresql" in {s for spec, _ in backends(get_plugin_manager()).values()
                                  for s in spec.schemes}
    except Exception:
        has_pg = False
    if has_pg:
        params.append(pytest.param("postgresql", marks=pytest.mark.postgres))
    from metaxy.testing.backends import backends_under_test

    if "chdb" in backends_under_test():  # the ClickHouse plugin's embedded engine
        params.append("chdb")
    return params


@pytest.fixture(params=_backends())
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'store.duckdb'}"
        return
    yield from backend_database(request.param, tmp_path, prefix="mxmig_")


@pytest.fixture
def code_graph() -> mx.FeatureGraph:
    """The example teams' features, loaded into a fresh graph."""
    return mx.load_features(mx.FeatureGraph())


def variant(graph: mx.FeatureGraph, edit: Callable[[Snapshot], None]) -> mx.FeatureGraph:
    """A copy of ``graph`` with an edit applied to its snapshot (the 'code after a change')."""
    snap = snapshot_of(graph, PROJECT)
    edit(snap)
    return graph_from_snapshot(snap)


def bump_transcript(snap: Snapshot) -> None:
    snap.features["speech/transcript"].spec["fields"][0]["code_version"] = "2"


def add_language_column(snap: Snapshot) -> None:
    snap.features["speech/transcript"].columns.append(
        {"name": "language", "type": "String", "nullable": True, "primary_key": False})


SAMPLES = pl.DataFrame({
    "video_id": ["a", "b", "c"], "path": ["/a", "/b", "/c"], "duration_s": [10.0, 20.0, 5.0],
    "metaxy_input_by_field": [{"audio": "ha", "frames": "fa"}, {"audio": "hb", "frames": "fb"},
                              {"audio": "hc", "frames": "fc"}],
})


def populate(store: Any, graph: mx.FeatureGraph) -> None:
    """Videos a, b, c with transcripts and keywords; then c's audio changes (c goes stale)."""
    with store.open("w"), store.using_graph(graph):
        store.write("media/video", store.resolve_update("media/video", samples=SAMPLES).new)
        inc = store.resolve_update("speech/transcript")
        store.write("speech/transcript", inc.new.with_columns(
            text=pl.concat_str([pl.lit("text of "), pl.col("video_id")]),
            n_words=pl.lit(3)))
        inc = store.resolve_update("speech/keywords")
        store.write("speech/keywords", inc.new.with_columns(keywords=pl.lit("kw")))
        changed = SAMPLES.with_columns(
            pl.when(pl.col("video_id") == "c")
            .then(pl.struct(audio=pl.lit("hc2"), frames=pl.lit("fc")))
            .otherwise(pl.col("metaxy_input_by_field")).alias("metaxy_input_by_field"))
        store.write("media/video", store.resolve_update("media/video", samples=changed).stale)


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    return tmp_path / "migrations"


def make_migrations(store: Any, graph: mx.FeatureGraph, directory: Path) -> Migrations:
    return Migrations(store, graph, PROJECT, directory)


def setup_migration(store_url: str, code_graph: mx.FeatureGraph, tmp: Path,
                    edit: Callable[[Snapshot], None] = bump_transcript,
                    ) -> tuple[Any, mx.FeatureGraph, Any, Migrations]:
    """The start of a migration: a populated store with ``code_graph`` pushed, then the code
    after ``edit``; returns ``(store, new graph, store on the new graph, initialised
    migrations under tmp/migrations)``."""
    from metaxy.migrations import api

    store = mx.get_store(store_url, graph=code_graph)
    populate(store, code_graph)
    assert api.push(store, code_graph, PROJECT).created
    new = variant(code_graph, edit)
    new_store = mx.get_store(store_url, graph=new)
    m = make_migrations(new_store, new, tmp / "migrations")
    m.init()
    return store, new, new_store, m
