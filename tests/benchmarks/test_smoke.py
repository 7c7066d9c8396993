"""CI smoke test of the benchmarks: the 10k configuration, one round, correctness only.

Every round checks its increments inside :func:`benchmarks.worker.run_round` (all-new count,
exactly the mutated 10% stale with the right stale fields, status counts, and that the
hand-written limit computes the same stale samples and provenance hashes). Times are never
asserted.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.run import available
from benchmarks.scenarios import SCENARIOS
from benchmarks.worker import run_round

SIZES = {"duckdb": 10_000, "memory": 10_000, "postgresql": 10_000, "sqlite": 10_000}


def _skip_unless_available(backend: str) -> None:
    why = available(backend)
    if why is None:
        return
    if backend == "postgresql" and os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {why}")
    pytest.skip(f"{backend}: {why}")


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("backend", list(SIZES))
def test_benchmark_round_increments_are_correct(backend: str, scenario: str) -> None:
    _skip_unless_available(backend)
    result = run_round(backend, scenario, SIZES[backend])
    steps = result["steps"]
    assert {"write", "append", "resolve_new", "resolve_stale", "status"} <= set(steps)
    assert steps["resolve_stale"]["rows"] == SIZES[backend] // 10 // (
        10 if scenario in ("aggregation", "expansion") else 1)
    assert any("exactly the" in c for c in result["checks"])
    if scenario != "chain" and backend != "sqlite":  # SQLite has no hand-written limit
        assert "limit_resolve_full" in steps
        assert "limit computes the same stale samples and provenance hashes" in result["checks"]
    if scenario in ("simple", "wide") and backend in ("duckdb", "postgresql"):
        assert {"limit_resolve", "limit_write", "limit_write_pk"} <= set(steps)
        assert "narrow limit computes the same stale samples and provenance hashes" \
            in result["checks"]


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
@pytest.mark.parametrize("depth", [1, 3])
def test_history_depth_round(backend: str, depth: int) -> None:
    """``--depths``: every sample written ``depth`` times before the measured resolve; the
    increments and both limits stay correct at any depth."""
    _skip_unless_available(backend)
    result = run_round(backend, "wide", 2000, depth=depth)
    steps = result["steps"]
    assert result["depth"] == depth
    assert ("append" in steps) == (depth >= 2)
    assert ("append_more" in steps) == (depth >= 3)
    if depth >= 3:
        assert steps["append_more"]["rows"] == 2 * 2000 * (depth - 2)
        assert steps["write_leaf_more"]["rows"] == 2000 * (depth - 1)
    assert "narrow limit computes the same stale samples and provenance hashes" \
        in result["checks"]


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_write_pairs_store_the_raw_loads_rows(backend: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The alternating write-vs-raw-load run: metaxy's hashes (DuckDB: computed in SQL) equal the
    raw load's (computed by polars-hash), row for row; it raises otherwise."""
    from benchmarks.write_pairs import main

    _skip_unless_available(backend)
    main(["--backend", backend, "--scenario", "wide", "--n", "2000", "--reps", "2", "--with-pk"])
    out = capsys.readouterr().out
    assert out.count("rep ") == 4 and "median write" in out and "no pk / pk" in out


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_write_pairs_of_a_leaf_store_the_raw_loads_rows(
        backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The same for the leaf (its state verifies its inputs): equal hashes, both ratios."""
    from benchmarks.write_pairs import main

    _skip_unless_available(backend)
    main(["--backend", backend, "--scenario", "simple", "--n", "2000", "--reps", "1",
          "--feature", "leaf"])
    out = capsys.readouterr().out
    assert "simple leaf n=2,000: median write" in out and "process CPU: write" in out


def test_write_profile_of_a_leaf_times_the_state_statements(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The profile of a leaf's writes names the state's statements: an INSERT into the empty
    state (no DELETE), then DELETE + INSERT for the append."""
    from benchmarks.write_profile import main

    main(["--backend", "duckdb", "--scenario", "simple", "--n", "2000", "--feature", "leaf"])
    out = capsys.readouterr().out
    first, append = out.split("append (every sample again)")
    assert "state upsert" in first and "SQL Insert" in first and "SQL Delete" not in \
        first.split("state upsert")[1].split("statistics(state)")[0]
    assert "SQL Delete" in append and "process CPU" in append


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_state_prototype_keeps_the_latest_rows(backend: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The latest-state prototype: both upsert variants leave the state equal to the latest
    rows of the history (it raises otherwise)."""
    from benchmarks.state_proto import main

    _skip_unless_available(backend)
    main(["--backend", backend, "--n", "2000", "--reps", "1"])
    out = capsys.readouterr().out
    assert "rep 0:" in out and "upsert of 10%" in out


def test_pg_state_upsert_variants_keep_the_appended_rows(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The PostgreSQL state-upsert A/B: after the append of every sample, both the store's
    statement and the earlier ``ON CONFLICT`` leave the state at the append's rows (it raises
    otherwise)."""
    from benchmarks.pg_state_upsert import main

    _skip_unless_available("postgresql")
    main(["--n", "500", "--reps", "1"])
    out = capsys.readouterr().out
    assert "| store |" in out and "| on_conflict |" in out


def test_pg_session_ab_runs_every_step_on_both_sides(capsys: pytest.CaptureFixture[str]) -> None:
    """The PostgreSQL session-settings A/B: every step on both sides at two depths (resolve
    checks its increment against the mutated samples; it raises otherwise)."""
    from benchmarks.pg_session_ab import main

    _skip_unless_available("postgresql")
    main(["--n", "500", "--depths", "1,2", "--reps", "1", "--vacuum",
          "--steps", "resolve,status,write_10pct,write_all"])
    out = capsys.readouterr().out
    assert "write_all" in out and "depth 1 -> 2, resolve: A" in out
