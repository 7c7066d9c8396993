"""The limits metaxy is measured against (issues 6, 14): hand-written statements, raw bulk loads.

* :func:`narrow_sql` (issue 14's ``limit_resolve``) renders ONE join of narrow latest-state
  tables (built by :func:`state_statements` outside the measurement), hashing only the rows it
  returns: the floor of an increment whatever the history depth.
* :func:`limit_sql` (``limit_resolve_full``) renders ONE hand-tuned SQL statement computing the
  same increment as ``resolve_update`` on the same tables: latest row per sample (``QUALIFY``
  on DuckDB, ``DISTINCT ON`` on PostgreSQL), the same hashes, the same full outer join and
  comparison, the same output columns. The static encoded prefixes come from the feature
  definitions and are bound parameters; identifiers are quoted by the dialect's preparer.
* :func:`limit_polars` is the same computation as one lazy Polars query (in-memory backend).
* :func:`raw_load_duckdb` / :func:`raw_load_postgres` load identical storage-form rows into a
  copy of the feature's table (DuckDB: INSERT from an Arrow table; PostgreSQL: COPY), with no
  index or with the old ``metaxy_row_id`` primary key (:func:`copy_table`).

These baselines are raw SQL text on purpose (the brief of issue 6): identifiers come from feature
definitions and are quoted by the dialect's rules, every value is a bound parameter.
"""
# ruff: noqa: S608

from __future__ import annotations

import io
import uuid
from typing import Any

import polars as pl
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.engine import polars_hash as P
from metaxy.engine.plan import ResolvePlan
from metaxy.hashing import HashSettings

SYS_ORDER = (C.UPDATED_AT, C.ROW_ID)


class _Sql:
    """Tiny renderer: dialect-quoted identifiers and named bound parameters."""

    def __init__(self, dialect: str, quote: Any) -> None:
        self.dialect = dialect
        self.quote = quote
        self.params: dict[str, str] = {}

    def p(self, value: str) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}" if self.dialect == "duckdb" else f"%({name})s"

    def md5(self, expr: str) -> str:
        return f"lower(hex(MD5({expr})))" if self.dialect == "clickhouse" else f"md5({expr})"

    def concat_ordered(self, value: str, order: str) -> str:
        """The values concatenated in ``order`` (ClickHouse: sort the (key, value) pairs)."""
        if self.dialect == "clickhouse":
            return (f"arrayStringConcat(arrayMap(x -> x.2, arraySort(x -> x.1, "
                    f"groupArray((tuple({order}), {value})))))")
        return f"string_agg({value}, '' ORDER BY {order})"

    def q(self, *names: str) -> str:
        return ", ".join(self.quote(n) for n in names)

    def enc(self, expr: str) -> str:
        if self.dialect == "clickhouse":  # length counts bytes there
            return f"toString(lengthUTF8({expr})) || ':' || {expr}"
        cast = "VARCHAR" if self.dialect == "duckdb" else "TEXT"
        return f"CAST(length({expr}) AS {cast}) || ':' || {expr}"

    def latest(self, table: str, ids: tuple[str, ...], cols: list[str]) -> str:
        """Latest row per sample, soft-deleted samples hidden."""
        order = f"{self.q(C.UPDATED_AT)} DESC, {self.q(C.ROW_ID)} DESC"
        sel = self.q(*dict.fromkeys([*ids, *cols, C.DELETED_AT]))
        if self.dialect == "duckdb":
            inner = (f"SELECT {sel} FROM {self.quote(table)} QUALIFY row_number() OVER "
                     f"(PARTITION BY {self.q(*ids)} ORDER BY {order}) = 1")
        elif self.dialect == "clickhouse":
            inner = (f"SELECT {sel} FROM {self.quote(table)} ORDER BY {self.q(*ids)}, {order} "
                     f"LIMIT 1 BY {self.q(*ids)}")
        else:
            inner = (f"SELECT DISTINCT ON ({self.q(*ids)}) {sel} FROM {self.quote(table)} "
                     f"ORDER BY {self.q(*ids)}, {order}")
        return f"SELECT * FROM ({inner}) x WHERE {self.q(C.DELETED_AT)} IS NULL"

    def byte_order(self, col: str, is_string: bool) -> str:
        return f'{col} COLLATE "C"' if is_string and self.dialect == "postgresql" else col



