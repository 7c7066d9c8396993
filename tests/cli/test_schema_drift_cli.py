"""The CLI on a store whose table is behind the code (issue 13 item 15): one clear line naming
the feature, the table, the missing column and the migration commands; no traceback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metaxy import api
from tests.cli.conftest import one_line_error, run


@pytest.mark.parametrize("command", [
    ["status"], ["status", "speech/transcript"], ["plan"],
    ["resolve", "speech/transcript"], ["explain", "speech/transcript", "v0001"],
    ["cleanup", "--older-than", "1d", "--dry-run"],
])
def test_missing_column_is_one_clear_line(project: api.Project, populated: str,
                                          command: list[str]) -> None:
    store = project.store(populated)
    with store.open("w"):
        conn = store.conn  # type: ignore[attr-defined]
        conn.execute(sa.text("ALTER TABLE speech__transcript DROP COLUMN n_words"))
        conn.commit()
    line = one_line_error(run(*command, "--store", populated, ok=False))
    assert "speech/transcript" in line and "speech__transcript" in line and "n_words" in line
    assert "metaxy migrations revision --autogenerate" in line
    assert "metaxy migrations upgrade" in line
