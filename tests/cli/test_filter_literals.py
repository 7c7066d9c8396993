"""Item 2: a CLI filter literal must fit its column's type; destructive commands confirm first.

Before, literals were cast to the column's type: ``fps == 29.97`` deleted the rows with fps 29,
``video_id == 007`` deleted ``'7'``, ``video_id == 1e3`` deleted ``'1000.0'``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from metaxy import api
from metaxy.cli import app
from metaxy.errors import FilterParseError
from metaxy.filter_syntax import coerce_value, parse_filter
from tests.cli.conftest import N, one_line_error, run, run_json


@pytest.fixture(scope="module")
def video(project: api.Project) -> type:
    return project.graph.get("media/video")


@pytest.mark.parametrize("where, column, type_name, literal", [
    ("fps == 29.97", "fps", "int", "29.97"),
    ("fps < 29.5", "fps", "int", "29.5"),
    ("fps == 1e3", "fps", "int", "1e3"),
    ("fps == 99999999999999999999", "fps", "int", "99999999999999999999"),
    ("fps == true", "fps", "int", "true"),
    ("fps == '30'", "fps", "int", "'30'"),
    ("fps in (24, 25.5)", "fps", "int", "25.5"),
    ("video_id == 007", "video_id", "str", "007"),
    ("video_id == 1e3", "video_id", "str", "1e3"),
    ("video_id == v0001", "video_id", "str", "v0001"),
    ("video_id in ('v0001', 7)", "video_id", "str", "7"),
    ("video_id == false", "video_id", "str", "false"),
    ("duration_s == 'x'", "duration_s", "float", "'x'"),
    ("duration_s == 1e400", "duration_s", "float", "1e400"),
    ("duration_s == 9007199254740993", "duration_s", "float", "9007199254740993"),
    ("duration_s < inf", "duration_s", "float", "inf"),
    ("metaxy_created_at > 5", "metaxy_created_at", "datetime", "5"),
    ("metaxy_created_at > 'yesterday'", "metaxy_created_at", "datetime", "'yesterday'"),
])
def test_literal_of_the_wrong_type_is_an_error(video: type, where: str, column: str,
                                               type_name: str, literal: str) -> None:
    with pytest.raises(FilterParseError) as info:
        parse_filter(where, video)
    assert f"literal {literal} " in str(info.value)
    assert f"column '{column}' ({type_name})" in str(info.value)


@pytest.mark.parametrize("where, expected", [
    ("fps == 30", [30]),
    ("fps >= -3", [-3]),
    ("fps in (24, 25)", [[24, 25]]),
    ("video_id == '007'", ["007"]),
    ("video_id == \"1e3\"", ["1e3"]),
    ("duration_s == 30", [30.0]),
    ("duration_s <= 29.97", [29.97]),
    ("duration_s > .5", [0.5]),
    ("metaxy_created_at > '2026-01-31'", [datetime(2026, 1, 31, tzinfo=UTC)]),
    ("metaxy_created_at > '2026-01-31T12:00:00+00:00'", [datetime(2026, 1, 31, 12, tzinfo=UTC)]),
])
def test_literals_that_fit_keep_their_exact_value(video: type, where: str,
                                                  expected: list[Any]) -> None:
    params = list(parse_filter(where, video).compile().params.values())
    assert params == expected
    assert [type(p) for p in params] == [type(e) for e in expected]


@pytest.mark.parametrize("column, raw", [("fps", "1e3"), ("fps", "29.97"), ("fps", "9" * 30),
                                         ("duration_s", "nan"), ("duration_s", "inf")])
def test_sample_id_text_is_not_cast(video: type, column: str, raw: str) -> None:
    with pytest.raises(FilterParseError, match=f"value '{re.escape(raw)}' for column '{column}'"):
        coerce_value(video, column, raw)
    assert coerce_value(video, "fps", "007") == 7  # command-line text of an int column
    assert coerce_value(video, "video_id", "007") == "007"


def _counts(project: api.Project, url: str) -> tuple[int, int]:
    store = project.store(url)
    with store.open("r"):
        return (store.read("media/video").height,
                store.read("media/video", with_history=True, include_deleted=True).height)


@pytest.mark.parametrize("where", ["fps == 29.97", "fps < 29.5", "video_id == 007",
                                   "video_id == 1e3"])
@pytest.mark.parametrize("hard", [False, True])
def test_cli_delete_with_a_misfit_literal_deletes_nothing(project: api.Project, populated: str,
                                                          where: str, hard: bool) -> None:
    before = _counts(project, populated)
    args = ["delete", "media/video", "--where", where, "--yes", "--store", populated]
    line = one_line_error(run(*args, *(["--hard"] if hard else []), ok=False))
    assert "does not fit column" in line and where.split()[0] in line
    assert _counts(project, populated) == before == (N, N)


def test_delete_refuses_without_a_terminal_and_yes(project: api.Project, populated: str) -> None:
    where = "video_id in ('v0001', 'v0002')"
    result = run("delete", "media/video", "--where", where, "--store", populated, ok=False)
    assert result.exit_code == 1
    count, error = result.stderr.strip().splitlines()  # the count, then one error line
    assert count.startswith("2 sample(s) of media/video match")
    assert error.startswith("error: delete: 2 sample(s) of media/video would be removed")
    assert "--yes" in error
    assert _counts(project, populated) == (N, N)

    dry = run_json("delete", "media/video", "--where", where, "--dry-run", "--store", populated)
    assert dry == {"feature": "media/video", "matched": 2, "deleted": 0, "hard": False,
                   "dry_run": True, "samples": [{"video_id": "v0001"}, {"video_id": "v0002"}]}
    assert _counts(project, populated) == (N, N)

    done = run_json("delete", "media/video", "--where", where, "--yes", "--store", populated)
    assert done["deleted"] == 2 and _counts(project, populated) == (N - 2, N + 2)


def test_delete_asks_on_a_terminal(project: api.Project, populated: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("metaxy.cli_confirm.stdin_is_interactive", lambda: True)
    args = ["delete", "media/video", "--where", "fps == 24", "--hard", "--store", populated]
    declined = CliRunner().invoke(app, args, input="n\n")
    assert declined.exit_code != 0
    assert "sample(s) of media/video match" in declined.stderr and "Delete " in declined.stderr
    assert _counts(project, populated) == (N, N)
    accepted = CliRunner().invoke(app, args, input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    matched = len([i for i in range(N) if (24, 25, 30)[i % 3] == 24])
    assert f"deleted {matched} row(s)" in accepted.stdout
    assert _counts(project, populated) == (N - matched, N - matched)
    nothing = CliRunner().invoke(app, args, input="")  # no match: nothing to confirm
    assert nothing.exit_code == 0 and "deleted 0 row(s)" in nothing.stdout


def test_cleanup_refuses_without_a_terminal_and_yes(populated: str) -> None:
    from metaxy import demo

    project = api.load_project()
    demo.run_pipeline(project.store(populated), project.graph,
                      demo.make_samples(N, audio_rev={1: 1}), "again")
    result = run("cleanup", "--older-than", "2999-01-01", "--store", populated, ok=False)
    assert "--yes" in result.stderr and "would be removed" in result.stderr
    assert "dropped" not in result.stdout
    assert run_json("cleanup", "--older-than", "2999-01-01", "--dry-run",
                    "--store", populated)["features"][0]["rows"] == 1
