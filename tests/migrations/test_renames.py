"""rename_feature / rename_field, data-operation errors as MigrationError, secret-free --sql."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

import metaxy as mx
from metaxy.errors import MigrationError
from metaxy.migrations import api
from metaxy.migrations.reconcile import progress
from metaxy.migrations.snapshots import Snapshot

from .conftest import (
    PROJECT,
    add_language_column,
    make_migrations,
    populate,
    setup_migration,
    variant,
)


# ---------------------------------------------------------------------------- graphs
def rename_keywords(snap: Snapshot) -> None:
    fs = snap.features.pop("speech/keywords")
    spec = dict(fs.spec, key="speech/topics")
    snap.features["speech/topics"] = dataclasses.replace(
        fs, key="speech/topics", class_name="Topics", spec=spec)


def rename_text(snap: Snapshot) -> None:
    snap.features["speech/transcript"].spec["fields"][0]["key"] = "transcript"


def with_digest(graph: mx.FeatureGraph, upstream: str) -> mx.FeatureGraph:
    """Add ``speech/digest`` (1:1 on ``upstream``, all of its fields) to an isolated graph."""
    with graph.use():
        class Digest(
            mx.Feature, table=True,
            spec=mx.FeatureSpec(key="speech/digest", id_columns=["video_id"], deps=[upstream],
                                fields=[mx.FieldSpec(key="digest", code_version="1")]),
        ):
            video_id: str
            digest: str | None = None
    return graph


def _uncomment(path: Path, call: str) -> None:
    text = path.read_text()
    assert f"# {call}" in text, text
    path.write_text(text.replace(f"# {call}", call))


def _status(store: mx.MetadataStore, key: str) -> tuple[int, int, int]:
    s = store.status(key)
    return s.new, s.stale, s.up_to_date


# ---------------------------------------------------------------------------- rename_feature
def test_rename_feature_carries_history(store_url: str, code_graph: mx.FeatureGraph,
                                        tmp_path: Path) -> None:
    old = with_digest(variant(code_graph, lambda s: None), "speech/keywords")
    new = with_digest(variant(code_graph, rename_keywords), "speech/topics")
    old_store = mx.get_store(store_url, graph=old)
    populate(old_store, old)
    with old_store.open("w"):
        old_store.write("speech/digest", old_store.resolve_update("speech/digest").new
                        .with_columns(digest=pl.lit("d")))
        old_rows = old_store.read("speech/keywords").sort("video_id")
    assert api.push(old_store, old, PROJECT).created

    new_store = mx.get_store(store_url, graph=new)
    with new_store:  # without the migration the renamed feature is new, its dependent orphaned
        assert _status(new_store, "speech/topics") == (3, 0, 0)
    m = make_migrations(new_store, new, tmp_path / "migrations")
    m.init()
    path = m.revision("rename keywords to topics", autogenerate=True)
    _uncomment(path, "op.rename_feature('speech/keywords', 'speech/topics')")

    dry = m.upgrade("head", dry_run=True)
    assert [(r.operation, r.feature, r.rows, r.dry_run) for r in dry.operations] == [
        ("rename_feature", "speech/topics", 3, True), ("reconcile", "speech/digest", 3, True)]
    with new_store:
        assert not new_store.has_feature("speech/topics")

    report = m.upgrade("head")
    assert [(r.operation, r.feature, r.rows) for r in report.operations] == [
        ("rename_feature", "speech/topics", 3), ("reconcile", "speech/digest", 3)]
    with new_store:
        assert _status(new_store, "speech/topics") == (0, 0, 3)
        assert _status(new_store, "speech/digest") == (0, 0, 3)
        topics = new_store.read("speech/topics").sort("video_id")
        assert topics["keywords"].to_list() == old_rows["keywords"].to_list()
        assert topics["metaxy_data_version_by_field"].to_list() == \
            old_rows["metaxy_data_version_by_field"].to_list()
        assert topics["metaxy_provenance_by_field"].to_list() != \
            old_rows["metaxy_provenance_by_field"].to_list()  # names enter the hashes
    with old_store:  # the old rows are untouched, readable as history
        history = old_store.read("speech/keywords", with_history=True).sort("video_id")
        assert history.height == old_rows.height == 3
        assert history["metaxy_provenance_by_field"].to_list() == \
            old_rows["metaxy_provenance_by_field"].to_list()

    again = m.upgrade("head")
    assert again.applied == [] and again.rows_appended == 0
    # re-running the steps ad hoc appends nothing either (carried samples are not re-carried)
    results = api.rename_feature(new_store, new, PROJECT, "speech/keywords", "speech/topics",
                                 from_version=_from_version(path))
    assert [r.rows for r in results] == [0, 0]
    with new_store:
        assert new_store.read("speech/topics", with_history=True).height == 3
        done = {(p["operation"], p["feature_key"]) for p in progress(new_store, PROJECT)}
    assert {("rename_feature", "speech/topics"), ("reconcile", "speech/digest")} <= done


def _from_version(path: Path) -> str:
    namespace: dict[str, object] = {}
    exec(compile("\n".join(ln for ln in path.read_text().splitlines()
                           if ln.startswith("metaxy_from_version")), str(path), "exec"),
         {"str": str}, namespace)
    value = namespace["metaxy_from_version"]
    assert isinstance(value, str)
    return value


def test_autogenerate_proposes_feature_rename_not_drop_add(store_url: str,
                                                            code_graph: mx.FeatureGraph,
                                                            tmp_path: Path) -> None:
    store = mx.get_store(store_url, graph=code_graph)
    api.push(store, code_graph, PROJECT)
    new = variant(code_graph, rename_keywords)
    m = make_migrations(mx.get_store(store_url, graph=new), new, tmp_path / "migrations")
    m.init()
    text = m.revision("rename", autogenerate=True).read_text()
    assert "# op.rename_feature('speech/keywords', 'speech/topics')" in text
    assert "drop_table" not in text and "create_table" not in text
    # a removed feature with other fields is not mistaken for a rename
    def rename_and_bump(snap: Snapshot) -> None:
        rename_keywords(snap)
        snap.features["speech/topics"].spec["fields"][0]["code_version"] = "2"

    other = variant(code_graph, rename_and_bump)
    m2 = make_migrations(mx.get_store(store_url, graph=other), other, tmp_path / "m2")
    m2.init()
    assert "rename_feature" not in m2.revision("not a rename", autogenerate=True).read_text()


# ---------------------------------------------------------------------------- rename_field
def test_rename_field_carries_history(store_url: str, code_graph: mx.FeatureGraph,
                                      tmp_path: Path) -> None:
    # populated: video c's audio changed, so its transcript is stale
    store, _new, new_store, m = setup_migration(store_url, code_graph, tmp_path, rename_text)
    with store:
        before = store.read("speech/transcript").sort("video_id")
    path = m.revision("rename field text", autogenerate=True)
    text = path.read_text()
    assert "metaxy_pv__transcript" in text and "op.add_column(" in text
    assert "metaxy_pv__text" not in text.split("def downgrade")[0]  # old columns kept
    _uncomment(path, "op.rename_field('speech/transcript', 'text', 'transcript')")
    report = m.upgrade("head")
    assert [(r.operation, r.feature, r.rows, r.skipped_stale) for r in report.operations] == [
        ("rename_field", "speech/transcript", 3, 1), ("reconcile", "speech/keywords", 3, 0)]
    with new_store:
        assert _status(new_store, "speech/transcript") == (0, 1, 2)  # c was stale: stays stale
        stale = new_store.resolve_update("speech/transcript").stale
        assert stale["video_id"].to_list() == ["c"]
        assert _status(new_store, "speech/keywords") == (0, 0, 3)
        after = new_store.read("speech/transcript").sort("video_id")
        assert after.select("video_id", "text", "n_words").equals(
            before.select("video_id", "text", "n_words"))
        assert [d["transcript"] for d in after["metaxy_data_version_by_field"].to_list()] == \
            [d["text"] for d in before["metaxy_data_version_by_field"].to_list()]
        assert new_store.read("speech/transcript", with_history=True).height == 6
    with store:  # the old rows keep the old field's columns; the carried ones fill them too,
        # so the old definitions still read consistently (and classify dependents correctly)
        history = store.read("speech/transcript", with_history=True)
        old_pv = [d["text"] for d in history["metaxy_provenance_by_field"].to_list()]
        before_pv = [d["text"] for d in before["metaxy_provenance_by_field"].to_list()]
        assert sorted(old_pv) == sorted(before_pv * 2)
        assert _status(store, "speech/transcript") == (0, 1, 2)


def test_rename_field_api_adds_columns(store_url: str, code_graph: mx.FeatureGraph) -> None:
    store = mx.get_store(store_url, graph=code_graph)
    populate(store, code_graph)
    api.push(store, code_graph, PROJECT)
    new = variant(code_graph, rename_text)
    new_store = mx.get_store(store_url, graph=new)
    dry = api.rename_field(new_store, new, PROJECT, "speech/transcript", "text", "transcript",
                           dry_run=True)
    assert [(r.rows, r.dry_run) for r in dry] == [(3, True), (3, True)]
    results = api.rename_field(new_store, new, PROJECT, "speech/transcript", "text",
                               "transcript")
    assert [(r.operation, r.rows) for r in results] == [("rename_field", 3), ("reconcile", 3)]
    with new_store:
        assert _status(new_store, "speech/keywords") == (0, 0, 3)
    with pytest.raises(MigrationError, match="no field 'nope'"):
        api.rename_field(new_store, new, PROJECT, "speech/transcript", "nope", "transcript")


def test_rename_refuses_a_code_change(store_url: str, code_graph: mx.FeatureGraph) -> None:
    store = mx.get_store(store_url, graph=code_graph)
    api.push(store, code_graph, PROJECT)

    def rename_and_bump(snap: Snapshot) -> None:
        rename_text(snap)
        snap.features["speech/transcript"].spec["fields"][0]["code_version"] = "2"

    new = variant(code_graph, rename_and_bump)
    with pytest.raises(MigrationError, match="code_version"):
        api.rename_field(mx.get_store(store_url, graph=new), new, PROJECT, "speech/transcript",
                         "text", "transcript")


# ---------------------------------------------------------------------------- errors
def test_failing_data_operation_is_a_migration_error(store_url: str,
                                                     code_graph: mx.FeatureGraph,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = mx.get_store(store_url, graph=code_graph)
    populate(store, code_graph)
    api.push(store, code_graph, PROJECT)
    new = variant(code_graph, rename_keywords)
    m = make_migrations(mx.get_store(store_url, graph=new), new, tmp_path / "migrations")
    m.init()
    path = m.revision("bad rename", autogenerate=True, rev_id="badrev01")
    path.write_text(path.read_text().replace(
        "# op.rename_feature('speech/keywords', 'speech/topics')",
        "op.rename_feature('speech/keywords', 'speech/nope')"))
    with pytest.raises(MigrationError) as info:
        m.upgrade("head")
    message = str(info.value)
    assert "revision badrev01" in message and "rename_feature" in message
    assert "speech/nope" in message
    assert m.current() == []

    # an exception raised by the operation's code comes out chained
    from metaxy.migrations import rename

    def boom(*a: object, **k: object) -> object:
        raise ZeroDivisionError("injected")

    path.write_text(path.read_text().replace("'speech/nope'", "'speech/topics'"))
    with monkeypatch.context() as patch:
        patch.setattr(rename, "carry", boom)
        with pytest.raises(MigrationError, match=r"revision badrev01: rename_feature of feature "
                                                 r"'speech/topics' failed") as info:
            m.upgrade("head")
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert m.upgrade("head").applied == ["badrev01"]


# ---------------------------------------------------------------------------- --sql secrets
SECRET = "s3cr3t-Pa55word"
SECRET_URL = f"postgresql://metaxy:{SECRET}@127.0.0.1:5432/test"


def _offline_revision(directory: Path) -> None:
    (directory / "versions" / "aaa_manual.py").write_text(
        "from alembic import op\nimport sqlalchemy as sa\nrevision = 'aaa'\n"
        "down_revision = None\nbranch_labels = None\ndepends_on = None\n"
        "metaxy_from_version = None\nmetaxy_to_version = None\n"
        "def upgrade():\n    op.add_column('speech__transcript', sa.Column('language', "
        "sa.String()))\n    op.reconcile('speech/transcript')\n"
        "    op.rename_feature('speech/keywords', 'speech/topics')\n"
        "def downgrade():\n    op.drop_column('speech__transcript', 'language')\n")


def _pg_store(graph: mx.FeatureGraph) -> mx.MetadataStore:
    try:
        return mx.get_store(SECRET_URL, graph=graph)
    except mx.MetaxyError as e:  # pragma: no cover - without the metaxy-postgres plugin
        pytest.skip(f"no postgresql backend: {e}")


def test_offline_sql_never_prints_the_password(code_graph: mx.FeatureGraph,
                                              tmp_path: Path) -> None:
    from metaxy.config import redact_url

    new = variant(code_graph, add_language_column)
    m = make_migrations(_pg_store(new), new, tmp_path / "migrations")
    m.init()
    _offline_revision(tmp_path / "migrations")
    up = m.upgrade("head", sql=True).sql or ""
    down = m.downgrade("aaa:base", sql=True).sql or ""
    for sql in (up, down):
        assert SECRET not in sql
        assert redact_url(SECRET_URL) in sql.splitlines()[0]
        assert sql.splitlines()[0].startswith("-- ")
    assert "ALTER TABLE speech__transcript ADD COLUMN language VARCHAR" in up
    assert "-- metaxy rename_feature speech/keywords -> speech/topics" in up


def test_cli_offline_sql_never_prints_the_password(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from metaxy.cli import app

    _pg_store(mx.FeatureGraph())
    (tmp_path / "metaxy.toml").write_text(
        f'project = "{PROJECT}"\nstore = "prod"\n\n[stores.prod]\nurl = "{SECRET_URL}"\n')
    for name in ("METAXY_STORE", "METAXY_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METAXY_CONFIG", str(tmp_path / "metaxy.toml"))
    runner = CliRunner()
    init = runner.invoke(app, ["migrations", "init"])
    assert init.exit_code == 0, init.output
    _offline_revision(tmp_path / "migrations")
    result = runner.invoke(app, ["migrations", "upgrade", "--sql"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert SECRET not in result.output
    assert "metaxy:***@127.0.0.1" in result.output
    assert "ADD COLUMN language" in result.output

