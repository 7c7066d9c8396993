"""The CLI's small filter language, parsed into SQLAlchemy expressions on a feature class.

Grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    expr    := term ("or" term)*
    term    := factor ("and" factor)*
    factor  := "not" factor | "(" expr ")" | compare
    compare := COLUMN OP value
             | COLUMN ["not"] "in" "(" value ("," value)* ")"
             | COLUMN "is" ["not"] "null"
    OP      := == | = | != | < | <= | > | >=
    value   := 'single' | "double" quoted string | number | true | false | null

Parentheses and ``not`` nest at most :data:`MAX_NESTING` (20) levels deep.

Examples: ``duration_s > 10 and fps == 30``, ``video_id in ('v001', 'v002')``,
``path is null or not (duration_s <= 5)``.

The result is built from the feature class's own column attributes (``Video.duration_s > 10``),
exactly the ORM-native ``where=`` form of the Python API: values become bound parameters, so no
text of the filter ever reaches SQL. A literal must fit its column's type exactly -- a string
column takes only quoted strings, an integer column only integers, ...
(:mod:`metaxy.filter_literals`) -- it is never cast. Unknown columns, system columns, literals of
the wrong type and malformed input raise :class:`~metaxy.errors.FilterParseError`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from metaxy.errors import FilterParseError
from metaxy.filter_literals import Literal as _Literal
from metaxy.filter_literals import coerce_text, typed_literal

if TYPE_CHECKING:
    from metaxy.feature import Feature

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|<=|>=|=|<|>)
    | (?P<punct>[(),])
    | (?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w.-]))
    | (?P<word>[A-Za-z0-9_./:@-]+)
    )""", re.VERBOSE)
MAX_NESTING = 20
"""Deepest nesting of parentheses and ``not`` a CLI filter may have."""
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}


