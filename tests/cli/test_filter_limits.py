"""Item 13: filter and configuration errors are one clear line, never a raw Python error.

400 nested parentheses or 3,000 ``not`` s were a RecursionError, ``fps == 1e400`` an
OverflowError, a fallback cycle in metaxy.toml a RecursionError.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from metaxy import api
from metaxy.engine import filters
from metaxy.errors import FilterParseError
from metaxy.filter_syntax import MAX_NESTING, parse_filter
from tests.cli.conftest import one_line_error, run


@pytest.mark.parametrize("where, expected", [
    ("(" * 400 + "fps == 1" + ")" * 400, f"nests deeper than {MAX_NESTING} levels"),
    ("not " * 3000 + "fps == 1", f"nests deeper than {MAX_NESTING} levels"),
    ("not (" * 1000 + "fps == 1" + ")" * 1000, f"nests deeper than {MAX_NESTING} levels"),
    ("fps == 1e400", "does not fit column 'fps' (int)"),
    ("duration_s == 1e400", "out of the float range"),
    ("duration_s == -1e400", "out of the float range"),
    ("fps == " + "9" * 5000, "too many digits"),
    ("fps in (" + ", ".join(["1"] * 5000) + ")", None),  # long but flat: fine
    ("fps == 1 or " * 3000 + "fps == 2", None),
])
def test_filter_errors_are_one_line(where: str, expected: str | None) -> None:
    result = run("delete", "media/video", "--where", where, "--dry-run", "--store", "memory://",
                 ok=expected is None)
    if expected is None:
        return
    line = one_line_error(result)
    assert expected in line
    assert not line.startswith(("error: RecursionError", "error: OverflowError"))


def test_deepest_allowed_filter_is_accepted_by_the_store_check(project: api.Project) -> None:
    """MAX_NESTING stays below what the where= allow-list accepts, for any mix of ( and not."""
    video = project.graph.get("media/video")
    half = MAX_NESTING // 2
    for where in ("(" * MAX_NESTING + "fps == 1" + ")" * MAX_NESTING,
                  "not " * MAX_NESTING + "fps == 1",
                  "(not " * half + "fps == 1" + ")" * half,
                  "(fps == 1 and (fps == 2 or " * half + "fps == 3" + "))" * half):
        assert filters.check(parse_filter(where, video)) == ["fps"] * where.count("fps")
        with pytest.raises(FilterParseError, match="nests deeper"):
            parse_filter("(" + where + ")" if where.startswith("(") else "not " + where, video)


def test_fallback_cycle_in_config_is_one_line(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "metaxy.toml"
    config.write_text('project = "media"\nstore = "a"\n'
                      f'[stores.a]\nurl = "duckdb:///{tmp_path}/a.duckdb"\nfallback = ["b"]\n'
                      f'[stores.b]\nurl = "duckdb:///{tmp_path}/b.duckdb"\nfallback = ["a"]\n',
                      encoding="utf-8")
    monkeypatch.setenv("METAXY_CONFIG", str(config))
    line = one_line_error(run("status", ok=False))
    assert "store fallbacks form a cycle: 'a' -> 'b' -> 'a'" in line
