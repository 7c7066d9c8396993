"""Run workers in real processes that start their work at the same moment (concurrency tests).

Threads share one interpreter and often one connection pool; the races a store must survive
(two first writers creating a table, two migration runners) happen between processes. Workers
are spawned (no forked driver state), meet at a barrier once each is ready, and are joined with a
timeout, so a deadlock fails the test instead of hanging the suite.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable, Sequence
from typing import Any


def _run_worker(target: Callable[..., object], args: tuple[Any, ...], barrier: Any,
                errors: Any, index: int) -> None:
    try:
        target(*args, barrier)
    except BaseException:
        errors.put(f"worker {index}: {traceback.format_exc()}")
        raise SystemExit(1) from None


def run_concurrently(target: Callable[..., object], args: Sequence[tuple[Any, ...]], *,
                     timeout: float = 180.0) -> None:
    """Spawn one process per ``args`` tuple, each calling ``target(*args_i, barrier)``, and wait
    for all of them.

    ``target`` must be importable by the spawned processes (a module-level function of an
    importable module) and should call ``barrier.wait(timeout=...)`` right before the step that
    must race. Raises ``AssertionError`` with every worker's traceback when a worker failed,
    or with the pids of those still running after ``timeout`` seconds (they are terminated).
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(args))
    errors = ctx.Queue()
    procs = [ctx.Process(target=_run_worker, args=(target, a, barrier, errors, i))
             for i, a in enumerate(args)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=timeout)
    hung = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(timeout=10)
    messages = []
    while True:
        try:
            messages.append(errors.get(timeout=1))
        except queue.Empty:
            break
    if hung:
        raise AssertionError(f"workers still running after {timeout:.0f} s: {hung}")
    codes = [p.exitcode for p in procs]
    if codes != [0] * len(procs):
        raise AssertionError(f"worker exit codes {codes}\n" + "\n".join(messages))