class _Tok:
    __slots__ = ("kind", "pos", "text")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind, self.text, self.pos = kind, text, pos

    @property
    def keyword(self) -> str | None:
        return self.text.lower() if self.kind == "word" and self.text.lower() in _KEYWORDS \
            else None


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = len(text) - len(text[pos:].lstrip())
            raise FilterParseError(f"unexpected character {text[start]!r} at position {start} "
                                   f"in filter {text!r}")
        kind = m.lastgroup or "word"
        tokens.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str, feature: type[Feature]) -> None:
        self.text = text
        self.feature = feature
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    # -------------------------------------------------------------- helpers
    def _peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self, expected: str) -> _Tok:
        tok = self._peek()
        if tok is None:
            raise FilterParseError(f"filter {self.text!r} ended early: expected {expected}")
        self.i += 1
        return tok

    def _fail(self, tok: _Tok, expected: str) -> FilterParseError:
        return FilterParseError(f"expected {expected} at position {tok.pos} in filter "
                                f"{self.text!r}, got {tok.text!r}")

    def _accept_keyword(self, word: str) -> bool:
        tok = self._peek()
        if tok is not None and tok.keyword == word:
            self.i += 1
            return True
        return False

    def _expect_punct(self, char: str) -> None:
        tok = self._next(repr(char))
        if tok.kind != "punct" or tok.text != char:
            raise self._fail(tok, repr(char))

    # -------------------------------------------------------------- grammar
    def parse(self) -> sa.ColumnElement[bool]:
        if not self.tokens:
            raise FilterParseError("empty filter")
        expr = self._expr()
        tok = self._peek()
        if tok is not None:
            raise self._fail(tok, "'and', 'or' or the end of the filter")
        return expr

    def _expr(self) -> sa.ColumnElement[bool]:
        terms = [self._term()]
        while self._accept_keyword("or"):
            terms.append(self._term())
        return terms[0] if len(terms) == 1 else sa.or_(*terms)  # type: ignore[no-any-return]

    def _term(self) -> sa.ColumnElement[bool]:
        factors = [self._factor()]
        while self._accept_keyword("and"):
            factors.append(self._factor())
        return factors[0] if len(factors) == 1 else sa.and_(*factors)  # type: ignore[no-any-return]

    def _factor(self) -> sa.ColumnElement[bool]:
        tok = self._peek()
        if tok is not None and (tok.keyword == "not" or (tok.kind == "punct" and tok.text == "(")):
            self._nest(tok)
            try:
                return self._nested(tok)
            finally:
                self.depth -= 1
        return self._compare()

    def _nest(self, tok: _Tok) -> None:
        """Count one level of ``(`` / ``not``; beyond MAX_NESTING the filter is refused (a
        recursive parser would otherwise hit Python's recursion limit)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise FilterParseError(f"filter nests deeper than {MAX_NESTING} levels of "
                                   f"parentheses and 'not' (at position {tok.pos}): simplify "
                                   "it, e.g. with 'in (...)'")

    def _nested(self, tok: _Tok) -> sa.ColumnElement[bool]:
        self.i += 1
        if tok.keyword == "not":
            return sa.not_(self._factor())
        inner = self._expr()
        self._expect_punct(")")
        return inner

    def _compare(self) -> sa.ColumnElement[bool]:
        tok = self._next("a column name")
        if tok.kind != "word" or tok.keyword is not None:
            raise self._fail(tok, "a column name")
        column, pytype = self._column(tok.text)
        if self._accept_keyword("is"):
            negated = self._accept_keyword("not")
            null = self._next("'null'")
            if null.keyword != "null":
                raise self._fail(null, "'null'")
            return column.is_not(None) if negated else column.is_(None)  # type: ignore[no-any-return]
        negated = self._accept_keyword("not")
        if self._accept_keyword("in"):
            self._expect_punct("(")
            values = [self._value(tok.text, pytype)]
            while True:
                sep = self._next("',' or ')'")
                if sep.kind == "punct" and sep.text == ")":
                    break
                if sep.kind != "punct" or sep.text != ",":
                    raise self._fail(sep, "',' or ')'")
                values.append(self._value(tok.text, pytype))
            return column.not_in(values) if negated else column.in_(values)  # type: ignore[no-any-return]
        if negated:
            raise FilterParseError(f"'not' after column '{tok.text}' must be followed by 'in' "
                                   f"in filter {self.text!r}")
        op = self._next("a comparison operator")
        if op.kind != "op":
            raise self._fail(op, "a comparison operator (== != < <= > >=)")
        value = self._value(tok.text, pytype)
        if value is None:
            raise FilterParseError(f"compare with null using 'is null' / 'is not null' "
                                   f"(filter {self.text!r})")
        ops = {"==": column.__eq__, "=": column.__eq__, "!=": column.__ne__,
               "<": column.__lt__, "<=": column.__le__, ">": column.__gt__, ">=": column.__ge__}
        result: sa.ColumnElement[bool] = ops[op.text](value)
        return result

    def _column(self, name: str) -> tuple[Any, type | None]:
        from metaxy import columns as C

        table: sa.Table = self.feature.__table__  # type: ignore[attr-defined]
        key = self.feature.spec().key
        if name not in table.c or (C.is_reserved(name) and name not in (
                C.CREATED_AT, C.UPDATED_AT, C.MATERIALIZATION_ID, C.FEATURE_VERSION)):
            usable = [c for c in table.c.keys() if not C.is_reserved(c)]
            raise FilterParseError(f"feature '{key}' has no column '{name}' "
                                   f"(columns: {', '.join(usable)})")
        return getattr(self.feature, name), column_type(self.feature, name)

    def _value(self, name: str, pytype: type | None) -> Any:
        tok = self._next("a value")
        if tok.kind == "str":
            lit = _Literal("str", re.sub(r"\\(.)", r"\1", tok.text[1:-1]), tok)
        elif tok.kind == "num":
            number = _number(tok, self.text)
            lit = _Literal("int" if isinstance(number, int) else "float", number, tok)
        elif tok.kind == "word" and tok.keyword in ("null", "true", "false"):
            if tok.keyword == "null":
                return None
            lit = _Literal("bool", tok.keyword == "true", tok)
        elif tok.kind == "word" and tok.keyword is None:
            lit = _Literal("word", tok.text, tok)
        else:
            raise self._fail(tok, "a value")
        return typed_literal(lit, name, pytype, self.text)


def _number(tok: _Tok, text: str) -> int | float:
    try:
        return float(tok.text) if re.search(r"[.eE]", tok.text) else int(tok.text)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise FilterParseError(f"number {tok.text[:20]}... at position {tok.pos} has too many "
                               f"digits (filter {text[:60]!r}...)") from None


def column_type(feature: type[Feature], name: str) -> type | None:
    """The Python type of a model column (``str`` for ``str | None``), from its annotation."""
    import types
    import typing
    from datetime import date, datetime

    info = feature.model_fields.get(name)
    ann: Any = info.annotation if info is not None else None
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        ann = args[0] if len(args) == 1 else None
    if isinstance(ann, type) and ann in (str, int, float, bool, datetime, date):
        return ann
    return None


def coerce_value(feature: type[Feature], name: str, raw: str) -> Any:
    """Turn command-line text into a value of the column's type (FilterParseError if invalid)."""
    return coerce_text(raw, name, column_type(feature, name))


def parse_filter(text: str, feature: type[Feature]) -> sa.ColumnElement[bool]:
    """Parse a CLI filter string into a SQLAlchemy expression on ``feature``'s columns."""
    return _Parser(text, feature).parse()