def _field_provenances(s: _Sql, plan: ResolvePlan) -> list[str]:
    """Each field's provenance as a SQL md5 over its code prefix and its parents' values."""
    pvs = []
    for f in plan.fields:
        parts = [s.p(f.prefix)]
        for parent in f.parents:
            parts += [s.p(parent.encoded_name), s.enc(s.q(parent.alias))]
        pvs.append(f"{s.md5(' || '.join(parts))} AS {s.q(f.pv_column)}")
    return pvs

def limit_sql(plan: ResolvePlan, dialect: str, quote: Any,
              exists: bool = True) -> tuple[str, dict[str, str]]:
    """One hand-written statement for ``plan`` (identity, aggregation or expansion deps)."""
    s = _Sql(dialect, quote)
    keys = list(plan.key_columns)
    ctes: list[str] = []
    rels: list[str] = []
    for dep in plan.deps:
        table = dep.feature.__table__.name  # type: ignore[attr-defined]
        dvs = [C.dv_column(f) for f in dep.fields]
        ctes.append(f"u{dep.index}l AS ({s.latest(table, dep.upstream_ids, dvs)})")
        aliases = ", ".join(f"{s.q(C.dv_column(f))} AS {s.q(dep.dv_alias(f))}"
                            for f in dep.fields)
        if dep.kind == "aggregation":
            types = dep.feature.__table__.c  # type: ignore[attr-defined]
            order = ", ".join(s.byte_order(s.q(u), isinstance(types[u].type, sa.String))
                              for u in dep.upstream_ids)
            aggs = ", ".join(
                f"{s.md5(s.concat_ordered(s.enc(s.q(C.dv_column(f))), order))} "
                f"AS {s.q(dep.dv_alias(f))}" for f in dep.fields)
            ctes.append(f"u{dep.index} AS (SELECT {s.q(*dep.join_keys)}, {aggs} "
                        f"FROM u{dep.index}l GROUP BY {s.q(*dep.join_keys)})")
        else:
            ctes.append(f"u{dep.index} AS (SELECT {s.q(*dep.join_keys)}, {aliases} "
                        f"FROM u{dep.index}l)")
        rels.append(f"u{dep.index}")
    from_ = rels[0] + "".join(f" JOIN {r} USING ({s.q(*d.join_keys)})"
                              for r, d in zip(rels[1:], plan.deps[1:], strict=True))
    pvs = _field_provenances(s, plan)
    ctes.append(f"ef AS (SELECT {s.q(*keys)}, {', '.join(pvs)} FROM {from_})")
    total = " || ".join(f"{s.p(f.encoded_key)} || {s.enc(s.q(f.pv_column))}" for f in
                        sorted(plan.fields, key=lambda f: f.field.to_string()))
    ctes.append(f"e AS (SELECT *, {s.md5(total)} AS {s.q(C.PROVENANCE)} FROM ef)")
    target = plan.feature.__table__  # type: ignore[attr-defined]
    stored = [c.name for c in target.columns if c.name not in keys]
    pv_cols = [f.pv_column for f in plan.fields]
    if exists:
        latest_t = s.latest(target.name, plan.id_columns, [c.name for c in target.columns])
    else:  # the leaf was never written: an empty relation of its shape
        cast = {"duckdb": "VARCHAR", "clickhouse": "Nullable(String)"}.get(dialect, "TEXT")
        latest_t = "SELECT " + ", ".join(f"CAST(NULL AS {cast}) AS {s.q(c)}"
                                         for c in [*keys, *pv_cols]) + " WHERE false"
    if plan.expansion:
        mm = ", ".join(f"min({s.q(c)}) AS {s.q(c)}, max({s.q(c)}) AS {s.q('__max_' + c)}"
                       for c in pv_cols)
        ctes.append(f"t AS (SELECT {s.q(*keys)}, {mm} FROM ({latest_t}) tl "
                    f"GROUP BY {s.q(*keys)})")
        flags = [f"(t.{s.q(c)} IS DISTINCT FROM e.{s.q(c)} OR "
                 f"t.{s.q('__max_' + c)} IS DISTINCT FROM e.{s.q(c)})" for c in pv_cols]
        carried: list[str] = []
    else:
        ctes.append(f"t AS ({latest_t})")
        flags = [f"(t.{s.q(c)} IS DISTINCT FROM e.{s.q(c)})" for c in pv_cols]
        carried = [f"t.{s.q(c)} AS {s.q('__c__' + c)}" for c in stored] if exists else []
    k0 = s.q(keys[0])
    cols = [f"coalesce(e.{s.q(k)}, t.{s.q(k)}) AS {s.q(k)}" for k in keys]
    cols.append(f"CASE WHEN t.{k0} IS NULL THEN 'new' WHEN e.{k0} IS NULL THEN 'orphaned' "
                "ELSE 'stale' END AS __status")
    cols += [f"e.{s.q(c)}" for c in [*pv_cols, C.PROVENANCE]]
    cols += [f"{flag} AS {s.q('__stale__' + f.field.column(''))}"
             for flag, f in zip(flags, plan.fields, strict=True)]
    cols += carried
    on = " AND ".join(f"e.{s.q(k)} = t.{s.q(k)}" for k in keys)
    where = " OR ".join([f"t.{k0} IS NULL", f"e.{k0} IS NULL", *flags])
    sql = (f"WITH {', '.join(ctes)} SELECT {', '.join(cols)} FROM e FULL OUTER JOIN t "
           f"ON {on} WHERE {where}")
    return sql, s.params


