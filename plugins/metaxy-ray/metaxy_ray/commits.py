"""Group commit: batches handed in at about the same time by several callers, written in one
transaction.

A DuckDB file has one writer, and each of its transactions has a cost of its own (measured in
docs/how-to/ray.md: a 1M-row job written as four transactions closes with a checkpoint of
seconds, written as one or two it does not). The writer actor runs its calls in threads; each
call hands its batch to a :class:`GroupCommitter` and *waits until the batch is committed*, so a
write task finishes only once its rows are in the store and Ray's retry of a task (or of the
writer's call) still covers every uncommitted row: nothing is acknowledged before it is durable.

The committer joins the waiting batches and commits them together when one of these holds:

* they reach ``max_rows`` rows or ``max_batches`` batches (the memory the group holds is
  bounded by ``max_rows`` plus one batch);
* every write task the writer knows of is blocked (it has ``in_flight`` batches waiting, or has
  sent all its batches and waits for them), there are as many of them as the most that ran at
  once so far in the job, and the oldest batch has waited ``min_wait_s`` seconds. No more rows
  can come before a commit, so waiting longer would only add idle time. The short minimum and
  the expected count (``expected_tasks``, before the first tasks came) let the tasks that Ray
  Data starts some tens or hundreds of milliseconds apart announce themselves; the peak count
  lets the tasks it starts when the previous ones finished join the next group (without these,
  the benchmark's write tasks each committed alone). Tasks
  announce themselves (:meth:`GroupCommitter.enter`) and say how many batches they sent once
  done (:meth:`GroupCommitter.leave`);
* the oldest has waited ``max_wait_s`` seconds, or as long as the previous group's commit took
  if that is shorter: a task that computes slowly or died, or the end of the job with fewer
  tasks than the peak, holds the group back no longer, and never for longer than the
  transaction the wait might save (so a compute-bound job's tasks wait for the writer at most
  about twice as long as they would without grouping).

Which batches share a transaction changes nothing but the number of transactions: every batch
is committed exactly once, whole, before its caller returns.

One group commits at a time; batches arriving meanwhile form the next group. If a group's commit
fails, every batch of it is handed back to its caller as failed, to be written alone (where a
failure is reported or bisected exactly as without grouping): the failed transaction wrote
nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import polars as pl


class Outcome(Enum):
    """What became of a batch handed to :meth:`GroupCommitter.submit`."""

    COMMITTED = "committed"
    """Written, in one transaction with the rest of its group."""
    FAILED = "failed"
    """Its group's transaction failed (nothing of it was written): write the batch alone."""
    DUPLICATE = "duplicate"
    """A batch with the same key was already waiting or committing (a retried call): it has
    finished now; look the key up again."""


@dataclass(eq=False)
class Pending:
    """A batch waiting in the committer."""

    frame: pl.DataFrame
    key: str
    outcome: Outcome | None = None
    error: BaseException | None = None
    """The group's error, when the group was this batch alone (no need to try it again)."""
    task: object = None
    """The write task that handed it in (``None``: not known)."""


CommitFn = Callable[[list[Pending]], None]
"""Writes the batches in one transaction (raises if that failed, having written nothing)."""


@dataclass
class _Task:
    """What the committer knows of one write task."""

    arrived: int = 0
    """Its batches handed in so far."""
    waiting: int = 0
    """Its batches in the committer, not committed yet."""
    sent: int | None = None
    """How many batches it sent in all (once it said so)."""


