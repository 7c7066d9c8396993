"""The Delta store's own behaviour: URLs, credentials, hard delete + vacuum, compaction,
schema evolution, and metaxy's system records (snapshots, migration records) as Delta tables."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from metaxy_delta.store import DeltaStore, root_of
from mxdelta_helpers import item_graph, item_samples

import metaxy as mx
from metaxy.config import MetaxyConfig
from metaxy.errors import StoreError, StoreOptionError, TableSchemaMismatchError


def _store(url: str, graph: mx.FeatureGraph, **options: object) -> DeltaStore:
    store = mx.get_store(url, graph=graph, config=MetaxyConfig(), **options)
    assert isinstance(store, DeltaStore)
    return store


def _parquet_ids(root: str) -> list[str]:
    """Every ``item`` value in every data file under the root (what is physically on disk)."""
    files = [p for p in Path(root).rglob("*.parquet") if "_metaxy" not in p.parts]
    return sorted(v for f in files for v in pl.read_parquet(f)["item"].to_list())


def test_urls_name_a_root_and_bad_ones_are_refused() -> None:
    assert root_of("delta:////data/lake") == ("/data/lake", True)
    assert root_of("delta:///rel/lake") == ("rel/lake", True)
    assert root_of("delta+s3://bucket/pre/fix/") == ("s3://bucket/pre/fix", False)
    assert root_of("delta+gs://bucket") == ("gs://bucket", False)
    for bad in ("delta://", "delta:///", "delta+s3://", "duckdb:///x"):
        with pytest.raises(StoreError, match=r"Delta store URL|not a Delta store URL"):
            root_of(bad)


def test_relative_root_is_relative_to_the_configuration(tmp_path: Path) -> None:
    graph, item = item_graph()
    config = MetaxyConfig(path=tmp_path / "metaxy.toml")
    store = mx.get_store("delta:///lake", graph=graph, config=config)
    assert isinstance(store, DeltaStore) and store.root == f"{tmp_path.as_posix()}/lake"
    with store.open("w"):
        store.write(item, item_samples(0, 0, 3))
    assert (tmp_path / "lake" / "dlt__item" / "_delta_log").is_dir()


def test_credentials_never_appear_in_errors_or_config_show(tmp_path: Path) -> None:
    secret = "sup3r-s3cret-v4lue"
    graph, _ = item_graph()
    store = _store(f"delta:///{tmp_path}/lake", graph,
                   storage_options={"AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "eu-west-1"})
    error = store._driver_error(OSError(f"denied for key {secret} at /x"), None)
    assert secret not in str(error) and "***" in str(error)
    config = MetaxyConfig.model_validate({"stores": {"lake": {
        "url": "delta+s3://bucket/lake", "options": {"storage_options": {
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret,
            "AZURE_STORAGE_ACCOUNT_KEY": "azkey", "AWS_REGION": "eu-west-1"}}}}})
    shown = str(config.redacted())
    assert secret not in shown and "AKIAEXAMPLE" not in shown and "azkey" not in shown
    assert "eu-west-1" in shown
    with pytest.raises(StoreOptionError, match="storage_options"):
        _store(f"delta:///{tmp_path}/lake", graph, storage_options="key=value")
    with pytest.raises(StoreOptionError, match="vacuum_retention_hours"):
        _store(f"delta:///{tmp_path}/lake", graph, vacuum_retention_hours=-1)


def test_hard_delete_removes_the_rows_from_disk(delta_url: str) -> None:
    graph, item = item_graph()
    store = _store(delta_url, graph)
    root = store.root
    with store.open("w"):
        store.write(item, item_samples(0, 0, 4))
        store.write(item, item_samples(0, 0, 4).with_columns(n=pl.lit(9)))  # history rows
        assert store.delete(item, item.item == "000-00001", soft=False) == 2
        assert store.read(item, with_history=True).height == 6
        assert "000-00001" not in store.read(item, with_history=True)["item"].to_list()
    assert "000-00001" not in _parquet_ids(root)  # vacuumed: no file keeps the deleted rows
    assert _parquet_ids(root).count("000-00002") == 2


def test_vacuum_retention_keeps_time_travel(delta_url: str) -> None:
    graph, item = item_graph()
    store = _store(delta_url, graph, vacuum_retention_hours=168)
    with store.open("w"):
        store.write(item, item_samples(0, 0, 3))
        store.delete(item, item.item == "000-00000", soft=False)
        assert store.read(item).height == 2
    assert "000-00000" in _parquet_ids(store.root)  # the old file stays for time travel
    first = pl.read_delta(store.table_uri("dlt__item"), version=1)
    assert "000-00000" in first["item"].to_list()


def test_optimize_compacts_small_appends_and_keeps_every_row(delta_url: str) -> None:
    from deltalake import DeltaTable

    graph, item = item_graph()
    store = _store(delta_url, graph)
    with store.open("w"):
        for batch in range(6):
            store.write(item, item_samples(1, batch, 5))
        before = store.read(item).sort("item")
        uri = store.table_uri("dlt__item")
        assert len(DeltaTable(uri).file_uris()) == 6
        assert store.optimize(item) == {"files_removed": 6, "files_added": 1}
        assert len(DeltaTable(uri).file_uris()) == 1
        assert store.read(item).sort("item").equals(before)
        assert store.optimize("dlt/item") == {"files_removed": 0, "files_added": 0}
    assert len([p for p in Path(uri).glob("*.parquet")]) == 1  # the small files vacuumed
    with store, pytest.raises(StoreError, match="read-only"):
        store.optimize(item)


def test_a_new_nullable_column_enters_by_schema_evolution(delta_url: str) -> None:
    graph, item = item_graph()
    store = _store(delta_url, graph)
    with store.open("w"):
        store.write(item, item_samples(2, 0, 3))
    with mx.FeatureGraph().use() as wider:

        class Item(
            mx.Feature,
            table=True,
            spec=mx.FeatureSpec(key="dlt/item", id_columns=["grp", "item"],
                                fields=[mx.FieldSpec(key="value", code_version="1")]),
        ):
            grp: str
            item: str
            n: int | None = None
            note: str | None = None

    store = _store(delta_url, wider)
    with store.open("w"):
        with pytest.raises(TableSchemaMismatchError, match=r"\['note'\]"):
            store.read(Item)
        assert store.evolve_schema(Item) == ["note"]
        assert store.evolve_schema(Item) == []
        assert store.read(Item)["note"].to_list() == [None, None, None]
        more = item_samples(2, 1, 2).with_columns(note=pl.lit("hi"))
        assert store.write(Item, more) == 2
        assert sorted(store.read(Item)["note"].drop_nulls()) == ["hi", "hi"]


def test_snapshots_and_migration_records_are_delta_tables_under_metaxy(delta_url: str) -> None:
    from deltalake import DeltaTable

    from metaxy.migrations import api

    graph, item = item_graph()
    store = _store(delta_url, graph)
    with store.open("w"):
        store.write(item, item_samples(0, 0, 2))
    pushed = api.push(store, graph, "dlt")
    assert pushed.created and not api.push(store, graph, "dlt").created
    for name in ("metaxy_snapshots", "metaxy_snapshot_features"):
        assert DeltaTable.is_deltatable(f"{store.root}/_metaxy/{name}")
    with store:
        heads = store.system_rows("metaxy_snapshots")
        assert heads is not None and heads["project_version"].to_list() == \
            [pushed.project_version]
        assert store.system_rows("metaxy_migration_progress") is None
    assert sorted(_parquet_ids(store.root)) == ["000-00000", "000-00001"]  # no feature table
    with store.open("w"):
        with pytest.raises(StoreError, match="not a system table name"):
            store.append_system_rows("../escape", pl.DataFrame({"a": [1]}))
        store.replace_system_rows("scratch", pl.DataFrame({"a": [1, 2]}))
        store.replace_system_rows("scratch", pl.DataFrame({"a": [3]}))
        store.append_system_rows("scratch", pl.DataFrame({"a": [4]}))
        scratch = store.system_rows("scratch")
        assert scratch is not None and sorted(scratch["a"].to_list()) == [3, 4]
    with store, pytest.raises(StoreError, match="read-only"):
        store.append_system_rows("scratch", pl.DataFrame({"a": [5]}))


def test_cli_optimize_compacts_every_feature(delta_url: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from metaxy import api
    from metaxy.cli import app

    monkeypatch.chdir(tmp_path)
    project = api.load_project()
    store = project.store(delta_url)
    video = project.graph.get("media/video")
    with store.open("w"):
        for v in range(3):
            store.write(video, pl.DataFrame({"video_id": [f"v{v}"], "path": [f"/v{v}.mp4"],
                                             "duration_s": [1.0]}))
    done = CliRunner().invoke(app, ["optimize", "--store", delta_url, "-f", "json"])
    assert done.exit_code == 0, done.output
    rows = {r["feature"]: r for r in json.loads(done.stdout)["features"]}
    assert rows["media/video"]["files_removed"] == 3 and rows["media/video"]["files_added"] == 1
    assert rows["speech/transcript"]["files_removed"] == 0  # never written
    sql = CliRunner().invoke(app, ["optimize", "--store", f"duckdb:///{tmp_path}/x.duckdb"])
    assert sql.exit_code != 0 and "nothing to optimize" in sql.stderr


def test_cli_push_diff_reconcile_and_migrations(delta_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`metaxy push`, `graph diff`, `reconcile` and `metaxy migrations ...` on a Delta store
    (snapshots, code fingerprints and migration records in <root>/_metaxy)."""
    import json

    from typer.testing import CliRunner

    from metaxy import api
    from metaxy.cli import app

    monkeypatch.chdir(tmp_path)
    project = api.load_project()
    store = project.store(delta_url)
    with store.open("w"):
        store.write("media/video", pl.DataFrame({"video_id": ["v0", "v1"], "path": ["/0", "/1"],
                                                 "duration_s": [1.0, 2.0]}))

    def run(*args: str) -> str:
        done = CliRunner().invoke(app, [*args, "--store", delta_url])
        assert done.exit_code == 0, (args, done.output)
        return done.stdout

    assert run("push").startswith("recorded: project")
    assert run("push").startswith("already recorded")
    assert "no changes" in run("graph", "diff")
    out = json.loads(run("reconcile", "speech/transcript", "-f", "json"))
    assert out["operations"][0]["rows"] == 0  # nothing changed: nothing to reconcile
    run("migrations", "init")
    run("migrations", "revision", "-m", "nothing changed", "--autogenerate")
    assert json.loads(run("migrations", "current", "-f", "json"))["current"] == []
    run("migrations", "upgrade")
    current = json.loads(run("migrations", "current", "-f", "json"))["current"]
    assert len(current) == 1
    assert run("migrations", "upgrade", "-f", "json")  # a rerun applies nothing
    assert json.loads(run("migrations", "current", "-f", "json"))["current"] == current
    for name in ("metaxy_snapshots", "metaxy_snapshot_code", "metaxy_migration_progress",
                 "metaxy_alembic_version"):
        assert (Path(store.root) / "_metaxy" / name / "_delta_log").is_dir()