def run_limit_duckdb(duck: Any, plan: ResolvePlan, exists: bool = True) -> pl.DataFrame:
    quote = _duck_quote
    sql, params = limit_sql(plan, "duckdb", quote, exists)
    df = pl.from_arrow(duck.sql(sql, params=params).to_arrow_table())
    assert isinstance(df, pl.DataFrame)
    return df


def run_limit_clickhouse(client: Any, plan: ResolvePlan, exists: bool = True) -> pl.DataFrame:
    """The hand-written statement on ClickHouse (latest rows by ``LIMIT 1 BY``), through
    clickhouse-connect's client of the store's session (``join_use_nulls = 1``)."""
    from clickhouse_connect.driver.binding import quote_identifier

    sql, params = limit_sql(plan, "clickhouse", quote_identifier, exists)
    df = pl.from_arrow(client.query_arrow(sql, parameters=params))
    assert isinstance(df, pl.DataFrame)
    return df


def raw_load_clickhouse(client: Any, table_name: str, storage: pl.DataFrame) -> None:
    """``insert_arrow`` of the storage-form rows (the store's own load path, without hashing)."""
    client.insert_arrow(table_name, storage.to_arrow(), settings={"async_insert": 0})


def run_limit_postgres(pg: Any, plan: ResolvePlan, exists: bool = True) -> pl.DataFrame:
    from psycopg import sql as psql

    def quote(name: str) -> str:
        return psql.Identifier(name).as_string(pg)

    text, params = limit_sql(plan, "postgresql", quote, exists)
    with pg.cursor() as cur:
        cur.execute(text.encode(), params)  # type: ignore[arg-type]
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def _duck_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------- Polars
def _latest_lazy(df: pl.LazyFrame, ids: tuple[str, ...]) -> pl.LazyFrame:
    return (df.sort([*ids, *SYS_ORDER], descending=[False] * len(ids) + [True, True])
            .unique(list(ids), keep="first", maintain_order=False)
            .filter(pl.col(C.DELETED_AT).is_null()))


