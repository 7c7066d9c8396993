"""Random data on a few fixed graphs: every backend gives the same increments as a plain-Python,
dict-based reference model of SPEC §3-§5 (hashes from metaxy.hashing.enc / python_hash)."""

from __future__ import annotations

import itertools
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metaxy as mx
from metaxy import columns as C
from metaxy.hashing import HashSettings, enc, fq_field, python_hash
from metaxy.store.base import Increment, MetadataStore
from metaxy.testing.graphs import define_suite_features
from metaxy.testing.pytest_plugin import make_store
from metaxy.testing.suite import materialize, root_samples

H = HashSettings()
PIPELINES = {  # the fixed graphs: which features downstream of conf/root take part
    "identity": ("child",),
    "optional": ("side", "child"),
    "expansion-aggregation": ("parts", "agg"),
}
SIDS = ["a", "B", "b", "Z", "é", "a b", "10", "9"]
_counter = itertools.count()


# ------------------------------------------------------------------------- the reference model
def h_field(feature: str, field: str, parents: list[tuple[str, str, str | None]]) -> str:
    payload = enc(fq_field(feature, field)) + enc("1")
    for pf, pfield, dv in sorted(parents, key=lambda p: fq_field(p[0], p[1])):
        payload += enc(fq_field(pf, pfield)) + ("~" if dv is None else enc(dv))
    return python_hash(H, payload)


def h_root(feature: str, field: str, value: str | None) -> str:
    payload = enc(fq_field(feature, field)) + enc("1") + ("~" if value is None else enc(value))
    return python_hash(H, payload)


class Model:
    """Current rows per feature as dicts: id -> {field: provenance} (data version = provenance)."""

    def __init__(self, prefix: str) -> None:
        self.p = prefix
        self.rows: dict[str, dict[Any, dict[str, str]]] = {
            k: {} for k in ("root", "side", "child", "parts", "agg")}

    def expected(self, name: str, inputs: dict[str, tuple[str | None, str | None]] | None = None,
                 ) -> dict[Any, dict[str, str]]:
        p, root, side = self.p, self.rows["root"], self.rows["side"]
        if name == "root":
            assert inputs is not None
            return {s: {"a": h_root(f"{p}/root", "a", a), "b": h_root(f"{p}/root", "b", b)}
                    for s, (a, b) in inputs.items()}
        if name == "child":
            return {s: {"a": h_field(f"{p}/child", "a", [(f"{p}/root", "a", r["a"]),
                                                         (f"{p}/side", "a",
                                                          side.get(s, {}).get("a"))]),
                        "y": h_field(f"{p}/child", "y", [(f"{p}/root", "b", r["b"])])}
                    for s, r in root.items()}
        if name == "parts":
            return {s: {"a": h_field(f"{p}/parts", "a", [(f"{p}/root", "a", r["a"])])}
                    for s, r in root.items()}
        if name == "agg":  # members (sid, part) of each sid, two children per parent
            out = {}
            for s, r in self.rows["parts"].items():
                value = python_hash(H, enc(r["a"]) + enc(r["a"]))
                out[s] = {"total": h_field(f"{p}/agg", "total", [(f"{p}/parts", "a", value)])}
            return out
        raise KeyError(name)

    def increment(self, name: str, inputs: Any = None) -> dict[str, Any]:
        want, have = self.expected(name, inputs), self.rows[name]
        return {
            "new": {k: v for k, v in want.items() if k not in have},
            "stale": {k: (v, sorted(f for f in v if v[f] != have[k][f]))
                      for k, v in want.items() if k in have and v != have[k]},
            "orphaned": sorted(k for k in have if k not in want),
        }


def observed(inc: Increment) -> dict[str, Any]:
    def pvs(df: pl.DataFrame) -> dict[Any, dict[str, str]]:
        return {r["sid"]: r[C.PROVENANCE_BY_FIELD] for r in df.to_dicts()}

    stale = {r["sid"]: (r[C.PROVENANCE_BY_FIELD], sorted(r[C.STALE_FIELDS]))
             for r in inc.stale.to_dicts()}
    return {"new": pvs(inc.new), "stale": stale, "orphaned": sorted(inc.orphaned["sid"])}


