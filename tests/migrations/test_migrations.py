"""End-to-end migrations on the example teams (issue 4 acceptance)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import metaxy as mx
from metaxy.errors import MigrationError, MultipleHeadsError, StoreLockedError
from metaxy.migrations import api
from metaxy.migrations.diff import diff_snapshots, render_dot, render_json, render_mermaid
from metaxy.migrations.reconcile import progress
from metaxy.migrations.snapshots import load_snapshot, snapshot_of
from metaxy.versions import versions_of

from .conftest import (
    PROJECT,
    add_language_column,
    bump_transcript,
    make_migrations,
    setup_migration,
    variant,
)

USER = ["video_id", "text", "n_words"]


def _enable(path: Path, feature: str) -> None:
    text = path.read_text()
    assert f"# op.reconcile('{feature}')" in text
    path.write_text(text.replace(f"# op.reconcile('{feature}')", f"op.reconcile('{feature}')"))


def test_push_twice_records_nothing_new(store_url: str, code_graph: mx.FeatureGraph) -> None:
    store = mx.get_store(store_url, graph=code_graph)
    first = api.push(store, code_graph, PROJECT)
    second = api.push(store, code_graph, PROJECT)
    assert first.created and not second.created
    with store:
        snap = load_snapshot(store, PROJECT)
    assert snap is not None and snap.project_version == first.project_version
    rebuilt = versions_of(snap.graph())
    for key, fs in snap.features.items():
        assert rebuilt.definition_version(key) == fs.definition_version
    assert rebuilt.project_version(PROJECT) == first.project_version


def test_diff_explains_upstream_path(code_graph: mx.FeatureGraph) -> None:
    new = variant(code_graph, bump_transcript)
    diff = diff_snapshots(snapshot_of(code_graph, PROJECT), snapshot_of(new, PROJECT))
    assert {c.key for c in diff.changed} == {"speech/transcript", "speech/keywords"}
    own = diff.feature("speech/transcript").fields_changed[0]  # type: ignore[union-attr]
    assert own.code_version == ("1", "2") and not own.upstream
    down = diff.feature("speech/keywords").fields_changed[0]  # type: ignore[union-attr]
    assert down.code_version is None and down.upstream == ("speech/transcript:text",)
    assert down.path[-1] == "speech/transcript:text (code_version 1 -> 2)"
    assert '"speech/transcript"' in render_json(diff)
    assert "f_speech_transcript --> f_speech_keywords" in render_mermaid(diff)
    assert "f_speech_transcript -> f_speech_keywords;" in render_dot(diff)


def test_refactor_reconcile_end_to_end(store_url: str, code_graph: mx.FeatureGraph,
                                       tmp_path: Path) -> None:
    _store, _new, new_store, m = setup_migration(store_url, code_graph, tmp_path)
    with new_store:
        before = new_store.read("speech/transcript").sort("video_id")
        # without the migration every transcript is stale under the new code
        assert new_store.status("speech/transcript").stale == 3
        history_before = new_store.read("speech/transcript", with_history=True).height
    path = m.revision("refactor transcript", autogenerate=True)
    text = path.read_text()
    assert "metaxy_from_version" in text and "# op.reconcile('speech/transcript')" in text
    _enable(path, "speech/transcript")
    assert m.check()[0]  # the head revision targets the code's project version
    report = m.upgrade("head")
    assert [r.rows for r in report.operations] == [2]
    assert report.operations[0].skipped_stale == 1
    assert report.snapshot is not None and report.snapshot.created
    with new_store:
        t = new_store.status("speech/transcript")
        k = new_store.status("speech/keywords")
        assert (t.new, t.stale, t.up_to_date) == (0, 1, 2)  # c was stale before: stays stale
        stale = new_store.resolve_update("speech/transcript").stale  # type: ignore[union-attr]
        assert stale["video_id"].to_list() == ["c"]
        assert (k.new, k.stale) == (0, 0)
        ab = pl.col("video_id").is_in(["a", "b"])
        after = new_store.read("speech/transcript").sort("video_id")
        assert after.select(USER).equals(before.select(USER))
        assert after.filter(ab)["metaxy_data_version"].to_list() == \
            before.filter(ab)["metaxy_data_version"].to_list()
        assert new_store.read("speech/transcript", with_history=True).height == history_before + 2
    assert m.current() == [path.name.split("_")[0]]
    assert m.check()[0]
    # idempotent: a second upgrade appends nothing
    again = m.upgrade("head")
    assert again.rows_appended == 0 and again.applied == []
    with new_store:
        assert new_store.read("speech/transcript", with_history=True).height == history_before + 2
        assert [p["feature_key"] for p in progress(new_store, PROJECT)] == ["speech/transcript"]


def test_without_migration_transcripts_are_stale(store_url: str, code_graph: mx.FeatureGraph,
                                                 tmp_path: Path) -> None:
    _, _, new_store, m = setup_migration(store_url, code_graph, tmp_path)
    m.revision("refactor, recompute", autogenerate=True)  # proposal left commented out
    report = m.upgrade("head")
    assert report.operations == []
    with new_store:
        assert new_store.status("speech/transcript").stale == 3


def test_dry_run_and_adhoc_reconcile(store_url: str, code_graph: mx.FeatureGraph,
                                     tmp_path: Path) -> None:
    _, new, new_store, m = setup_migration(store_url, code_graph, tmp_path)
    path = m.revision("refactor", autogenerate=True)
    _enable(path, "speech/transcript")
    dry = m.upgrade("head", dry_run=True)
    assert [(r.rows, r.dry_run) for r in dry.operations] == [(2, True)]
    assert m.current() == []
    result = api.reconcile(new_store, new, PROJECT, "speech/transcript", dry_run=True)
    assert result.rows == 2
    result = api.reconcile(new_store, new, PROJECT, "speech/transcript")
    assert result.rows == 2
    with new_store:
        assert new_store.status("speech/transcript").stale == 1
        assert progress(new_store, PROJECT)[0]["revision"] == "adhoc"


def test_resume_after_failure(store_url: str, code_graph: mx.FeatureGraph, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    _, _new, new_store, m = setup_migration(store_url, code_graph, tmp_path)
    path = m.revision("refactor", autogenerate=True)
    _enable(path, "speech/transcript")
    path.write_text(path.read_text().replace(
        "op.reconcile('speech/transcript')",
        "op.reconcile('speech/transcript')\n    op.reconcile('speech/keywords')"))
    from metaxy.migrations import operations, reconcile

    calls: list[str] = []
    original = reconcile.reconcile

    def failing(store, feature, **kw):  # type: ignore[no-untyped-def]
        calls.append(feature)
        if feature == "speech/keywords":
            raise RuntimeError("injected failure")
        return original(store, feature, **kw)

    monkeypatch.setattr(operations, "reconcile", failing)
    with pytest.raises(MigrationError, match=r"revision \w+: reconcile of feature "
                                             r"'speech/keywords' failed: RuntimeError: "
                                             "injected") as info:
        m.upgrade("head")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert m.current() == []
    with new_store:
        rows = new_store.read("speech/transcript", with_history=True).height
    monkeypatch.setattr(operations, "reconcile", original)
    calls.clear()
    report = m.upgrade("head")
    assert [(r.feature, r.resumed) for r in report.operations] == \
        [("speech/transcript", True), ("speech/keywords", False)]
    with new_store:
        assert new_store.read("speech/transcript", with_history=True).height == rows
        assert new_store.status("speech/transcript").stale == 1
    assert m.current() != []


def test_schema_change_upgrade_downgrade_upgrade(store_url: str, code_graph: mx.FeatureGraph,
                                                 tmp_path: Path) -> None:
    _, new, new_store, m = setup_migration(store_url, code_graph, tmp_path, add_language_column)
    path = m.revision("add language", autogenerate=True)
    text = path.read_text()
    assert "op.add_column('speech__transcript'" in text or "op.add_column(" in text
    assert "op.drop_column(" in text
    assert "op.reconcile" not in text  # field versions did not change

    def columns() -> list[str]:
        with new_store.open("w"):
            import sqlalchemy as sa

            conn = new_store.conn  # type: ignore[attr-defined]
            table = new.get("speech/transcript").__table__  # type: ignore[attr-defined]
            cols = [c["name"] for c in sa.inspect(conn).get_columns(table.name)] \
                if new_store.url.startswith("postgresql") else \
                [r[0] for r in conn.execute(sa.text(
                    "select column_name from information_schema.columns where table_name = :t"
                ), {"t": table.name}).all()]
            conn.commit()
            return cols

    m.upgrade("head")
    assert "language" in columns()
    m.downgrade("base")
    assert "language" not in columns()
    m.upgrade("head")
    assert "language" in columns()
    with new_store.open("w"):
        new_store.write("speech/transcript", new_store.read("speech/transcript").filter(
            pl.col("video_id") == "a").with_columns(language=pl.lit("en")))
        assert new_store.read("speech/transcript").filter(
            pl.col("video_id") == "a")["language"].to_list() == ["en"]
        assert new_store.read("speech/transcript").filter(  # the added column is nullable
            pl.col("video_id") == "b")["language"].to_list() == [None]
    sql = m.upgrade("head", sql=True).sql or ""
    assert "ALTER TABLE" in sql and "ADD COLUMN" in sql and "language" in sql


def test_offline_sql_needs_no_connection(code_graph: mx.FeatureGraph, tmp_path: Path) -> None:
    new = variant(code_graph, add_language_column)
    store = mx.get_store(f"duckdb:///{tmp_path / 'never-opened.duckdb'}", graph=new)
    m = make_migrations(store, new, tmp_path / "migrations")
    m.init()
    rev = tmp_path / "migrations" / "versions" / "aaa_manual.py"
    rev.write_text(
        "from alembic import op\nimport sqlalchemy as sa\nrevision = 'aaa'\n"
        "down_revision = None\nbranch_labels = None\ndepends_on = None\n"
        "metaxy_from_version = None\nmetaxy_to_version = None\n"
        "def upgrade():\n    op.add_column('speech__transcript', sa.Column('language', "
        "sa.String()))\n    op.reconcile('speech/transcript')\n"
        "def downgrade():\n    op.drop_column('speech__transcript', 'language')\n")
    sql = m.upgrade("head", sql=True).sql or ""
    assert "ALTER TABLE speech__transcript ADD COLUMN language VARCHAR" in sql
    assert "-- metaxy reconcile speech/transcript" in sql
    assert not (tmp_path / "never-opened.duckdb").exists()


def test_multiple_heads(store_url: str, code_graph: mx.FeatureGraph, tmp_path: Path) -> None:
    _, _, _, m = setup_migration(store_url, code_graph, tmp_path)
    base = m.revision("base", rev_id="base1")
    assert base.exists()
    m.revision("branch one", rev_id="one111", head="base1")
    m.revision("branch two", rev_id="two222", head="base1", splice=True)
    with pytest.raises(MultipleHeadsError, match=r"one111.*two222"):
        m.upgrade("head")
    with pytest.raises(MultipleHeadsError):
        m.revision("another")


def test_concurrent_upgrade_is_refused(code_graph: mx.FeatureGraph, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    _, _, _, m = setup_migration(url, code_graph, tmp_path)
    m.revision("refactor", autogenerate=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(30)", str(tmp_path / "store.duckdb")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match="locked"):
            m.upgrade("head")
    finally:
        holder.kill()
        holder.wait()
    assert m.upgrade("head").applied


def test_reconcile_refuses_root_and_unknown(store_url: str, code_graph: mx.FeatureGraph,
                                            tmp_path: Path) -> None:
    _, new, new_store, _ = setup_migration(store_url, code_graph, tmp_path)
    with pytest.raises(MigrationError, match="root feature"):
        api.reconcile(new_store, new, PROJECT, "media/video")
    with pytest.raises(MigrationError, match="no field"):
        api.reconcile(new_store, new, PROJECT, "speech/transcript", fields=["nope"])


def test_graph_diff_api(store_url: str, code_graph: mx.FeatureGraph) -> None:
    store = mx.get_store(store_url, graph=code_graph)
    api.push(store, code_graph, PROJECT)
    new = variant(code_graph, bump_transcript)
    diff = api.graph_diff(store, new, PROJECT)
    assert [c.key for c in diff.changed] == ["speech/keywords", "speech/transcript"]
    assert api.graph_diff(store, code_graph, PROJECT).is_empty


def test_autogenerate_proposes_nothing_about_the_row_id_key(
        store_url: str, code_graph: mx.FeatureGraph, tmp_path: Path) -> None:
    """Feature tables enforce no primary key (metaxy.store.ddl) while the mapping declares one;
    a table created with the key by an earlier metaxy keeps it. Neither makes autogenerate
    propose adding or dropping the constraint: with the code unchanged, the revision is empty."""
    import sqlalchemy as sa

    old = mx.get_store(store_url, graph=code_graph)
    with old.open("w"):
        conn = old.conn  # type: ignore[attr-defined]
        with conn.begin():  # media/video as metaxy <= issue 13 created it: with the key
            code_graph.get("media/video").__table__.create(conn)  # type: ignore[attr-defined]
    _, _, new_store, m = setup_migration(store_url, code_graph, tmp_path, lambda snap: None)
    text = m.revision("nothing changed", autogenerate=True).read_text()
    body = text[text.index("def upgrade"):]
    assert "op." not in body, body
    with new_store.open("r"):
        conn = new_store.conn  # type: ignore[attr-defined]
        table = code_graph.get("speech/transcript").__table__  # type: ignore[attr-defined]
        row = conn.execute(sa.select(table).limit(1)).mappings().one()
    with new_store.open("w"):  # the new tables accept a duplicate row id: no constraint
        conn = new_store.conn  # type: ignore[attr-defined]
        with conn.begin():
            conn.execute(table.insert().values(**row))