def limit_polars(plan: ResolvePlan, tables: dict[str, pl.DataFrame] | dict[str, pl.LazyFrame],
                 settings: HashSettings, engine: str = "auto") -> pl.DataFrame:
    """The increment as one lazy Polars query over storage-form frames (table name -> frame,
    or lazy scans such as ``pl.scan_delta``), run by Polars' ``engine``."""
    keys = list(plan.key_columns)
    rels = []
    for dep in plan.deps:
        up = _latest_lazy(tables[dep.feature.__table__.name].lazy(),  # type: ignore[attr-defined]
                          dep.upstream_ids)
        dvs = {C.dv_column(f): dep.dv_alias(f) for f in dep.fields}
        if dep.kind == "aggregation":
            up = (up.sort(list(dep.upstream_ids)).group_by(list(dep.join_keys))
                  .agg([P.h(P.enc(pl.col(c)).str.join(""), settings).alias(a)
                        for c, a in dvs.items()]))
        else:
            up = up.select([*dep.join_keys, *[pl.col(c).alias(a) for c, a in dvs.items()]])
        rels.append((dep, up))
    e = rels[0][1]
    for dep, rel in rels[1:]:
        e = e.join(rel, on=list(dep.join_keys))
    pvs = []
    for f in plan.fields:
        parts = [pl.lit(f.prefix)]
        for parent in f.parents:
            parts += [pl.lit(parent.encoded_name), P.enc(pl.col(parent.alias))]
        pvs.append(P.h(pl.concat_str(parts), settings).alias(f.pv_column))
    e = e.select([*keys, *pvs])
    e = e.with_columns(P.total([(f.encoded_key, pl.col(f.pv_column)) for f in
                                sorted(plan.fields, key=lambda f: f.field.to_string())],
                               settings).alias(C.PROVENANCE))
    target = plan.feature.__table__  # type: ignore[attr-defined]
    pv_cols = [f.pv_column for f in plan.fields]
    t = _latest_lazy(tables[target.name].lazy(), plan.id_columns)
    if plan.expansion:
        t = t.group_by(keys).agg([*[pl.col(c).min() for c in pv_cols],
                                  *[pl.col(c).max().alias("__max_" + c) for c in pv_cols]])
    t = t.rename({c: "__c__" + c for c in t.collect_schema().names() if c not in keys})
    j = e.join(t, on=keys, how="full", coalesce=False, suffix="__t")
    tk = keys[0] + "__t"
    flags = []
    for c in pv_cols:
        flag = pl.col("__c__" + c).ne_missing(pl.col(c))
        if plan.expansion:
            flag = flag | pl.col("__c____max_" + c).ne_missing(pl.col(c))
        flags.append(flag.alias("__stale__" + c))
    status = (pl.when(pl.col(tk).is_null()).then(pl.lit("new"))
              .when(pl.col(keys[0]).is_null()).then(pl.lit("orphaned"))
              .otherwise(pl.lit("stale")).alias("__status"))
    out = j.with_columns([pl.coalesce(pl.col(k), pl.col(k + "__t")).alias(k) for k in keys]
                         + [status, *flags])
    cond = pl.col("__status").ne("stale") | pl.any_horizontal(
        [pl.col("__stale__" + c) for c in pv_cols])
    result: pl.DataFrame = out.filter(cond).drop([k + "__t" for k in keys]).collect(
        engine=engine)  # type: ignore[call-overload]
    return result


# ---------------------------------------------------------------------------------- raw loads
def copy_table(table: sa.Table, primary_key: bool = False) -> sa.Table:
    """A same-shaped table under a fresh name (the raw load's target): the same columns and
    nullability, and no index unless ``primary_key`` (then ``metaxy_row_id`` is a PRIMARY KEY,
    as feature tables were created before issue 14)."""
    name = f"rawload_{uuid.uuid4().hex[:10]}"
    columns = []
    for column in table.columns:
        copy = column._copy()
        copy.primary_key = primary_key and column.name == C.ROW_ID
        copy.index = False
        columns.append(copy)
    return sa.Table(name, sa.MetaData(), *columns)


def raw_load_duckdb(duck: Any, table_name: str, storage: pl.DataFrame) -> None:
    """``INSERT INTO t SELECT * FROM <arrow table>``: DuckDB's bulk path."""
    arrow = storage.to_arrow()
    duck.register("raw_arrow", arrow)
    try:
        duck.execute(f"INSERT INTO {_duck_quote(table_name)} SELECT * FROM raw_arrow")
    finally:
        duck.unregister("raw_arrow")


