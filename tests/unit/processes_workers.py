"""Workers for test_testing_processes (a module the spawned processes can import)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def touch_after_barrier(folder: str, index: int, barrier: Any) -> None:
    barrier.wait(timeout=30)
    (Path(folder) / f"w{index}").write_text("done", encoding="utf-8")


def fail_on_odd(index: int, barrier: Any) -> None:
    barrier.wait(timeout=30)
    if index % 2:
        raise ValueError(f"worker {index} refuses")


def sleep_forever(barrier: Any) -> None:
    barrier.wait(timeout=30)
    time.sleep(3600)
