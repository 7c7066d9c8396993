"""metaxy.testing.processes: every worker runs, a failure carries its traceback, a hang fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaxy.testing.processes import run_concurrently
from tests.unit.processes_workers import fail_on_odd, sleep_forever, touch_after_barrier


def test_every_worker_runs(tmp_path: Path) -> None:
    run_concurrently(touch_after_barrier, [(str(tmp_path), i) for i in range(3)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w0", "w1", "w2"]


def test_a_failed_worker_fails_with_its_traceback() -> None:
    with pytest.raises(AssertionError) as info:
        run_concurrently(fail_on_odd, [(i,) for i in range(2)])
    assert "exit codes [0, 1]" in str(info.value)
    assert "ValueError: worker 1 refuses" in str(info.value)


def test_a_hung_worker_is_terminated_and_fails() -> None:
    with pytest.raises(AssertionError, match="still running after 2 s"):
        run_concurrently(sleep_forever, [()], timeout=2)