# ------------------------------------------------------------------------------- the scenario
inputs_st = st.dictionaries(st.sampled_from(SIDS),
                            st.tuples(st.sampled_from(["x", "y", "ü", ""]) | st.none(),
                                      st.sampled_from(["x", "y"])), min_size=1, max_size=6)


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    first = draw(inputs_st)
    second = dict(first)
    for sid in draw(st.lists(st.sampled_from(sorted(first)), unique=True)):
        action = draw(st.sampled_from(["change", "delete"]))
        if action == "delete":
            del second[sid]
        else:
            second[sid] = (draw(st.sampled_from(["x2", None, "x"])),
                           draw(st.sampled_from(["y2", "x"])))
    for sid in draw(st.lists(st.sampled_from(SIDS), max_size=2)):
        second.setdefault(sid, ("new", "new"))
    return {
        "pipeline": draw(st.sampled_from(sorted(PIPELINES))),
        "first": first,
        "second": second,
        "side": {s: draw(st.sampled_from(["s1", "s2"])) for s in
                 draw(st.lists(st.sampled_from(SIDS), unique=True, max_size=4))},
        "side_change": draw(st.lists(st.sampled_from(SIDS), unique=True, max_size=2)),
    }


def run(store: MetadataStore, prefix: str, sc: dict[str, Any]) -> list[Any]:
    """Run the scenario on one store; check every increment against the model; return them."""
    feats = define_suite_features(prefix)
    names = {"root": feats.root, "side": feats.side, "child": feats.child,
             "parts": feats.parts, "agg": feats.agg}
    model = Model(prefix)
    log: list[Any] = []
    steps = PIPELINES[sc["pipeline"]]

    def side_frame(values: dict[str, str]) -> pl.DataFrame:
        return pl.DataFrame({"sid": sorted(values), C.INPUT_BY_FIELD: [
            {"a": values[s]} for s in sorted(values)]}, schema_overrides={
            C.INPUT_BY_FIELD: pl.Struct({"a": pl.Utf8}), "sid": pl.Utf8})

    def step(name: str, inputs: Any = None) -> None:
        feature = names[name]
        samples = root_samples(inputs) if name == "root" else None
        if name == "side":
            samples = side_frame(inputs)
            want = side_increment(model, prefix, inputs)
        else:
            want = model.increment(name, inputs)
        inc = store.resolve_update(feature, samples=samples)
        assert isinstance(inc, Increment)
        got = observed(inc)
        assert got == want, (store.backend, name, sc)
        log.append((name, got))
        materialize(store, feature, samples=samples)
        expected = (model.expected(name, inputs) if name != "side" else
                    {s: {"a": h_root(f"{prefix}/side", "a", v)} for s, v in inputs.items()})
        for sid in got["orphaned"]:
            store.delete(feature, feature.sid == sid)  # type: ignore[attr-defined]
        model.rows[name] = expected

    with store.open("w"):
        step("root", sc["first"])
        for name in steps:
            step(name, sc["side"] if name == "side" else None)
        step("root", sc["second"])
        if "side" in steps:
            changed = dict(sc["side"]) | {s: "s3" for s in sc["side_change"]}
            step("side", changed)
        for name in steps:
            if name != "side":
                step(name)
    return log


def side_increment(model: Model, prefix: str, values: dict[str, str]) -> dict[str, Any]:
    want = {s: {"a": h_root(f"{prefix}/side", "a", v)} for s, v in values.items()}
    have = model.rows["side"]
    return {
        "new": {k: v for k, v in want.items() if k not in have},
        "stale": {k: (v, ["a"]) for k, v in want.items() if k in have and v != have[k]},
        "orphaned": sorted(k for k in have if k not in want),
    }


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sc=scenario())
def test_random_increments_match_reference_on_every_backend(
        all_store_urls: dict[str, str], sc: dict[str, Any]) -> None:
    n = next(_counter)
    logs = {}
    for backend, url in all_store_urls.items():
        with mx.FeatureGraph.isolated():
            prefix = f"h{n}_{backend.replace('-', '_')}"  # fresh tables in shared databases
            logs[backend] = run(make_store(url), prefix, sc)
    # same increments everywhere (hashes differ only by the key prefix, so compare shapes)
    shapes = {b: [(name, sorted(g["new"]), sorted((k, v[1]) for k, v in g["stale"].items()),
                   g["orphaned"]) for name, g in log] for b, log in logs.items()}
    first = next(iter(shapes.values()))
    assert all(s == first for s in shapes.values()), shapes
