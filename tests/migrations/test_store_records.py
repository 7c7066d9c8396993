"""Snapshots and migrations on stores without SQL (``memory://``, ``delta:///``): the records
live in the store's own medium, Alembic runs on an in-memory SQLite stand-in whose version table
is the store's, schema operations become schema evolution or a clear error (issue 16, item 5)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import metaxy as mx
from metaxy.errors import MigrationError
from metaxy.migrations import api
from metaxy.migrations.reconcile import progress
from metaxy.migrations.snapshots import list_snapshots, load_snapshot
from metaxy.testing.backends import backends_under_test

from .conftest import PROJECT, add_language_column, bump_transcript, setup_migration, variant
from .test_renames import _status, _uncomment, rename_text

USER = ["video_id", "text", "n_words"]


def _params() -> list[str]:
    return ["memory", *(["delta"] if "delta" in backends_under_test() else [])]


@pytest.fixture(params=_params())
def frame_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store without SQL that every store object opened on the URL shares."""
    if request.param == "memory":
        from metaxy.store.memory import drop_named

        name = f"mig_{uuid.uuid4().hex}"
        yield f"memory://{name}"
        drop_named(name)
        return
    yield f"delta:///{tmp_path / 'lake'}"


def _enable(path: Path, feature: str) -> None:
    _uncomment(path, f"op.reconcile('{feature}')")


def _set_upgrade(path: Path, *lines: str) -> None:
    """Make ``lines`` the body of the revision's ``upgrade()``."""
    text = path.read_text()
    head, rest = text.split("def upgrade() -> None:\n", 1)
    _, tail = rest.split("\n\n\ndef downgrade", 1)
    body = "".join(f"    {line}\n" for line in lines)
    path.write_text(f"{head}def upgrade() -> None:\n{body}\n\ndef downgrade{tail}")


def test_push_list_load_and_diff(frame_url: str, code_graph: mx.FeatureGraph) -> None:
    store = mx.get_store(frame_url, graph=code_graph)
    first = api.push(store, code_graph, PROJECT)
    assert first.created and not api.push(store, code_graph, PROJECT).created
    new = variant(code_graph, bump_transcript)
    assert not api.graph_diff(store, code_graph, PROJECT).changed  # the code is the snapshot
    diff = api.graph_diff(store, new, PROJECT)
    assert {c.key for c in diff.changed} == {"speech/transcript", "speech/keywords"}
    second = api.push(mx.get_store(frame_url, graph=new), new, PROJECT)
    assert second.created
    with store:
        assert [v for v, _ in list_snapshots(store, PROJECT)] == \
            [first.project_version, second.project_version]
        latest = load_snapshot(store, PROJECT)
        older = load_snapshot(store, PROJECT, first.project_version)
        assert load_snapshot(store, "another project") is None
    assert latest is not None and latest.project_version == second.project_version
    assert older is not None and set(older.features) == {str(k) for k in code_graph.keys}
    assert older.graph().keys == code_graph.keys  # the stored snapshot rebuilds the graph


