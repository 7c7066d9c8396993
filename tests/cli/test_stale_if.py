"""``--stale-if`` (issue 18, item 2): custom staleness rules on status, plan, resolve, explain."""

from __future__ import annotations

import pytest

from tests.cli.conftest import one_line_error, run, run_json

pytestmark = pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
RULE = "video_id in ('v0001', 'v0002')"


def test_status_and_resolve_count_the_matched_samples(populated: str) -> None:
    [st] = run_json("status", "speech/transcript", "--store", populated,
                    "--stale-if", RULE)["features"]
    assert (st["stale"], st["up_to_date"]) == (2, 8)
    plain = run_json("status", "speech/transcript", "--store", populated)["features"][0]
    assert plain["stale"] == 0
    out = run_json("resolve", "speech/transcript", "--store", populated,
                   "--stale-if", "speech/transcript: video_id == 'v0003'")
    assert out["counts"] == {"new": 0, "stale": 1, "orphaned": 0}
    [row] = out["rows"]
    assert (row["video_id"], row["metaxy_stale_reason"]) == ("v0003", "stale_if")


def test_plan_takes_rules_per_feature(populated: str) -> None:
    rows = {r["feature"]: r for r in run_json(
        "plan", "--store", populated, "--stale-if", f"speech/transcript: {RULE}")["features"]}
    assert rows["speech/transcript"]["status"]["stale"] == 2
    assert rows["speech/transcript"]["stale_fields"] == {"text": 2}
    assert rows["speech/keywords"]["status"]["stale"] == 0  # only its upstream is ruled stale
    error = one_line_error(run("plan", "--store", populated, "--stale-if", RULE, ok=False))
    assert "FEATURE:FILTER" in error
    error = one_line_error(run("status", "--store", populated, "--stale-if",
                               "speech/transcript: nope == 1", ok=False))
    assert "nope" in error


def test_explain_names_the_rule(populated: str) -> None:
    [ex] = run_json("explain", "speech/transcript", "v0001", "--store", populated,
                    "--stale-if", RULE)
    assert ex["state"] == "stale"
    [cause] = ex["causes"]
    assert cause["kind"] == "stale_if" and RULE in cause["message"]
    text = run("explain", "speech/transcript", "v0001", "--store", populated,
               "--stale-if", RULE).stdout
    assert "stale_if" in text and "staleness rule" in text
    [other] = run_json("explain", "speech/transcript", "v0005", "--store", populated,
                       "--stale-if", RULE)
    assert other["state"] == "up_to_date"