def raw_load_postgres(pg: Any, table_name: str, storage: pl.DataFrame) -> None:
    """``COPY t (cols) FROM STDIN`` with CSV produced by Polars."""
    from psycopg import sql as psql

    buf = io.BytesIO()
    storage.write_csv(buf, include_header=False, null_value="\\N",
                      datetime_format="%Y-%m-%dT%H:%M:%S%.f%z")
    stmt = psql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, NULL '\\N')").format(
        psql.Identifier(table_name), psql.SQL(", ").join(map(psql.Identifier, storage.columns)))
    with pg.cursor() as cur, cur.copy(stmt) as copy:
        copy.write(buf.getvalue())


# ---------------------------------------------------------------------------------- narrow join
# The limit of issue 14: resolve as ONE join of narrow *latest-state* tables, as if a store kept,
# per feature, the latest row's ids and data versions (upstream) and, per downstream sample, the
# upstream data versions it was computed from. Building the states is not measured (a store would
# maintain them at write time); the statement compares what is stored, and hashes only the rows
# it returns (per-field provenance and the provenance over the fields, as resolve_update does).
STATE_INPUT = "in"  # prefix of a downstream state's input data-version columns


def narrow_applies(plan: ResolvePlan) -> bool:
    """The narrow limit is written for 1:1 lineage (the simple and wide scenarios)."""
    return not plan.expansion and all(d.kind == "identity" for d in plan.deps)


def state_statements(plan: ResolvePlan, dialect: str, quote: Any, up_tables: list[str],
                     down_table: str | None) -> list[str]:
    """Statements (re)creating the state tables from the history: per dependency the upstream's
    latest (not deleted) rows as ``join keys + data versions`` (named by the plan's aliases);
    with ``down_table``, also the downstream state of samples computed from that upstream
    state: keys + the input data versions (``in`` + alias) each was computed from."""
    s = _Sql(dialect, quote)
    out = []
    if dialect == "duckdb":
        def create(name: str, select: str) -> list[str]:
            return [f"CREATE OR REPLACE TABLE {quote(name)} AS {select}"]
    else:
        def create(name: str, select: str) -> list[str]:
            return [f"DROP TABLE IF EXISTS {quote(name)}",
                    f"CREATE TABLE {quote(name)} AS {select}", f"ANALYZE {quote(name)}"]
    for dep, name in zip(plan.deps, up_tables, strict=True):
        table = dep.feature.__table__.name  # type: ignore[attr-defined]
        dvs = [C.dv_column(f) for f in dep.fields]
        cols = [f"{s.q(u)} AS {s.q(dep.renamed(u))}" for u in dep.upstream_ids]
        cols += [f"{s.q(C.dv_column(f))} AS {s.q(dep.dv_alias(f))}" for f in dep.fields]
        out += create(name, f"SELECT {', '.join(cols)} FROM "
                            f"({s.latest(table, dep.upstream_ids, dvs)}) l")
    if down_table is not None:
        frm = f"{quote(up_tables[0])} u0" + "".join(
            f" JOIN {quote(t)} u{i} USING ({s.q(*d.join_keys)})"
            for i, (t, d) in enumerate(zip(up_tables[1:], plan.deps[1:], strict=True), start=1))
        first = [f"u0.{s.q(k)}" for k in plan.key_columns]
        ins = [f"{s.q(dep.dv_alias(f))} AS {s.q(STATE_INPUT + dep.dv_alias(f))}"
               for dep in plan.deps for f in dep.fields]
        out += create(down_table, f"SELECT {', '.join([*first, *ins])} FROM {frm}")
    return out