def test_an_interrupted_push_is_finished_by_the_next(frame_url: str,
                                                     code_graph: mx.FeatureGraph,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from metaxy.migrations import records, snapshots

    store = mx.get_store(frame_url, graph=code_graph)
    original = records.append

    def crash_before_head(store: mx.MetadataStore, table: object, rows: list) -> None:  # type: ignore[type-arg]
        if table is snapshots.SNAPSHOTS_TABLE:
            raise RuntimeError("crash before the head row")
        original(store, table, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(records, "append", crash_before_head)
    with pytest.raises(RuntimeError, match="crash"):
        api.push(store, code_graph, PROJECT)
    with store:
        assert load_snapshot(store, PROJECT) is None  # features written, no snapshot visible
    monkeypatch.setattr(records, "append", original)
    assert api.push(store, code_graph, PROJECT).created
    with store:
        snap = load_snapshot(store, PROJECT)
    assert snap is not None and set(snap.features) == {str(k) for k in code_graph.keys}


def test_revision_upgrade_reconcile_and_rerun(frame_url: str, code_graph: mx.FeatureGraph,
                                              tmp_path: Path) -> None:
    _store, _new, new_store, m = setup_migration(frame_url, code_graph, tmp_path)
    with new_store:
        before = new_store.read("speech/transcript").sort("video_id")
        assert new_store.status("speech/transcript").stale == 3
        history_before = new_store.read("speech/transcript", with_history=True).height
    path = m.revision("refactor transcript", autogenerate=True)
    assert "op.add_column" not in path.read_text()  # nothing about the schema changed
    _enable(path, "speech/transcript")
    assert m.current() == []
    report = m.upgrade("head")
    assert [(r.rows, r.skipped_stale) for r in report.operations] == [(2, 1)]
    assert report.snapshot is not None and report.snapshot.created
    revision = path.name.split("_")[0]
    assert m.current() == [revision]
    with new_store:
        assert _status(new_store, "speech/transcript") == (0, 1, 2)
        assert _status(new_store, "speech/keywords")[:2] == (0, 0)
        after = new_store.read("speech/transcript").sort("video_id")
        assert after.select(USER).equals(before.select(USER))
        assert new_store.read("speech/transcript", with_history=True).height == \
            history_before + 2
    again = m.upgrade("head")  # a rerun is a no-op
    assert again.applied == [] and again.rows_appended == 0
    with new_store:
        assert new_store.read("speech/transcript", with_history=True).height == \
            history_before + 2
        assert [p["feature_key"] for p in progress(new_store, PROJECT)] == ["speech/transcript"]
    assert m.downgrade("base").applied  # the reconcile is not reversed; the revision is
    assert m.current() == []
    m.stamp("head")  # recorded without running anything
    assert m.current() == [revision]
    with new_store:
        assert new_store.read("speech/transcript", with_history=True).height == \
            history_before + 2


def test_a_crash_between_steps_resumes(frame_url: str, code_graph: mx.FeatureGraph,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _new, new_store, m = setup_migration(frame_url, code_graph, tmp_path)
    first = m.revision("refactor", autogenerate=True, rev_id="r1")
    _enable(first, "speech/transcript")
    second = m.revision("keywords", rev_id="r2")
    _set_upgrade(second, "op.reconcile('speech/keywords')", "op.reconcile('speech/transcript')")
    from metaxy.migrations import operations, reconcile

    original = reconcile.reconcile

    def failing(store, feature, **kw):  # type: ignore[no-untyped-def]
        if feature == "speech/transcript" and "r2" in str(kw.get("materialization_id")):
            raise RuntimeError("injected failure")
        return original(store, feature, **kw)

    monkeypatch.setattr(operations, "reconcile", failing)
    with pytest.raises(MigrationError, match="revision r2: reconcile of feature "
                                             "'speech/transcript' failed"):
        m.upgrade("head")
    assert m.current() == ["r1"]  # the finished revision is recorded in the store
    with new_store:
        rows = new_store.read("speech/transcript", with_history=True).height
    monkeypatch.setattr(operations, "reconcile", original)
    report = m.upgrade("head")
    assert report.applied == ["r2"]
    assert [(r.feature, r.resumed) for r in report.operations] == \
        [("speech/keywords", True), ("speech/transcript", False)]
    assert m.current() == ["r2"]
    with new_store:
        assert new_store.read("speech/transcript", with_history=True).height == rows


def test_add_column_is_a_schema_merge_and_drop_column_refused(
        frame_url: str, code_graph: mx.FeatureGraph, tmp_path: Path) -> None:
    _, _new, new_store, m = setup_migration(frame_url, code_graph, tmp_path, add_language_column)
    with new_store, pytest.raises(mx.errors.TableSchemaMismatchError, match="language"):
        new_store.read("speech/transcript")
    path = m.revision("add language", autogenerate=True)
    assert "op.add_column('speech__transcript'" in path.read_text()
    if frame_url.startswith("memory://"):  # the in-memory store has no schema evolution
        with pytest.raises(MigrationError, match=r"add_column\('speech__transcript', "
                                                 r"'language'\).*memory"):
            m.upgrade("head")
        assert m.current() == []
        return
    m.upgrade("head")
    with new_store.open("w"):
        assert new_store.read("speech/transcript")["language"].to_list() == [None] * 3
        new_store.write("speech/transcript", new_store.read("speech/transcript").filter(
            pl.col("video_id") == "a").with_columns(language=pl.lit("en")))
        langs = dict(new_store.read("speech/transcript").select("video_id", "language").rows())
    assert langs == {"a": "en", "b": None, "c": None}
    with pytest.raises(MigrationError, match=r"drop_column of 'language' of table "
                                             r"'speech__transcript' cannot run: the delta store"):
        m.downgrade("base")
    assert m.current() == [path.name.split("_")[0]]  # nothing was recorded as downgraded


def test_sql_only_operations_are_refused_by_name(frame_url: str, code_graph: mx.FeatureGraph,
                                                tmp_path: Path) -> None:
    _, _new, _new_store, m = setup_migration(frame_url, code_graph, tmp_path)
    path = m.revision("raw sql", rev_id="raw")
    _set_upgrade(path, "op.alter_column('speech__transcript', 'text', new_column_name='body')")
    with pytest.raises(MigrationError, match=r"revision raw .*alter_column of 'text' of table "
                                             "'speech__transcript' cannot run"):
        m.upgrade("head")
    assert m.current() == []
    with pytest.raises(MigrationError, match="has no SQL to print"):
        m.upgrade("head", sql=True)


def test_rename_field_revision(frame_url: str, code_graph: mx.FeatureGraph,
                               tmp_path: Path) -> None:
    if frame_url.startswith("memory://"):
        pytest.skip("the in-memory store has no schema evolution for the new field's columns")
    store, _new, new_store, m = setup_migration(frame_url, code_graph, tmp_path, rename_text)
    with store:
        before = store.read("speech/transcript").sort("video_id")
    path = m.revision("rename field text", autogenerate=True)
    _uncomment(path, "op.rename_field('speech/transcript', 'text', 'transcript')")
    report = m.upgrade("head")
    assert [(r.operation, r.feature, r.rows, r.skipped_stale) for r in report.operations] == [
        ("rename_field", "speech/transcript", 3, 1), ("reconcile", "speech/keywords", 3, 0)]
    with new_store:
        assert _status(new_store, "speech/transcript") == (0, 1, 2)
        assert _status(new_store, "speech/keywords") == (0, 0, 3)
        after = new_store.read("speech/transcript").sort("video_id")
        assert after.select(USER).equals(before.select(USER))
        assert [d["transcript"] for d in after["metaxy_data_version_by_field"].to_list()] == \
            [d["text"] for d in before["metaxy_data_version_by_field"].to_list()]
    again = m.upgrade("head")
    assert again.applied == [] and again.rows_appended == 0
    with store:  # the old definitions still read the old field's columns
        assert _status(store, "speech/transcript") == (0, 1, 2)


def test_adhoc_data_operations(frame_url: str, code_graph: mx.FeatureGraph,
                               tmp_path: Path) -> None:
    _, new, new_store, _m = setup_migration(frame_url, code_graph, tmp_path)
    assert api.reconcile(new_store, new, PROJECT, "speech/transcript", dry_run=True).rows == 2
    assert api.reconcile(new_store, new, PROJECT, "speech/transcript").rows == 2
    assert api.reconcile(new_store, new, PROJECT, "speech/transcript").rows == 0
    with new_store:
        assert new_store.status("speech/transcript").stale == 1
        assert [p["revision"] for p in progress(new_store, PROJECT)] == ["adhoc", "adhoc"]


def _same_as_on_sql() -> list[object]:
    """The SQL stores' behaviour tests that hold unchanged on a store without SQL (those that
    add storage columns need schema evolution: Delta only)."""
    from . import test_migrations as M
    from . import test_renames as R

    return [M.test_without_migration_transcripts_are_stale, M.test_dry_run_and_adhoc_reconcile,
            M.test_resume_after_failure, R.test_rename_feature_carries_history,
            R.test_autogenerate_proposes_feature_rename_not_drop_add,
            R.test_failing_data_operation_is_a_migration_error,
            R.test_rename_field_api_adds_columns, R.test_rename_field_carries_history]


#: behaviours that add a field's storage columns (schema evolution, which memory:// lacks)
_EVOLVES = {"test_rename_field_api_adds_columns", "test_rename_field_carries_history"}


@pytest.mark.parametrize("behaviour", _same_as_on_sql(), ids=lambda f: f.__name__)
def test_as_on_a_sql_store(behaviour: object, frame_url: str, code_graph: mx.FeatureGraph,
                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    assert callable(behaviour)
    if behaviour.__name__ in _EVOLVES and frame_url.startswith("memory://"):
        pytest.skip("adds a field's storage columns: the in-memory store has no schema evolution")
    given = {"store_url": frame_url, "code_graph": code_graph, "tmp_path": tmp_path,
             "monkeypatch": monkeypatch}
    names = inspect.signature(behaviour).parameters
    behaviour(**{n: given[n] for n in names})


def test_concurrent_first_pushes_record_one_snapshot(frame_url: str,
                                                     code_graph: mx.FeatureGraph) -> None:
    """Store objects pushing at once (the store lock at work): one snapshot, all succeed."""
    import threading

    writers = 4
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def push() -> None:
        try:
            store = mx.get_store(frame_url, graph=code_graph)
            barrier.wait(30)
            results.append(api.push(store, code_graph, PROJECT).created)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=push) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(results) == [False] * (writers - 1) + [True]
    store = mx.get_store(frame_url, graph=code_graph)
    with store:
        heads = store.system_rows("metaxy_snapshots")
        features = store.system_rows("metaxy_snapshot_features")
    assert heads is not None and heads.height == 1
    assert features is not None and features.height == len(code_graph.keys)


def test_a_store_with_neither_sql_nor_records_says_so(code_graph: mx.FeatureGraph) -> None:
    from metaxy.store import StoreContract
    from metaxy.store.memory import MemoryStore

    class NoRecords(MemoryStore):
        system_rows = StoreContract.system_rows
        append_system_rows = StoreContract.append_system_rows
        replace_system_rows = StoreContract.replace_system_rows

    store = NoRecords("memory://", graph=code_graph)
    with pytest.raises(MigrationError, match="memory backend does not support graph snapshots"):
        api.push(store, code_graph, PROJECT)
    with store, pytest.raises(MigrationError, match="does not support graph snapshots"):
        load_snapshot(store, PROJECT)
