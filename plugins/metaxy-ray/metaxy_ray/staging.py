"""Staged commits: the single writer of a DuckDB or SQLite file commits many write tasks' batches
in one transaction, without any task waiting for the others.

A store's transaction has a cost of its own, beyond its rows (on DuckDB its latest-state upkeep
grows with the table, and several transactions leave a checkpoint for the store's closing;
measured in docs/performance-history.md, "Ray Data II"): a 1M-row job committed as four 250k-row
transactions costs the store markedly more than one 1M-row write. Joining the batches of
concurrent tasks into one transaction while each task waits for it (the previous "group
commit") left the writer idle between task generations, which cost more than the transactions
it saved.

So a write task does not wait for its rows' commit. It hands each batch to the job's
:class:`Holder`, a small actor that copies the batch into Ray's object store (owning the copy)
and keeps it until the writer reports it committed; the task then goes on. The writer
(:meth:`metaxy_ray.writer.Writer.nudge`) takes up to ``rows_per_commit`` held rows per
transaction whenever that many are held, and everything that is left when the driver finishes
the job (:meth:`metaxy_ray.writer.Writer.flush`, from ``on_write_complete``); a task that finds
a full transaction's worth held waits for the writer (the memory held stays about two
transactions' worth plus the batches in flight).

What Ray's retries need still holds, because the rows live outside both the task and the writer
until they are committed:

* a task that dies after handing in a batch is retried; its batch has the same key
  (:func:`metaxy_ray.writer.block_key`) and the holder, which remembers every key of the job,
  keeps it once;
* a writer that dies is restarted by Ray, which retries its running call; the new process reads
  the keys its run already committed from the store (the rows' ``metaxy_materialization_id``,
  ``"<run>/<key>+<key>..."``) and takes the rest from the holder again;
* the driver checks at the end that every key a task handed in was committed (or, with
  ``on_error="collect"``, reported failed): a holder that died with rows in it fails the job
  with an error, never a silent loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import ray


@dataclass(frozen=True)
class Handed:
    """What a write task reports for one batch it handed to the holder."""

    key: str
    rows: int
    known: bool
    """The holder already had the key (a retried task's batch): not held twice."""


@dataclass
class FlushResult:
    """What the writer did for a staged job, as far as it knows (see :meth:`Writer.flush`)."""

    committed: set[str] = field(default_factory=set)
    """Keys of the job's batches in the store."""
    failed: list[dict[str, Any]] = field(default_factory=list)
    failed_keys: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class Holder:
    """An actor's body: one job's handed-in batches, kept in Ray's object store until committed.

    Each batch is copied into an object this actor owns (``ray.put``), so it outlives the task
    that computed it and the writer that commits it. Calls run one at a time (no threads)."""

    def __init__(self) -> None:
        self._job = ""
        self._held: dict[str, tuple[int, list[Any]]] = {}
        self._order: list[str] = []
        self._seen: set[str] = set()
        self._held_total = 0

    def start(self, job_id: str) -> None:
        """Forget the previous job (an idle holder is reused)."""
        self._job, self._held, self._order, self._seen, self._held_total = job_id, {}, [], set(), 0

    def keep(self, job_id: str, key: str, table: pa.Table) -> tuple[bool, int]:
        """Hold ``table`` under ``key``; returns (the key was known already, rows held)."""
        self._check(job_id)
        if key in self._seen:
            return True, self._held_total
        self._seen.add(key)
        self._held[key] = (table.num_rows, [ray.put(table)])
        self._order.append(key)
        self._held_total += table.num_rows
        return False, self._held_total

    def held_rows(self, job_id: str) -> int:
        self._check(job_id)
        return self._held_total

    def take(self, job_id: str, max_rows: int, max_batches: int) -> list[tuple[str, list[Any]]]:
        """The oldest held batches, at least one, up to ``max_rows`` rows and ``max_batches``
        batches; they stay held until :meth:`release`."""
        self._check(job_id)
        out: list[tuple[str, list[Any]]] = []
        rows = 0
        for key in self._order:
            n, ref = self._held[key]
            if out and (rows + n > max_rows or len(out) >= max_batches):
                break
            out.append((key, ref))
            rows += n
        return out

    def release(self, job_id: str, keys: list[str]) -> None:
        """The batches are committed (or reported failed): drop them."""
        self._check(job_id)
        for key in keys:
            held = self._held.pop(key, None)
            if held is not None:
                self._held_total -= held[0]
        gone = set(keys)
        self._order = [k for k in self._order if k not in gone]

    def _check(self, job_id: str) -> None:
        if job_id != self._job:
            # a holder restarted by Ray lost its batches: say so rather than start empty
            raise RuntimeError(f"the holder of job {job_id} lost its batches (it holds "
                               f"{self._job or 'no job'})")
