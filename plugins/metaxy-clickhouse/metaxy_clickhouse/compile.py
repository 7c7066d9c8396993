"""metaxy's SQL constructs spelled for ClickHouse (``@compiles`` overrides for the
``clickhousedb`` dialect of clickhouse-connect; core compiles the same plan for every dialect).

Verified on chDB (the ClickHouse engine in-process) against DuckDB, row for row and hash for hash
(the conformance and bit-identity tests):

* the sample hash: ``lower(hex(MD5(x)))`` / ``lower(hex(SHA256(x)))``, cut with ``substring``;
* the ordered string concatenation of N:1 lineage: ``arrayStringConcat(arrayMap(p ->
  p.2, arraySort(p -> p.1, groupArray((order_key, value)))))``; ClickHouse compares strings by
  their bytes, which is the order the other backends use;
* ``length`` counts bytes in ClickHouse, the ``<len>:<s>`` encoding counts characters:
  ``lengthUTF8``;
* ``CAST(NULL AS T)`` is an error for a non-Nullable ``T``: NULL casts to ``Nullable(T)``.

The FULL OUTER JOIN needs the session setting ``join_use_nulls = 1`` (the store sets it on every
connection): without it the missing side is filled with ``''``/``0`` instead of NULL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.ext import DistinctOnClause
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import Cast, Null
from sqlalchemy.sql.functions import Function

from metaxy.engine import OrderedConcat, SampleHash

DIALECT = "clickhousedb"  # clickhouse-connect's SQLAlchemy dialect name
_LAMBDA_ARG = "mx_pair"  # a lambda parameter no metaxy column is named after


@compiles(SampleHash, DIALECT)
def _hash(element: SampleHash, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    fn = {"md5": "MD5", "sha256": "SHA256"}[element.algorithm]
    text = f"lower(hex({fn}({compiler.process(arg, **kw)})))"
    if element.truncated:
        text = f"substring({text}, 1, {int(element.length)})"
    return text


@compiles(OrderedConcat, DIALECT)
def _ordered_concat(element: OrderedConcat, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    keys = [compiler.process(o, **kw) for o in element.order_by]
    key = keys[0] if len(keys) == 1 else f"tuple({', '.join(keys)})"
    pair = f"tuple({key}, {compiler.process(arg, **kw)})"
    return (f"arrayStringConcat(arrayMap({_LAMBDA_ARG} -> tupleElement({_LAMBDA_ARG}, 2), "
            f"arraySort({_LAMBDA_ARG} -> tupleElement({_LAMBDA_ARG}, 1), groupArray({pair}))))")


@compiles(Function, DIALECT)
def _function(element: Function[Any], compiler: Any, **kw: Any) -> str:
    """``length`` (characters in SQL, bytes in ClickHouse) becomes ``lengthUTF8``."""
    if element.name.lower() == "length":
        (arg,) = element.clauses
        return f"lengthUTF8({compiler.process(arg, **kw)})"
    return str(compiler.visit_function(element, **kw))


@compiles(Cast, DIALECT)
def _cast(element: Cast[Any], compiler: Any, **kw: Any) -> str:
    """ClickHouse refuses NULL for a non-Nullable type, also in a CASE branch it does not
    take (it evaluates every branch): ``CAST(NULL AS Nullable(T))``, and a cast to text is
    ``toString(x)`` (NULL stays NULL)."""
    inner = compiler.dialect.type_compiler_instance.process(element.type)
    if isinstance(element.clause, Null):
        return f"CAST(NULL AS Nullable({inner}))"
    if isinstance(element.type, sa.String) and inner in ("String", "VARCHAR"):
        return f"toString({compiler.process(element.clause, **kw)})"
    return str(compiler.visit_cast(element, **kw))


@compiles(DistinctOnClause, DIALECT)
def _distinct_on(element: DistinctOnClause, compiler: Any, **kw: Any) -> str:
    """``SELECT DISTINCT ON (ids) ... ORDER BY ids, updated_at DESC, row_id DESC``: the latest
    row per sample when the store's ``latest_method`` is ``distinct_on``. ClickHouse runs
    ``DISTINCT ON`` as ``LIMIT 1 BY``, after the ``ORDER BY`` (unlike a plain ``DISTINCT``);
    the same rows as the window, checked by the plugin's tests."""
    return f"ON ({', '.join(compiler.process(c, **kw) for c in element._distinct_on)})"


def literal_sql(stmt: sa.ClauseElement, dialect: Any) -> str:
    """The statement's SQL for ClickHouse with its bound values inlined (snapshots, ``--sql``)."""
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
