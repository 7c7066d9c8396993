"""What a latest state's input and signature columns must satisfy ("compare, don't re-hash",
metaxy.engine.compare), checked from outside the engine: every row with the plan's signature
has a stored field provenance equal to the hash of the field's static part and the stored
inputs (recomputed here with polars-hash, not with the store's SQL)."""

from __future__ import annotations

from typing import Any

import polars as pl

from metaxy import columns as C
from metaxy.engine import compare
from metaxy.engine import polars_hash as P
from metaxy.store.latest_state import columns_of
from metaxy.store.sql import SQLStore


def history_columns(feature: Any, state: pl.DataFrame) -> pl.DataFrame:
    """The state's columns mirrored from the history (without the input and signature ones)."""
    return state.select(*columns_of(feature))


def assert_inputs_hold(store: Any, feature: Any, state: pl.DataFrame) -> int:
    """Assert the invariant on ``state`` (the rows of ``feature``'s state); return how many
    (row, field) pairs are verified."""
    plan = store.plan(feature)
    extra = compare.state_columns(plan)
    # SQL stores keep them; the memory store's frames engine re-hashes (no such columns)
    wanted = list(extra) if isinstance(store, SQLStore) and store.keeps_latest_state else []
    assert [c for c in state.columns if c not in columns_of(feature)] == wanted
    if not wanted:
        return 0
    verified = 0
    for field in plan.fields:
        code = compare.code_column(field)
        sig = compare.signature(plan, field, store.hash_settings)
        rows = state.filter(pl.col(code) == sig)  # another signature: compared by hash
        parts = [pl.lit(field.prefix)]
        for p in field.parents:
            parts += [pl.lit(p.encoded_name),
                      P.enc_or_missing(pl.col(compare.in_column(p.dep_index, p.field)))]
        again = rows.select(P.h(pl.concat_str(parts), store.hash_settings).alias("h"),
                            pl.col(C.pv_column(field.field)).alias("pv"))
        assert again["h"].to_list() == again["pv"].to_list(), field.field
        verified += rows.height
    return verified
