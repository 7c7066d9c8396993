"""What ``where=`` means in ``resolve_update`` and ``status`` (issue 13 item 6), on every backend.

The rule (docs/concepts.md, "Filtering an increment"): a filter selects *samples*. Each column it
names takes, per sample, the upstream's current value when the sample exists upstream (key
columns, carried columns), else the stored value (a column only the downstream has: always the
stored value; a value that exists on neither side is NULL). The filtered increment is the
unfiltered increment restricted to the selected samples, with identical rows and hashes; in
particular a sample that exists upstream is never reported orphaned because a value crossed the
filter's boundary.

The reference below is therefore the unfiltered increment (itself checked against a Python model
in test_hypothesis.py) restricted by a plain-Python predicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metaxy as mx
from metaxy.errors import FilterError
from metaxy.store.base import Increment, LazyIncrement, MetadataStore
from metaxy.testing.graphs import SuiteFeatures, define_feature, define_suite_features
from metaxy.testing.pytest_plugin import make_store
from metaxy.testing.suite import materialize, root_samples

# sid -> root value, before and after; every sid keeps its inputs unless listed in CHANGED.
FIRST = {"a": 1, "b": 9, "c": 3, "d": 7, "f": 2, "g": 6, "h": 2, "i": 8, "n": 4}
SECOND = {"a": 9, "b": 1, "c": 3, "e": 8, "g": 6, "h": 8, "i": 2, "n": None}
CHANGED = {"c", "g", "h", "i"}  # input of field a changes: the downstream goes stale
OUT = {"a": "keep", "b": "keep", "d": "keep", "h": "drop"}  # conf/child's downstream-only column


@dataclass
class World:
    store: MetadataStore
    feats: SuiteFeatures
    frames: type[mx.Feature]  # conf/frames: 1:N of root on sid, carrying value


def _samples(values: dict[str, int | None], changed: set[str]) -> pl.DataFrame:
    inputs = {s: (f"a-{s}" + ("-2" if s in changed else ""), f"b-{s}") for s in values}
    frame = root_samples(inputs)
    return frame.with_columns(pl.Series("value", [values[s] for s in sorted(values)],
                                        dtype=pl.Int64))


def _frames_feature(feats: SuiteFeatures) -> type[mx.Feature]:
    return define_feature("Frames", mx.FeatureSpec(
        key="conf/frames", id_columns=["sid", "part"],
        deps=[mx.FeatureDep(feature=feats.root, columns=("value",),
                            lineage=mx.Lineage.expansion(on=["sid"]))],
        fields=[mx.FieldSpec(key="a")],
    ), {"sid": str, "part": int, "value": int | None, "text": str | None},
        {"value": None, "text": None})


@pytest.fixture
def world(store_url: str, isolated_graph: mx.FeatureGraph) -> Iterator[World]:
    """Root, child (identity, carries value), frames (1:N, carries value), parts/agg (1:N, N:1)
    materialised for FIRST; then the root rewritten to SECOND (d and f deleted upstream)."""
    feats = define_suite_features()
    frames = _frames_feature(feats)
    store = make_store(store_url)
    with store.open("w"):
        materialize(store, feats.root, samples=_samples(FIRST, set()))
        inc = store.resolve_update(feats.child)
        assert isinstance(inc, Increment)
        store.write(feats.child, inc.new.with_columns(
            pl.Series("out", [OUT.get(s) for s in inc.new["sid"]], dtype=pl.Utf8)))
        for f in (frames, feats.parts, feats.agg):
            materialize(store, f)
        root_inc = materialize(store, feats.root, samples=_samples(SECOND, CHANGED))
        for sid in root_inc.orphaned["sid"]:
            store.delete(feats.root, feats.root.sid == sid)  # type: ignore[attr-defined]
        # a user column is no part of the provenance: rewrite every row to move the values
        rows = store.read(feats.root)
        store.write(feats.root, rows.with_columns(pl.Series(
            "value", [SECOND[s] for s in rows["sid"]], dtype=pl.Int64)))
        store.write(feats.parts, store.resolve_update(feats.parts).new.join(
            pl.DataFrame({"part": [0]}), how="cross"))  # new parents of parts, one child each
        yield World(store, feats, frames)


def _value_scope(pred: Callable[[Any], bool]) -> Callable[[str], bool]:
    """The rule for a column carried from the root: the upstream value, else the stored one."""
    return lambda sid: pred(SECOND[sid]) if sid in SECOND else pred(FIRST[sid])


def _gt(limit: int) -> Callable[[Any], bool]:
    return lambda v: v is not None and v > limit


def _keys(df: pl.DataFrame) -> list[str]:
    return sorted(df["sid"].to_list())


def _restricted(df: pl.DataFrame, scope: Callable[[str], bool]) -> list[dict[str, Any]]:
    return [row for row in df.sort("sid").to_dicts() if scope(row["sid"])]


def check(store: MetadataStore, feature: Any, where: Any, scope: Callable[[str], bool],
          universe: set[str], live: frozenset[str] = frozenset(SECOND)) -> None:
    """``resolve_update`` (eager, lazy: collect and iter_batches) and ``status`` with ``where``
    equal the unfiltered increment restricted to the samples ``scope`` selects."""
    full = store.resolve_update(feature)
    want = {p: _restricted(getattr(full, p), scope) for p in ("new", "stale", "orphaned")}
    eager = store.resolve_update(feature, where=where)
    lazy = store.resolve_update(feature, where=where, lazy=True)
    assert isinstance(eager, Increment) and isinstance(lazy, LazyIncrement)
    for part, rows in want.items():
        assert getattr(eager, part).sort("sid").to_dicts() == rows, part
        assert getattr(lazy, part).collect().sort("sid").to_dicts() == rows, part
        batches = list(getattr(lazy, part).iter_batches(2))
        got = pl.concat(batches).sort("sid").to_dicts() if batches else []
        assert got == rows, part
    status = store.status(feature, where=where)
    counts = {p: len(r) for p, r in want.items()}
    selected = {s for s in universe if scope(s)}
    assert (status.new, status.stale, status.orphaned) == (
        counts["new"], counts["stale"], counts["orphaned"])
    assert status.up_to_date == len(selected) - sum(counts.values())
    assert not live & set(_keys(eager.orphaned)), "a sample that exists upstream is orphaned"


UNIVERSE = set(FIRST) | set(SECOND)


def test_carried_column_crossing_the_boundary(world: World) -> None:
    """a: 1 -> 9 and b: 9 -> 1 cross ``value > 5`` in both directions; neither is new or
    orphaned (the bug: a was reported new and b orphaned), h/i cross it while going stale."""
    child = world.feats.child
    with world.store.open("r"):
        inc = world.store.resolve_update(child, where=child.value > 5)  # type: ignore[attr-defined]
        assert _keys(inc.new) == ["e"]
        assert _keys(inc.stale) == ["g", "h"]
        assert _keys(inc.orphaned) == ["d"]  # gone upstream; stored value 7
        for where, pred in [(child.value > 5, _gt(5)),  # type: ignore[attr-defined]
                            (child.value <= 5,  # type: ignore[attr-defined]
                             lambda v: v is not None and v <= 5),
                            (child.value.is_(None), lambda v: v is None),  # type: ignore
                            (sa.not_(child.value > 5),  # type: ignore[attr-defined]
                             lambda v: v is not None and not v > 5)]:
            check(world.store, child, where, _value_scope(pred), UNIVERSE)


def test_id_only_and_mixed_filters(world: World) -> None:
    child = world.feats.child
    chosen = ["a", "b", "d", "e", "i"]
    with world.store.open("r"):
        check(world.store, child, child.sid.in_(chosen),  # type: ignore[attr-defined]
              lambda s: s in chosen, UNIVERSE)
        check(world.store, child, sa.and_(child.sid.in_(chosen),  # type: ignore[attr-defined]
                                          child.value > 5),  # type: ignore[attr-defined]
              lambda s: s in chosen and _value_scope(_gt(5))(s), UNIVERSE)
        check(world.store, child, sa.or_(child.sid == "b",  # type: ignore[attr-defined]
                                         child.value > 5),  # type: ignore[attr-defined]
              lambda s: s == "b" or _value_scope(_gt(5))(s), UNIVERSE)


def test_column_only_the_downstream_has(world: World) -> None:
    """``out`` is stored only: a new sample has no value (NULL), others use the stored one."""
    child = world.feats.child
    with world.store.open("r"):
        check(world.store, child, child.out == "keep",  # type: ignore[attr-defined]
              lambda s: OUT.get(s) == "keep", UNIVERSE)
        check(world.store, child, child.out.is_(None),  # type: ignore[attr-defined]
              lambda s: OUT.get(s) is None, UNIVERSE)
        check(world.store, child, sa.or_(child.out == "drop",  # type: ignore[attr-defined]
                                         child.value > 8),  # type: ignore[attr-defined]
              lambda s: OUT.get(s) == "drop" or _value_scope(_gt(8))(s), UNIVERSE)


def test_root_feature_with_samples(world: World) -> None:
    """For a root the upstream is the ``samples=`` frame: values crossing are judged there."""
    root = world.feats.root
    samples = _samples({**SECOND, "a": 2, "b": 9, "z": 9}, CHANGED | {"a"})
    with world.store.open("r"):
        full = world.store.resolve_update(root, samples=samples)
        inc = world.store.resolve_update(root, samples=samples,
                                         where=root.value > 5)  # type: ignore[attr-defined]
        status = world.store.status(root, samples=samples,
                                    where=root.value > 5)  # type: ignore[attr-defined]
    given = dict(zip(samples["sid"], samples["value"], strict=True))
    scope = lambda s: _gt(5)(given[s]) if s in given else _gt(5)(SECOND.get(s))  # noqa: E731
    for part in ("new", "stale", "orphaned"):
        assert getattr(inc, part).sort("sid").to_dicts() == _restricted(getattr(full, part),
                                                                       scope), part
    assert _keys(inc.new) == ["z"] and _keys(inc.orphaned) == []
    assert (status.new, status.stale, status.orphaned) == (1, 0, 0)
    assert status.up_to_date == len({s for s in set(SECOND) | set(given) if scope(s)}) - 1


def test_expansion_filters(world: World) -> None:
    """1:N: the increment is per parent; a carried column is judged on the parent's upstream
    value, for an orphaned parent on its stored children (any child selects it)."""
    frames = world.frames
    with world.store.open("r"):
        inc = world.store.resolve_update(frames, where=frames.value > 5)  # type: ignore
        assert _keys(inc.orphaned) == ["d"] and _keys(inc.new) == ["e"]
        for where, pred in [(frames.value > 5, _gt(5)),  # type: ignore[attr-defined]
                            (frames.value < 5, lambda v: v is not None and v < 5)]:  # type: ignore
            check(world.store, frames, where, _value_scope(pred), UNIVERSE)
        check(world.store, frames, frames.sid.in_(["a", "d", "e"]),  # type: ignore[attr-defined]
              lambda s: s in ("a", "d", "e"), UNIVERSE)
        for column in ("part", "text"):  # child-level columns: no value per parent
            with pytest.raises(FilterError, match=rf"'{column}'.*conf/frames"):
                world.store.resolve_update(frames, where=getattr(frames, column) == 1)
            with pytest.raises(FilterError, match=f"'{column}'"):
                world.store.status(frames, where=getattr(frames, column) == 1)


def test_aggregation_filters(world: World) -> None:
    """N:1 (agg of parts on sid): id filters and a column only the downstream has."""
    agg, parts = world.feats.agg, world.feats.parts
    universe = set(FIRST) | set(SECOND)
    with world.store.open("r"):
        assert world.store.status(parts).needs_work  # d, f orphaned; c, g, h, i stale
        check(world.store, agg, agg.sid.in_(["c", "d", "e"]),  # type: ignore[attr-defined]
              lambda s: s in ("c", "d", "e"), universe)
        check(world.store, agg, agg.n.is_(None), lambda s: True, universe)  # type: ignore


def test_unknown_column_names_the_feature(world: World) -> None:
    child = world.feats.child
    with world.store.open("r"):
        with pytest.raises(FilterError, match=r"'nope'.*conf/child"):
            world.store.resolve_update(child, where=sa.column("nope") == 1)
        with pytest.raises(FilterError, match=r"'nope'.*conf/child"):
            world.store.status(child, where=sa.column("nope") == 1)


# --------------------------------------------------------------------------- random values
VALUES = st.one_of(st.none(), st.integers(0, 9))
SIDS = ["a", "b", "c", "d", "e", "f"]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    first = draw(st.dictionaries(st.sampled_from(SIDS), VALUES, min_size=1))
    second = draw(st.dictionaries(st.sampled_from(SIDS), VALUES))
    return {"first": first, "second": second, "limit": draw(st.integers(0, 9)),
            "op": draw(st.sampled_from([">", "<=", "null"])),
            "changed": draw(st.sets(st.sampled_from(SIDS)))}


def _seed(store: MetadataStore, feats: SuiteFeatures, frames: type[mx.Feature],
          sc: dict[str, Any]) -> None:
    root = feats.root
    materialize(store, root, samples=_samples(sc["first"], set()))
    for f in (feats.child, frames):
        materialize(store, f)
    inc = store.resolve_update(root, samples=_samples(sc["second"], sc["changed"]))
    assert isinstance(inc, Increment)
    if inc.to_process().height:
        store.write(root, inc.to_process())
    for sid in inc.orphaned["sid"]:
        store.delete(root, root.sid == sid)  # type: ignore[attr-defined]
    rows = store.read(root)
    if rows.height:
        store.write(root, rows.with_columns(pl.Series(
            "value", [sc["second"][s] for s in rows["sid"]], dtype=pl.Int64)))


@pytest.mark.parametrize("url", ["memory://", "duckdb:///:memory:"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=scenarios())
def test_random_values_cross_a_threshold(url: str, sc: dict[str, Any]) -> None:
    """Random stored/current values and a threshold, on both compilers (Polars and SQL): each
    sample is classified as the unfiltered increment classifies it when the Python rule selects
    it, and is never orphaned while it exists upstream."""
    limit, op = sc["limit"], sc["op"]
    pred: Callable[[Any], bool] = {
        ">": lambda v: v is not None and v > limit,
        "<=": lambda v: v is not None and v <= limit,
        "null": lambda v: v is None}[op]
    first, second = sc["first"], sc["second"]

    def scope(sid: str) -> bool:
        return pred(second[sid]) if sid in second else pred(first[sid])

    with mx.FeatureGraph.isolated():
        feats = define_suite_features()
        frames = _frames_feature(feats)
        store = make_store(url)
        with store.open("w"):
            _seed(store, feats, frames, sc)
            for f in (feats.child, frames):
                col = f.value  # type: ignore[attr-defined]
                where = {">": col > limit, "<=": col <= limit, "null": col.is_(None)}[op]
                check(store, f, where, scope, set(first) | set(second), frozenset(second))