def narrow_sql(plan: ResolvePlan, dialect: str, quote: Any, up_tables: list[str],
               down_table: str) -> tuple[str, dict[str, str]]:
    """One statement over the state tables: changed samples (new, stale, orphaned) with their
    hashes and per-field stale flags."""
    s = _Sql(dialect, quote)
    keys = list(plan.key_columns)
    frm = f"{quote(up_tables[0])} u0" + "".join(
        f" JOIN {quote(t)} u{i} USING ({s.q(*d.join_keys)})"
        for i, (t, d) in enumerate(zip(up_tables[1:], plan.deps[1:], strict=True), start=1))
    aliases = [dep.dv_alias(f) for dep in plan.deps for f in dep.fields]
    first = [f"u0.{s.q(k)}" if k in plan.deps[0].join_keys else s.q(k) for k in keys]
    e = f"SELECT {', '.join(first)}, {s.q(*aliases)} FROM {frm}"
    k0 = s.q(keys[0])
    changed = {a: f"(e.{s.q(a)} IS DISTINCT FROM d.{s.q(STATE_INPUT + a)})" for a in aliases}
    flags = [" OR ".join(changed[p.alias] for p in f.parents) for f in plan.fields]
    cols = [f"coalesce(e.{s.q(k)}, d.{s.q(k)}) AS {s.q(k)}" for k in keys]
    cols.append(f"CASE WHEN d.{k0} IS NULL THEN 'new' WHEN e.{k0} IS NULL THEN 'orphaned' "
                "ELSE 'stale' END AS __status")
    cols += [f"e.{s.q(a)}" for a in aliases]
    cols += [f"({flag}) AS {s.q('__stale__' + f.field.column(''))}"
             for flag, f in zip(flags, plan.fields, strict=True)]
    on = " AND ".join(f"e.{s.q(k)} = d.{s.q(k)}" for k in keys)
    where = " OR ".join([f"d.{k0} IS NULL", f"e.{k0} IS NULL", *changed.values()])
    j = (f"SELECT {', '.join(cols)} FROM ({e}) e FULL OUTER JOIN {quote(down_table)} d ON {on} "
         f"WHERE {where}")
    pvs = _field_provenances(s, plan)
    stale = [s.q("__stale__" + f.field.column("")) for f in plan.fields]
    h = f"SELECT {s.q(*keys)}, __status, {', '.join(stale)}, {', '.join(pvs)} FROM ({j}) j"
    total = " || ".join(f"{s.p(f.encoded_key)} || {s.enc(s.q(f.pv_column))}" for f in
                        sorted(plan.fields, key=lambda f: f.field.to_string()))
    return f"SELECT *, md5({total}) AS {s.q(C.PROVENANCE)} FROM ({h}) h", s.params


def run_narrow_duckdb(duck: Any, plan: ResolvePlan, up_tables: list[str],
                      down_table: str) -> pl.DataFrame:
    sql, params = narrow_sql(plan, "duckdb", _duck_quote, up_tables, down_table)
    df = pl.from_arrow(duck.sql(sql, params=params).to_arrow_table())
    assert isinstance(df, pl.DataFrame)
    return df


def run_narrow_postgres(pg: Any, plan: ResolvePlan, up_tables: list[str],
                        down_table: str) -> pl.DataFrame:
    from psycopg import sql as psql

    def quote(name: str) -> str:
        return psql.Identifier(name).as_string(pg)

    from metaxy_postgres.store import QUERY_WORK_MEM

    text, params = narrow_sql(plan, "postgresql", quote, up_tables, down_table)
    with pg.cursor() as cur:
        # the work_mem the store gives resolve_update: both sides hash the states in memory
        cur.execute("SELECT set_config('work_mem', %s, true)", [QUERY_WORK_MEM])
        cur.execute(text.encode(), params)  # type: ignore[arg-type]
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def build_state(raw: Any, dialect: str, plan: ResolvePlan, up_tables: list[str],
                down_table: str | None) -> None:
    """Run :func:`state_statements` on a raw DuckDB / psycopg connection and commit."""
    if dialect == "duckdb":
        quote: Any = _duck_quote
    else:
        from psycopg import sql as psql

        def quote(name: str) -> str:
            return psql.Identifier(name).as_string(raw)
    for stmt in state_statements(plan, dialect, quote, up_tables, down_table):
        if dialect == "duckdb":
            raw.execute(stmt)
        else:
            with raw.cursor() as cur:
                cur.execute(stmt.encode())
    raw.commit()
