"""The CLI filter language compiles to the same SQLAlchemy expressions as the Python API."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from metaxy import api
from metaxy.errors import FilterParseError
from metaxy.filter_syntax import parse_filter


def _sql(expr: sa.ColumnElement[bool]) -> str:
    return str(expr.compile(compile_kwargs={"literal_binds": True}))


@pytest.fixture(scope="module")
def video(project: api.Project) -> type:
    return project.graph.get("media/video")


@pytest.mark.parametrize("text, python", [
    ("duration_s > 10", lambda V: V.duration_s > 10.0),
    ("fps == 30 and duration_s <= 5.5", lambda V: sa.and_(V.fps == 30, V.duration_s <= 5.5)),
    ("video_id = 'v1' or video_id != 'v 2'", lambda V: sa.or_(V.video_id == "v1",
                                                            V.video_id != "v 2")),
    ("a_or_b", None),
    ("video_id in ('a', \"b\", 'c')", lambda V: V.video_id.in_(["a", "b", "c"])),
    ("video_id not in ('a')", lambda V: V.video_id.not_in(["a"])),
    ("path is null", lambda V: V.path.is_(None)),
    ("path IS NOT NULL AND NOT (fps < 25)", lambda V: sa.and_(V.path.is_not(None),
                                                              sa.not_(V.fps < 25))),
    ("fps == 1 or fps == 2 and fps == 3", lambda V: sa.or_(V.fps == 1,
                                                           sa.and_(V.fps == 2, V.fps == 3))),
    ("video_id == '42'", lambda V: V.video_id == "42"),  # never coerced: see test_filter_literals
])
def test_parse(video: type, text: str, python: object) -> None:
    if python is None:
        with pytest.raises(FilterParseError, match="no column 'a_or_b'"):
            parse_filter(text, video)
        return
    assert _sql(parse_filter(text, video)) == _sql(python(video))  # type: ignore[operator]


@pytest.mark.parametrize("text, message", [
    ("", "empty filter"),
    ("metaxy_provenance == 'x'", "no column 'metaxy_provenance'"),
    ("fps >", "ended early"),
    ("fps == 1 fps", "expected 'and', 'or'"),
    ("(fps == 1", "expected ')'"),
    ("fps in (1, 2", "ended early"),
    ("fps == null", "is null"),
    ("fps not == 1", "must be followed by 'in'"),
    ("fps == 1 -- comment", "expected 'and', 'or'"),
    ("fps == 1; select 1", "unexpected character ';'"),
])
def test_errors(video: type, text: str, message: str) -> None:
    with pytest.raises(FilterParseError, match=re.escape(message)):
        parse_filter(text, video)


def test_values_are_bound_parameters(video: type) -> None:
    expr = parse_filter("video_id == \"x' or 1=1 --\"", video)
    compiled = expr.compile()
    assert list(compiled.params.values()) == ["x' or 1=1 --"]
    assert "1=1" not in str(compiled)
