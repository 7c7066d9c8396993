"""Conformance pack: custom staleness rules (``resolve_update(..., stale_if=...)``, issue 18).

Part of :class:`metaxy.testing.suite.StoreConformanceTests`; the fixtures come from
:class:`metaxy.testing.suite_helpers.StoreFixtures`.
"""

from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa

from metaxy import columns as C
from metaxy.errors import FilterError
from metaxy.store.base import Increment, MetadataStore
from metaxy.testing.graphs import SuiteFeatures
from metaxy.testing.suite_helpers import (
    StoreFixtures,
    by_id,
    ids,
    materialize,
    root_samples,
    stale_fields,
)


def _reasons(inc: Increment) -> dict[str, str]:
    return {r["sid"]: r[C.STALE_REASON] for r in inc.stale.to_dicts()}


class StaleIfTests(StoreFixtures):
    def test_rule_marks_matching_samples_stale(self, loaded: MetadataStore,
                                               feats: SuiteFeatures) -> None:
        child = feats.child
        with loaded.open("w"):
            loaded.write(child, loaded.resolve_update(child, stale_if=child.sid == "x")  # type: ignore[attr-defined]
                         .stale.with_columns(out=pl.lit("failed")))
            rule = child.out == "failed"  # type: ignore[attr-defined]
            inc = loaded.resolve_update(child, stale_if=rule)
            st = loaded.status(child, stale_if=rule)
            plain = loaded.status(child)
        assert stale_fields(inc) == {"x": ["a", "y"]}  # every field: the rule is per sample
        assert _reasons(inc) == {"x": "stale_if"}
        assert (st.new, st.stale, st.orphaned, st.up_to_date) == (0, 1, 0, 2)
        assert not plain.needs_work  # without the rule nothing is stale
        with loaded:  # the rule leaves the provenance alone: the expected one is the stored one
            stored = by_id(loaded.read(child))["x"]
        assert by_id(inc.stale)["x"][C.PROVENANCE] == stored[C.PROVENANCE]
        assert C.STALE_REASON not in inc.to_process().columns

    def test_rewritten_sample_no_longer_matches(self, loaded: MetadataStore,
                                                feats: SuiteFeatures) -> None:
        child = feats.child
        rule = child.value >= 1  # type: ignore[attr-defined]
        with loaded.open("w"):
            inc = loaded.resolve_update(child, stale_if=rule)
            assert ids(inc.stale) == ["y", "z"]
            # the stale rows carry the expected provenance: written back (with values that
            # no longer match), the samples are up to date again
            loaded.write(child, inc.to_process().with_columns(value=pl.lit(0)))
            again = loaded.status(child, stale_if=rule)
        assert (again.stale, again.up_to_date) == (0, 3)

    def test_rule_with_provenance_changes_new_and_orphans(self, loaded: MetadataStore,
                                                          feats: SuiteFeatures) -> None:
        child = feats.child
        with loaded.open("w"):
            materialize(loaded, feats.root, samples=root_samples(
                {"x": ("ax2", "bx"), "y": ("ay", "by"), "w": ("aw", "bw")}))
            loaded.delete(feats.root, feats.root.sid == "z")  # type: ignore[attr-defined]
            # x: stale by provenance; z: orphaned; w: new; y matched by the rule
            rule = sa.or_(child.sid == "y", child.sid == "z", child.sid == "w")  # type: ignore[attr-defined]
            inc = loaded.resolve_update(child, stale_if=rule)
            st = loaded.status(child, stale_if=rule)
            with loaded.resolve_update(child, lazy=True, stale_if=rule) as lazy:
                spooled = lazy.collect()
        assert ids(inc.new) == ["w"] and ids(inc.orphaned) == ["z"]
        assert _reasons(inc) == {"x": "provenance", "y": "stale_if"}
        assert stale_fields(inc) == {"x": ["a"], "y": ["a", "y"]}
        assert (st.new, st.stale, st.orphaned, st.up_to_date) == (1, 2, 1, 0)
        assert _reasons(spooled) == _reasons(inc)

    def test_expansion_parent_stale_when_a_child_matches(self, loaded: MetadataStore,
                                                         feats: SuiteFeatures) -> None:
        parts = feats.parts
        with loaded:
            inc = loaded.resolve_update(
                parts, stale_if=sa.and_(parts.part == 1, parts.sid != "y"))  # type: ignore[attr-defined]
            st = loaded.status(parts, stale_if=parts.part == 1)  # type: ignore[attr-defined]
        assert ids(inc.stale) == ["x", "z"]
        assert _reasons(inc) == {"x": "stale_if", "z": "stale_if"}
        assert (st.stale, st.up_to_date) == (3, 0)

    def test_rule_with_where_nulls_and_bad_rules(self, loaded: MetadataStore,
                                                 feats: SuiteFeatures) -> None:
        child = feats.child
        with loaded:
            inc = loaded.resolve_update(child, where=child.sid != "z",  # type: ignore[attr-defined]
                                        stale_if=child.value >= 1)  # type: ignore[attr-defined]
            null = loaded.status(child, stale_if=child.out != "failed")  # type: ignore[attr-defined]
            with pytest.raises(FilterError, match="SQL strings"):
                loaded.resolve_update(child, stale_if="out = 'failed'")
            with pytest.raises(FilterError):
                loaded.status(child, stale_if=sa.text("1 = 1"))
            with pytest.raises(FilterError, match="nope"):
                loaded.resolve_update(child, stale_if=sa.column("nope") == 1)
            with pytest.raises(FilterError, match="nope"):
                loaded.resolve_update(feats.parts, stale_if=sa.column("nope") == 1)
        assert ids(inc.stale) == ["y"]
        assert (null.stale, null.up_to_date) == (0, 3)  # `out` is NULL everywhere: no match
