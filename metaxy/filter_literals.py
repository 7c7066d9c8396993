"""Typing the literals of the CLI filter language against their column: never a silent cast.

A literal either fits the column's type exactly or is a :class:`~metaxy.errors.FilterParseError`
naming the column, its type and the literal. Casting instead once made ``fps == 29.97`` delete
the rows with fps 29 (the float truncated to the int column), ``video_id == 007`` delete
``'7'`` and ``video_id == 1e3`` delete ``'1000.0'``. The rules:

========  ==============================================================================
column    accepted literals
========  ==============================================================================
str       quoted strings only (``'007'``, ``"v 1"``)
int       integer literals in the 64-bit range (``42``, ``-3``); not ``4.0``, ``1e3``
float     integer and decimal literals with a finite, exact float value (``30``, ``29.97``)
bool      ``true`` / ``false``
datetime  quoted ISO 8601 strings (``'2026-01-31'``, ``'2026-01-31T12:00:00+01:00'``;
          without a timezone: UTC)
date      quoted ISO dates (``'2026-01-31'``)
========  ==============================================================================

Columns of other types (binary, JSON, ...) cannot be compared with a literal in a CLI filter
(``is null`` / ``is not null`` still work); use the Python API's ``where=``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from metaxy.errors import FilterParseError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class _Token(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def pos(self) -> int: ...


@dataclass(frozen=True)
class Literal:
    """A literal as written: ``kind`` is str, int, float, bool or word (an unquoted word)."""

    kind: str
    value: Any
    token: _Token


def type_name(pytype: type | None) -> str:
    return "unsupported type" if pytype is None else pytype.__name__


def typed_literal(lit: Literal, column: str, pytype: type | None, text: str) -> Any:
    """The value of ``lit`` compared with ``column`` of Python type ``pytype``, or an error."""
    if pytype is None:
        raise _error(lit, column, pytype, text, "filters on this column can only test "
                     "'is null' / 'is not null' (use the Python API's where= otherwise)")
    checker = _CHECKS.get(pytype)
    if checker is None:
        raise _error(lit, column, pytype, text, "the CLI filter cannot compare this type")
    return checker(lit, column, pytype, text)


def _error(lit: Literal, column: str, pytype: type | None, text: str,
           why: str) -> FilterParseError:
    return FilterParseError(
        f"literal {lit.token.text} at position {lit.token.pos} does not fit column '{column}' "
        f"({type_name(pytype)}): {why} (filter {text!r})")


def _hint_quote(lit: Literal) -> str:
    inner = str(lit.token.text).replace("\\", "\\\\").replace("'", "\\'")
    return f"a string must be quoted, e.g. '{inner}'"


def _check_str(lit: Literal, column: str, pytype: type, text: str) -> Any:
    if lit.kind == "str":
        return lit.value
    raise _error(lit, column, pytype, text, _hint_quote(lit))


def _check_int(lit: Literal, column: str, pytype: type, text: str) -> Any:
    if lit.kind != "int":
        raise _error(lit, column, pytype, text, "only integer literals such as 42 fit an "
                     "integer column" + (" (no decimal point or exponent)"
                                         if lit.kind == "float" else ""))
    if not INT64_MIN <= lit.value <= INT64_MAX:
        raise _error(lit, column, pytype, text, "out of the 64-bit integer range")
    return lit.value


def _check_float(lit: Literal, column: str, pytype: type, text: str) -> Any:
    if lit.kind not in ("int", "float"):
        raise _error(lit, column, pytype, text, "only number literals such as 29.97 fit a "
                     "float column")
    try:
        value = float(lit.value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise _error(lit, column, pytype, text, "out of the float range")
    if lit.kind == "int" and value != lit.value:
        raise _error(lit, column, pytype, text, "not exactly representable as a float")
    return value


def _check_bool(lit: Literal, column: str, pytype: type, text: str) -> Any:
    if lit.kind == "bool":
        return lit.value
    raise _error(lit, column, pytype, text, "only true or false fit a boolean column")


def _check_datetime(lit: Literal, column: str, pytype: type, text: str) -> Any:
    if lit.kind != "str":
        raise _error(lit, column, pytype, text, "write a quoted ISO date or datetime, e.g. "
                     "'2026-01-31T12:00:00+00:00'")
    try:
        when = datetime.fromisoformat(lit.value)
    except ValueError:
        raise _error(lit, column, pytype, text, "not an ISO 8601 date or datetime") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _check_date(lit: Literal, column: str, pytype: type, text: str) -> Any:
    if lit.kind != "str":
        raise _error(lit, column, pytype, text, "write a quoted ISO date, e.g. '2026-01-31'")
    try:
        return date.fromisoformat(lit.value)
    except ValueError:
        raise _error(lit, column, pytype, text, "not an ISO 8601 date") from None


_CHECKS = {str: _check_str, int: _check_int, float: _check_float, bool: _check_bool,
           datetime: _check_datetime, date: _check_date}
_INT_TEXT = re.compile(r"[-+]?\d+")


def coerce_text(raw: str, column: str, pytype: type | None) -> Any:
    """Command-line text (a sample id of ``metaxy explain``) as a value of the column's type.

    The text is the value itself (no quoting), so a string column takes it verbatim; an integer
    column takes only integer text in the 64-bit range, a float column finite numbers.
    """
    def invalid() -> FilterParseError:
        return FilterParseError(f"value {raw!r} for column '{column}' is not a valid "
                                f"{type_name(pytype)}")

    if pytype is None or pytype is str:
        return raw
    text = raw.strip()
    if pytype is bool:
        flag = {"true": True, "1": True, "false": False, "0": False}.get(text.lower())
        if flag is None:
            raise invalid()
        return flag
    if pytype is int:
        if not _INT_TEXT.fullmatch(text) or not INT64_MIN <= int(text) <= INT64_MAX:
            raise invalid()
        return int(text)
    if pytype is float:
        try:
            value = float(text)
        except ValueError:
            raise invalid() from None
        if not math.isfinite(value):
            raise invalid()
        return value
    lit = Literal("str", text, _TextToken(text))
    try:
        return typed_literal(lit, column, pytype, raw)
    except FilterParseError:
        raise invalid() from None


@dataclass(frozen=True)
class _TextToken:
    text: str
    pos: int = 0