class GroupCommitter:
    """Joins concurrently submitted batches into group commits (see the module docstring)."""

    def __init__(self, commit: CommitFn, *, max_rows: int, max_batches: int, in_flight: int,
                 max_wait_s: float, min_wait_s: float = 0.0, expected_tasks: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._commit = commit
        self.max_rows, self.max_batches = max_rows, max_batches
        self.in_flight, self.max_wait_s = in_flight, max_wait_s
        self.min_wait_s = min(min_wait_s, max_wait_s)
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: list[Pending] = []
        self._held_rows = 0
        self._first_at = 0.0
        self._committing: list[Pending] = []
        self._tasks: dict[object, _Task] = {}
        self._peak = expected_tasks
        """The most write tasks known at once so far (at first: how many are expected to run at
        once, so that the first group waits for the tasks Ray starts last)."""
        self._last_commit_s: float | None = None
        self.commits = 0
        """Group transactions attempted."""
        self.callers = 0
        """Calls of :meth:`submit` that have not returned yet."""

    def enter(self, task: object) -> None:
        """A write task started (a retried task starts afresh): batches may come from it."""
        with self._cond:
            known = self._tasks.get(task)
            self._tasks[task] = _Task(waiting=known.waiting if known else 0)
            self._peak = max(self._peak, len(self._tasks))
            self._cond.notify_all()

    def leave(self, task: object, sent: int) -> None:
        """A write task sent all its batches, ``sent`` in all (they may arrive after this)."""
        with self._cond:
            self._tasks.setdefault(task, _Task()).sent = sent
            self._forget_if_done(task)
            self._cond.notify_all()

    def skipped(self, task: object) -> None:
        """A batch of ``task`` arrived that needs no commit (already committed: a retry)."""
        with self._cond:
            state = self._tasks.get(task)
            if state is not None:
                state.arrived += 1
                self._forget_if_done(task)
                self._cond.notify_all()

    def submit(self, frame: pl.DataFrame, key: str, task: object = None) -> Pending:
        """Hand in a batch (of ``task``, if given) and wait until its group committed or failed
        (or, for a key already waiting or committing, until that batch finished:
        :attr:`Outcome.DUPLICATE`)."""
        with self._cond:
            self.callers += 1
            try:
                return self._submit(frame, key, task)
            finally:
                self.callers -= 1

    def _submit(self, frame: pl.DataFrame, key: str, task: object) -> Pending:
        """:meth:`submit`, holding the condition."""
        state = None if task is None else self._tasks.setdefault(task, _Task())
        if state is not None:
            state.arrived += 1
        twin = next((p for p in (*self._waiting, *self._committing) if p.key == key), None)
        if twin is not None:
            while twin.outcome is None:
                self._cond.wait()
            self._forget_if_done(task)
            return Pending(frame, key, Outcome.DUPLICATE)
        mine = Pending(frame, key, task=task)
        if state is not None:
            state.waiting += 1
        if not self._waiting:
            self._first_at = self._clock()
        self._waiting.append(mine)
        self._held_rows += frame.height
        self._cond.notify_all()
        while mine.outcome is None:
            wait = self._due()
            if self._committing or wait > 0:
                self._cond.wait(timeout=None if self._committing else wait)
                continue
            self._run_group()
        return mine

    def _due(self) -> float:
        """Seconds until the waiting batches are due to commit (0: now)."""
        if self._held_rows >= self.max_rows or len(self._waiting) >= self.max_batches:
            return 0.0
        waited = self._clock() - self._first_at
        if len(self._tasks) >= self._peak and all(self._blocked(t) for t in self._tasks.values()):
            return max(0.0, self.min_wait_s - waited)
        limit = self.max_wait_s if self._last_commit_s is None else max(
            self.min_wait_s, min(self.max_wait_s, self._last_commit_s))
        return max(0.0, limit - waited)

    def _blocked(self, task: _Task) -> bool:
        """The task cannot hand in another batch before one of its batches is committed."""
        return task.waiting >= self.in_flight or (
            task.waiting > 0 and task.sent is not None and task.arrived >= task.sent)

    def _forget_if_done(self, task: object) -> None:
        state = self._tasks.get(task)
        if state is not None and state.sent is not None and state.arrived >= state.sent \
                and state.waiting == 0:
            del self._tasks[task]

    def _run_group(self) -> None:
        """Commit the waiting batches (called holding the condition; releases it meanwhile)."""
        group, self._waiting, self._held_rows = self._waiting, [], 0
        self._committing = group
        self.commits += 1
        error: BaseException | None = None
        ok = False
        started = self._clock()
        self._cond.release()
        try:
            self._commit(group)
            ok = True
        except Exception as e:  # reported per batch by the callers, each writing alone
            error = e
        finally:
            self._cond.acquire()
            self._last_commit_s = self._clock() - started
            for p in group:
                p.outcome = Outcome.COMMITTED if ok else Outcome.FAILED
                p.error = error if len(group) == 1 else None
                state = self._tasks.get(p.task)
                if state is not None:
                    state.waiting -= 1
                    self._forget_if_done(p.task)
            self._committing = []
            self._cond.notify_all()
