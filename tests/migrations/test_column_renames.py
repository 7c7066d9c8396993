"""Autogenerate never loses column data silently (issue 18 item 4), on every store that runs
migrations: a renamed user column is proposed as ``alter_column(..., new_column_name=...)``
(rename, autogenerate, upgrade: the values are still there), and the drop of a column holding data
is commented out unless confirmed (``allow_drop``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

import metaxy as mx
from metaxy.errors import MigrationWarning
from metaxy.migrations.snapshots import Snapshot
from metaxy.testing.backends import backend_database
from tests.migrations.conftest import setup_migration

TRANSCRIPTS = "speech/transcript"


@pytest.fixture(params=["duckdb", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param in ("duckdb", "sqlite"):
        yield f"{request.param}:///{tmp_path / ('store.' + request.param)}"
        return
    yield from backend_database("postgresql", tmp_path, prefix="mxren_")


def _rename_column(feature: str, old: str, new: str) -> Callable[[Snapshot], None]:
    def edit(snap: Snapshot) -> None:
        for col in snap.features[feature].columns:
            if col["name"] == old:
                col["name"] = new
    return edit


def _drop_column(feature: str, name: str) -> Callable[[Snapshot], None]:
    def edit(snap: Snapshot) -> None:
        fs = snap.features[feature]
        fs.columns[:] = [c for c in fs.columns if c["name"] != name]
    return edit


def _values(store: mx.MetadataStore, feature: str, column: str) -> list[object]:
    with store:
        return store.read(feature).sort("video_id")[column].to_list()


def test_renamed_column_keeps_its_data(store_url: str, code_graph: mx.FeatureGraph,
                                       tmp_path: Path) -> None:
    old_store, _, new_store, m = setup_migration(
        store_url, code_graph, tmp_path, _rename_column(TRANSCRIPTS, "text", "transcript"))
    before = _values(old_store, TRANSCRIPTS, "text")
    assert before == ["text of a", "text of b", "text of c"]
    with pytest.warns(MigrationWarning, match="'text' was removed and 'transcript' added"):
        path = m.revision("rename text", autogenerate=True)
    source = path.read_text(encoding="utf-8")
    assert "op.alter_column('speech__transcript', 'text', new_column_name='transcript')" \
        in source
    assert "# metaxy: WARNING: column 'text'" in source
    upgrade = source.split("def downgrade")[0]
    assert "\n    op.drop_column" not in upgrade and "\n    op.add_column" not in upgrade
    assert len(m.warnings) == 1

    m.upgrade("head")
    assert _values(new_store, TRANSCRIPTS, "transcript") == before
    with new_store:  # the rename changed no provenance: nothing to recompute
        inc = new_store.resolve_update(TRANSCRIPTS)
        assert inc.new.height == 0  # type: ignore[union-attr]
    m.downgrade("base")
    assert _values(old_store, TRANSCRIPTS, "text") == before


def test_drop_of_a_column_with_data_is_commented_out(store_url: str,
                                                     code_graph: mx.FeatureGraph,
                                                     tmp_path: Path) -> None:
    old_store, _, _, m = setup_migration(
        store_url, code_graph, tmp_path, _drop_column(TRANSCRIPTS, "n_words"))
    with pytest.warns(MigrationWarning, match="'n_words' .* holds data"):
        path = m.revision("drop n_words", autogenerate=True)
    upgrade = path.read_text(encoding="utf-8").split("def downgrade")[0]
    assert "# op.drop_column('speech__transcript', 'n_words')" in upgrade
    assert "\n    op.drop_column" not in upgrade
    m.upgrade("head")
    assert _values(old_store, TRANSCRIPTS, "n_words") == [3, 3, 3]  # still there


def test_confirmed_drop_and_empty_column_drop(store_url: str, code_graph: mx.FeatureGraph,
                                              tmp_path: Path) -> None:
    def edit(snap: Snapshot) -> None:
        _drop_column(TRANSCRIPTS, "n_words")(snap)
        _drop_column("media/video", "fps")(snap)  # never written: empty

    _, _, _, m = setup_migration(store_url, code_graph, tmp_path, edit)
    with pytest.warns(MigrationWarning, match="'n_words'"):
        path = m.revision("drop", autogenerate=True)
    upgrade = path.read_text(encoding="utf-8").split("def downgrade")[0]
    assert "op.drop_column('media__video', 'fps')" in upgrade
    assert "# op.drop_column('media__video', 'fps')" not in upgrade
    assert "# op.drop_column('speech__transcript', 'n_words')" in upgrade
    path.unlink()
    confirmed = m.revision("drop", autogenerate=True, allow_drop=True)
    upgrade = confirmed.read_text(encoding="utf-8").split("def downgrade")[0]
    assert "# op.drop_column('speech__transcript', 'n_words')" not in upgrade
    assert "op.drop_column('speech__transcript', 'n_words')" in upgrade
    assert m.warnings == []


def test_columns_of_another_type_are_not_paired(store_url: str, code_graph: mx.FeatureGraph,
                                                tmp_path: Path) -> None:
    def edit(snap: Snapshot) -> None:
        _drop_column(TRANSCRIPTS, "n_words")(snap)
        snap.features[TRANSCRIPTS].columns.append(
            {"name": "language", "type": "String", "nullable": True, "primary_key": False})

    _, _, new_store, m = setup_migration(store_url, code_graph, tmp_path, edit)
    with pytest.warns(MigrationWarning, match="'n_words' .* holds data"):
        path = m.revision("swap", autogenerate=True)
    upgrade = path.read_text(encoding="utf-8").split("def downgrade")[0]
    assert "alter_column" not in upgrade
    assert "op.add_column('speech__transcript'" in upgrade
    assert "# op.drop_column('speech__transcript', 'n_words')" in upgrade
    m.upgrade("head")
    with new_store.open("w"):
        rows = new_store.read(TRANSCRIPTS)
        new_store.write(TRANSCRIPTS, rows.with_columns(language=pl.lit("en")))
        assert new_store.read(TRANSCRIPTS)["language"].to_list() == ["en"] * 3
