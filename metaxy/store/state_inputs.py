"""The latest state's input and signature columns, filled at write time (issue 14, "compare,
don't re-hash"; :mod:`metaxy.engine.compare` says what they mean and why resolve may trust them).

The state rows a write (or a rebuild) puts in are joined with the upstream features' latest
states; each field's signature is kept only where the row's stored provenance equals the hash of
the signature's static part and those upstream data versions (the written rows are hashed, so
the cost follows the write). Any doubt leaves the signature NULL and resolve hashes that row:

* the feature's plan does not apply (not 1:1, dependency filters) or cannot be built: no such
  columns at all;
* an upstream's state is not ready (not kept, another column set) or the upstream is not stored
  here (a fallback store's): every signature NULL.

Which upstream rows are read does not matter for correctness: whatever data versions a row is
verified against are the ones stored with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from metaxy.engine import compare
from metaxy.engine import sql as Q
from metaxy.engine.plan import ResolvePlan
from metaxy.errors import MetaxyError

if TYPE_CHECKING:
    from metaxy.feature import Feature
    from metaxy.store.sql import SQLStore


def plan_of(store: SQLStore, feature: type[Feature]) -> ResolvePlan | None:
    """The feature's resolve plan when stale flags may come from stored inputs, else None
    (a plan the graph cannot build is not this write's concern: resolve reports it)."""
    try:
        plan = store.plan(feature)
    except MetaxyError:
        return None
    return plan if compare.applies(plan) else None


def extra_columns(store: SQLStore, feature: type[Feature]) -> tuple[str, ...]:
    """The input and signature columns of ``feature``'s state in ``store`` (may be none)."""
    plan = plan_of(store, feature)
    return compare.state_columns(plan) if plan is not None else ()


def complete(store: SQLStore, feature: type[Feature], rows: sa.Select[Any]) -> sa.Select[Any]:
    """``rows`` (state rows without the input and signature columns, in the state's order)
    with those columns appended, verified against the upstream states (see the module)."""
    plan = plan_of(store, feature)
    if plan is None:
        return rows
    from metaxy.store import latest_state  # it imports this module

    ups = [d.feature for d in plan.deps]
    states = latest_state.ready_states(store, ups)
    src = rows.subquery("w")
    if any(str(f.spec().key) not in states for f in ups):
        return sa.select(*src.c, *[sa.cast(sa.null(), sa.String).label(n)
                                   for n in compare.state_columns(plan)])
    ctx = Q.SqlContext(store.hash_settings, {})
    inputs = compare.inputs_relation(plan, dict(states))
    on = sa.and_(*[src.c[k] == inputs.c[k] for k in plan.key_columns])
    return sa.select(*src.c, *compare.verified_columns(plan, ctx, src, inputs)).select_from(
        src.outerjoin(inputs, on))
