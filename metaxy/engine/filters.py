"""The ``where=`` filter subset (SPEC §9): SQLAlchemy column expressions, checked and re-targeted.

A filter is an ordinary SQLAlchemy expression on a feature class (``Video.duration_s > 10``,
``Video.video_id.in_([...])``, ``and_``/``or_``/``not_``, ``.is_(None)``). Only an allow-listed set
of nodes is accepted -- comparisons, boolean operators, IN, IS [NOT] NULL, columns and bound literal
values -- so a filter can never smuggle raw SQL (``text()``, functions, subqueries) into a
statement. A type can carry SQL too (a ``TypeDecorator`` whose ``bind_expression`` wraps the
bound value in arbitrary SQL, a ``literal_processor`` rendering it), so the *types* of bound values
and expressions are allow-listed as well: SQLAlchemy's plain generic types and SQLModel's
``AutoString``, exactly (no subclass, no variant or element type outside the list); bound values
are plain Python scalars (or lists / tuples of them for IN), never SQL constructs, and never
rendered inline (``literal_execute``).

Columns are matched *by name* against the relation the filter is applied to, so a filter written
on the class works on a deduplicating subquery, on a staged table, or (translated to
Polars) on an in-memory frame.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.sql import elements, operators, visitors
from sqlmodel.sql.sqltypes import AutoString

from metaxy.errors import FilterError

MAX_DEPTH = 64

_COMPARISONS: dict[Any, Callable[[Any, Any], Any]] = {
    operators.eq: operator.eq,
    operators.ne: operator.ne,
    operators.lt: operator.lt,
    operators.le: operator.le,
    operators.gt: operator.gt,
    operators.ge: operator.ge,
}
_ALLOWED_OPERATORS = set(_COMPARISONS) | {
    operators.in_op, operators.not_in_op, operators.is_, operators.is_not,
    operators.and_, operators.or_, operators.inv,
}
_SAFE_TYPES: frozenset[type] = frozenset({
    sa.String, sa.Text, sa.Unicode, sa.UnicodeText, sa.CHAR, sa.VARCHAR, sa.NCHAR, sa.NVARCHAR,
    sa.TEXT, sa.Integer, sa.BigInteger, sa.SmallInteger, sa.INTEGER, sa.BIGINT, sa.SMALLINT,
    sa.Float, sa.Double, sa.Numeric, sa.FLOAT, sa.DOUBLE, sa.DOUBLE_PRECISION, sa.REAL,
    sa.NUMERIC, sa.DECIMAL, sa.Boolean, sa.BOOLEAN, sa.DateTime, sa.Date, sa.Time, sa.DATETIME,
    sa.DATE, sa.TIME, sa.TIMESTAMP, sa.LargeBinary, sa.Uuid, sa.UUID, sa.types.NullType,
    sa.Enum, sa.Interval, sa.JSON, sa.types.TupleType, sa.types.MatchType, AutoString,
})
_SAFE_VALUES = (str, int, float, bool, Decimal, datetime, date, time, timedelta, bytes,
                uuid.UUID)
_ALLOWED_NODES = (
    elements.BinaryExpression, elements.BooleanClauseList, elements.ClauseList,
    elements.UnaryExpression, elements.BindParameter, elements.ColumnClause,
    elements.Grouping, elements.Null, elements.True_, elements.False_, elements.Tuple,
    elements.AsBoolean,
)


def as_clause(expr: Any) -> sa.ColumnElement[Any]:
    """Coerce an ORM attribute / expression to a Core clause; reject anything else. A list or
    tuple of filters means all of them (ANDed); an empty one matches everything."""
    if isinstance(expr, list | tuple):
        clauses = [as_clause(item) for item in expr]
        return sa.and_(*clauses) if clauses else sa.true()
    if hasattr(expr, "__clause_element__"):
        expr = expr.__clause_element__()
    if isinstance(expr, str):
        raise FilterError(
            f"filters are SQLAlchemy expressions, not SQL strings (got {expr!r}); "
            "write e.g. Video.duration_s > 10"
        )
    if not isinstance(expr, elements.ColumnElement):
        raise FilterError(f"unsupported filter {expr!r}: expected a SQLAlchemy column expression")
    return expr


def combine(filters: Iterable[Any] | Any | None) -> sa.ColumnElement[Any] | None:
    """AND together a filter, a list of filters, or None (None also for an empty list)."""
    if filters is None or (isinstance(filters, list | tuple) and not filters):
        return None
    return as_clause(filters)


def check(expr: sa.ColumnElement[Any]) -> list[str]:
    """Validate the filter and return the column names it references."""
    names: list[str] = []
    _check(expr, names, 0)
    return names


def _check(node: Any, names: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise FilterError(f"filter nests deeper than {MAX_DEPTH} levels")
    if not isinstance(node, _ALLOWED_NODES) or isinstance(node, elements.TextClause):
        raise FilterError(
            f"unsupported construct in filter: {type(node).__name__} "
            "(allowed: comparisons, and/or/not, in, is null, columns and literal values)"
        )
    op = getattr(node, "operator", None)
    if op is not None and op not in _ALLOWED_OPERATORS:
        raise FilterError(f"unsupported operator in filter: {getattr(op, '__name__', op)}")
    if isinstance(node, elements.UnaryExpression) and (
            op is not operators.inv or node.modifier is not None):
        raise FilterError("unsupported unary construct in filter (only not_ is allowed)")
    if isinstance(node, elements.BindParameter):
        _check_bind(node)
    elif not isinstance(node, elements.ColumnClause | elements.Grouping | elements.Tuple) \
            and hasattr(node, "type"):  # a column's type is the store's own after retarget
        _check_type(node.type)
    if isinstance(node, elements.ColumnClause):
        if isinstance(node, elements.Label) or type(node).__name__ == "literal_column":
            raise FilterError("literal SQL columns are not allowed in filters")
        if getattr(node, "is_literal", False):
            raise FilterError("literal SQL columns are not allowed in filters")
        names.append(node.name)
        return
    for child in node.get_children():
        _check(child, names, depth + 1)


def _check_type(t: Any) -> None:
    """Only plain known types: a custom type can wrap a bound value in SQL (bind_expression)."""
    if type(t) not in _SAFE_TYPES:
        raise FilterError(f"unsupported type in filter: {type(t).__module__}."
                          f"{type(t).__qualname__} (only SQLAlchemy's plain generic types; "
                          "custom types and TypeDecorators can carry SQL)")
    for inner in (*getattr(t, "_variant_mapping", {}).values(), *getattr(t, "types", ())):
        _check_type(inner)


def _check_bind(node: elements.BindParameter[Any]) -> None:
    _check_type(node.type)
    if node.literal_execute:
        raise FilterError("bound values rendered into the SQL text (literal_execute) are not "
                          "allowed in filters")
    value = node.value if node.callable is None else node.effective_value
    values = value if isinstance(value, list | tuple) else [value]
    for v in values:
        for item in v if isinstance(v, tuple) else (v,):  # tuple IN: a tuple per row
            if item is not None and not isinstance(item, _SAFE_VALUES):
                raise FilterError(f"unsupported value in filter: {type(item).__name__} "
                                  f"{item!r:.60} (values are plain Python scalars)")


def retarget(expr: Any, columns: Any, *, what: str) -> sa.ColumnElement[Any]:
    """Rebind the filter's columns, by name, to ``columns`` (e.g. a subquery's ``.c``)."""
    clause = as_clause(expr)
    for name in check(clause):
        if name not in columns:
            raise FilterError(
                f"filter column '{name}' is not a column of {what} "
                f"(columns: {', '.join(c for c in columns.keys() if not c.startswith('__'))})"
            )

    def replace(node: Any) -> Any:
        if isinstance(node, elements.ColumnClause):
            return columns[node.name]
        return None

    result: sa.ColumnElement[Any] = visitors.replacement_traverse(
        clause, {}, replace  # type: ignore[call-overload]
    )
    return result


def to_polars(expr: Any, available: Iterable[str], *, what: str) -> pl.Expr:
    """Translate a checked filter to a Polars expression (the in-memory store's engine)."""
    clause = as_clause(expr)
    known = set(available)
    for name in check(clause):
        if name not in known:
            raise FilterError(f"filter column '{name}' is not a column of {what}")
    return _pl(clause)


def _value(node: Any) -> Any:
    if isinstance(node, elements.BindParameter):
        return node.effective_value
    if isinstance(node, elements.Null):
        return None
    if isinstance(node, elements.True_):
        return True
    if isinstance(node, elements.False_):
        return False
    if isinstance(node, elements.Grouping):
        return _value(node.element)
    raise FilterError(f"expected a literal value, got {type(node).__name__}")


def _pl(node: Any) -> pl.Expr:
    if isinstance(node, elements.Grouping):
        return _pl(node.element)
    if isinstance(node, elements.ColumnClause):
        return pl.col(node.name)
    if isinstance(node, elements.BindParameter | elements.True_ | elements.False_):
        return pl.lit(_value(node))
    if isinstance(node, elements.BooleanClauseList):
        parts = [_pl(c) for c in node.clauses]
        fn = pl.all_horizontal if node.operator is operators.and_ else pl.any_horizontal
        return fn(parts)
    if isinstance(node, elements.UnaryExpression | elements.AsBoolean):
        inner = _pl(node.element)
        return ~inner if node.operator in (operators.inv, None) else inner
    if isinstance(node, elements.BinaryExpression):
        return _pl_binary(node)
    raise FilterError(f"unsupported construct in filter: {type(node).__name__}")


def _pl_binary(node: elements.BinaryExpression[Any]) -> pl.Expr:
    op = node.operator
    left = _pl(node.left)
    if op in (operators.is_, operators.is_not):
        value = _value(node.right)
        if value is None:
            return left.is_null() if op is operators.is_ else left.is_not_null()
        return left.eq_missing(value) if op is operators.is_ else left.ne_missing(value)
    if op in (operators.in_op, operators.not_in_op):
        right: Any = node.right
        if isinstance(right, elements.Grouping):
            right = right.element
        values = _value(right) if isinstance(right, elements.BindParameter) else [
            _value(c) for c in getattr(right, "clauses", [])
        ]
        expr = left.is_in(list(values or []))
        return expr if op is operators.in_op else ~expr
    fn = _COMPARISONS[op]
    result: pl.Expr = fn(left, _pl(node.right))
    return result
