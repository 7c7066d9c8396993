"""Staged rows: the Polars finish and the SQL finish (DuckDB's INSERT ... SELECT) of a write's
hashes are bit-identical to each other and to the plain-Python recipe of metaxy.hashing."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from metaxy import columns as C
from metaxy.engine.hashers import duckdb_hasher
from metaxy.engine.staged import Constant, FieldHashes, HashRecipe, StagedRows
from metaxy.hashing import MISSING, HashSettings, enc, python_hash
from metaxy.keys import FieldKey

FIELDS = ("a", "b/c")  # sorted order; "b/c" is a nested field key
SETTINGS = [HashSettings(), HashSettings("md5", 12), HashSettings("sha256", 64)]

NOW = datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=UTC)
CONSTANTS = (Constant(C.FEATURE_VERSION, "fv-1", pl.Utf8()),
             Constant(C.UPDATED_AT, NOW, pl.Datetime("us", "UTC")),
             Constant(C.MATERIALIZATION_ID, None, pl.Utf8()))
TYPES: dict[str, sa.types.TypeEngine[object]] = {
    C.FEATURE_VERSION: sa.String(), C.UPDATED_AT: sa.DateTime(timezone=True),
    C.MATERIALIZATION_ID: sa.String()}
text = st.one_of(st.none(), st.text(max_size=12))
hash_text = st.text(alphabet="0123456789abcdef", min_size=1, max_size=40)
maybe_hash = st.one_of(st.none(), hash_text)  # a given data version (null: falls back)


def _recipe(hs: HashSettings, computed: bool, dv_given: bool) -> HashRecipe:
    fields = tuple(FieldHashes(enc(f), C.pv_column(FieldKey(f)), C.dv_column(FieldKey(f)),
                               f"{enc('t/x:' + f)}{enc('1')}" if computed else None)
                   for f in FIELDS)
    return HashRecipe(hs, fields, dv_given)


def _staged(recipe: HashRecipe, pvs: list[tuple[str | None, str | None]],
            dvs: list[tuple[str | None, str | None]]) -> StagedRows:
    """Rows in the staged form, a constant column between per-row ones (as in a table)."""
    cols: dict[str, list[str | None]] = {"sample_id": [f"s{i}" for i in range(len(pvs))]}
    for j, f in enumerate(FIELDS):
        cols[C.pv_column(FieldKey(f))] = [p[j] for p in pvs]
        cols[C.dv_column(FieldKey(f))] = [d[j] for d in dvs]
    cols[C.PROVENANCE] = [None] * len(pvs)
    cols[C.DATA_VERSION] = [None] * len(pvs)
    frame = pl.DataFrame(cols, schema={c: pl.Utf8 for c in cols})
    order = ("sample_id", C.FEATURE_VERSION, *frame.columns[1:],
             *(c.name for c in CONSTANTS[1:]))
    return StagedRows(frame, recipe, CONSTANTS, order)


def _python(hs: HashSettings, recipe: HashRecipe, row: dict[str, str | None]) -> dict[str, str]:
    """The recipe of metaxy.hashing, one row, in plain Python."""
    out: dict[str, str] = {}
    for f in recipe.fields:
        value = row[f.pv_column]
        if f.prefix is not None:
            value = python_hash(hs, f.prefix + (MISSING if value is None else enc(value)))
        assert value is not None
        out[f.pv_column] = value
        given = row[f.dv_column]
        out[f.dv_column] = value if given is None else given
    out[C.PROVENANCE] = python_hash(hs, "".join(enc(f.encoded_key[f.encoded_key.index(":") + 1:])
                                                 + enc(out[f.pv_column]) for f in recipe.fields))
    out[C.DATA_VERSION] = python_hash(hs, "".join(
        enc(f.encoded_key[f.encoded_key.index(":") + 1:]) + enc(out[f.dv_column])
        for f in recipe.fields)) if recipe.data_versions_given else out[C.PROVENANCE]
    return out


def _sql_finish(rows: StagedRows) -> pl.DataFrame:
    """The SQL form run by DuckDB through SQLAlchemy (constants are bound parameters)."""
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.connect() as conn:
        conn.connection.driver_connection.register("staged", rows.frame.to_arrow())
        source = sa.table("staged", *[sa.column(c) for c in rows.frame.columns])
        result = conn.execute(rows.finish_select(source, TYPES))
        out = pl.DataFrame([tuple(r) for r in result], schema=rows.finish().schema,
                           orient="row")
    engine.dispose()
    return out


@settings(max_examples=60, deadline=None)
@given(
    hs=st.sampled_from(SETTINGS),
    computed=st.booleans(),
    rows=st.lists(st.tuples(st.tuples(text, text), st.tuples(maybe_hash, maybe_hash),
                            st.tuples(hash_text, hash_text)), min_size=1, max_size=6),
)
def test_polars_sql_and_python_finish_agree(
        hs: HashSettings, computed: bool,
        rows: list[tuple[tuple[str | None, str | None], tuple[str | None, str | None],
                         tuple[str, str]]]) -> None:
    # computed: pv columns hold the fields' inputs (may be null); else given non-null hashes
    pvs: list[tuple[str | None, str | None]] = [r[0] if computed else r[2] for r in rows]
    dvs = [r[1] for r in rows]
    dv_given = any(v is not None for d in dvs for v in d)
    recipe = _recipe(hs, computed, dv_given)
    staged = _staged(recipe, pvs, dvs)
    by_polars = staged.finish()
    by_duckdb_hasher = staged.finish(duckdb_hasher(hs))
    by_sql = _sql_finish(staged)
    assert by_polars.equals(by_duckdb_hasher)
    assert by_polars.equals(by_sql)
    assert by_polars.columns == list(staged.order)
    assert by_polars[C.UPDATED_AT].to_list() == [NOW] * staged.height
    for i, row in enumerate(staged.frame.iter_rows(named=True)):
        want = _python(hs, recipe, row)
        got = by_polars.row(i, named=True)
        assert {k: got[k] for k in want} == want


def test_finishing_slices_equals_finishing_the_whole() -> None:
    hs = HashSettings()
    recipe = _recipe(hs, True, False)
    staged = _staged(recipe, [(f"x{i}", None) for i in range(10)], [(None, None)] * 10)
    whole = staged.finish()
    parts = pl.concat([s.finish() for s in staged.slices(3)])
    assert parts.equals(whole)
    assert whole[C.PROVENANCE].n_unique() == 10  # the inputs differ, so do the hashes
    assert whole[C.DATA_VERSION].equals(whole[C.PROVENANCE])


def test_ready_rows_pass_through_unchanged() -> None:
    frame = pl.DataFrame({"x": ["a", None]})
    ready = StagedRows.ready(frame)
    assert ready.finish().equals(frame)
    assert _sql_finish(ready).equals(frame)
