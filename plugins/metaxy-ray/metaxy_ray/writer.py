"""The writer actor behind :class:`~metaxy_ray.MetaxyDatasink`: one open store, one write at a
time, and a memory of the blocks it committed so that a retried block is not written twice.

A block is identified by a digest of its samples (id columns and provenance, order-independent),
so a retried task that recomputes a block (even with a non-deterministic function) produces the
same key. Each block is written with ``materialization_id = "<run>/<block key>"``; a writer that Ray
restarted after its process died (its memory lost) looks the key up in the store's history before
writing, so a block committed just before the crash is not written again either.

With ``WriterJob.commit_rows`` (the sink's default for a DuckDB or SQLite file) the writer joins
the batches that several write tasks hand it at about the same time into one transaction
(:mod:`metaxy_ray.commits`), stored with ``materialization_id = "<run>/<key>+<key>+..."``. A
restarted writer then reads the keys of its run once, from the rows written since the job
started, instead of looking each batch up.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import xxhash

from metaxy import columns as C
from metaxy_ray.commits import GroupCommitter, Outcome, Pending
from metaxy_ray.errors import WriteFailedError
from metaxy_ray.read import PART_COLUMN
from metaxy_ray.stores import StoreRef

if TYPE_CHECKING:
    from metaxy.store import MetadataStore

MAX_LISTED_IDS = 5
"""Sample ids an error message lists."""
MAX_SPLIT_FAILURES = 128
"""Failed writes a writer spends, with ``on_error="collect"``, isolating the bad rows of one
failed batch by bisection. Each bad row costs about log2(batch rows) failed writes (18 for 250k
rows), so about seven bad rows of a 250k batch are isolated exactly; past the budget the parts
still failing are reported whole (as when every row fails: a store that went away, say)."""
MAX_BATCHES_PER_COMMIT = 16
"""Batches a group commit joins at most (their keys make up the rows' materialization id)."""
MAX_IN_FLIGHT = 2
"""Batches a write task has handed to writers and not yet seen committed."""
MAX_WAIT_S = 1.0
"""A group commits at the latest once its oldest batch waited this long (sooner when every write
task is blocked; see :mod:`metaxy_ray.commits`)."""
MIN_WAIT_S = 0.1
"""... and not before its oldest batch waited this long (unless it is full): time for write tasks
started just after the first to announce themselves (the expected and peak task counts cover
most of that; a longer minimum cost more than it joined, see docs/how-to/ray.md)."""
RECOVERY_MARGIN = timedelta(hours=1)
"""How far before the job's start a restarted writer reads the store for its run's keys: rows
are stamped no earlier than their writer's clock (the store's write clock only moves a time
forward), so this is the clock difference tolerated between the driver and a writer's host."""
KEY_SEPARATOR = "+"
_KEY_COLUMNS = (C.PROVENANCE, C.PROVENANCE_BY_FIELD, C.INPUT_BY_FIELD)
_DROP = (PART_COLUMN, C.STALE_FIELDS)


def block_key(table: pa.Table, id_columns: tuple[str, ...]) -> str:
    """A digest of the block's samples: id columns and provenance, independent of row order."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame_key(frame, id_columns)


def frame_key(frame: pl.DataFrame, id_columns: tuple[str, ...]) -> str:
    """:func:`block_key` of a Polars frame."""
    cols = [c for c in (*id_columns, *_KEY_COLUMNS) if c in frame.columns]
    hashes = frame.select(cols).hash_rows(seed=0).sort()
    h = xxhash.xxh3_128()
    h.update(str(cols).encode())
    h.update(hashes.to_numpy().tobytes())
    return h.hexdigest()[:24]


def first_ids(frame: pl.DataFrame, id_columns: tuple[str, ...],
              n: int | None) -> list[dict[str, Any]]:
    """The first ``n`` (``None``: all) rows' sample ids."""
    ids = [c for c in id_columns if c in frame.columns]
    if not ids:
        return []
    selected = frame.select(ids)
    return (selected.head(n) if n is not None else selected).to_dicts()


@dataclass
class BlockResult:
    """What one ``write`` call did."""

    rows: int = 0
    skipped_rows: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WriterJob:
    """What a writer needs to write one sink's blocks (travels with every call: small)."""

    ref: StoreRef
    feature: str
    id_columns: tuple[str, ...]
    run_id: str
    job_id: str
    on_error: str
    commit_rows: int = 0
    """Join concurrent batches into transactions of up to this many rows (0: each batch is one
    transaction)."""
    started_at: datetime | None = None
    """When the driver started the job (UTC): a restarted writer reads its run's keys from the
    rows written since (minus :data:`RECOVERY_MARGIN`)."""
    expected_tasks: int = 0
    """How many write tasks the driver expects to run at once (the cluster's CPUs)."""


class Writer:
    """A writer actor's body (wrapped by ``ray.remote`` in :mod:`metaxy_ray.sink`).

    One job at a time: :meth:`begin` opens the job's store for writing, :meth:`write` writes
    blocks, :meth:`end` closes the store (the idle process is kept for the driver's next job).
    A write for a job the actor does not hold means Ray restarted it after its process died:
    it opens the job's store again and, having lost the keys it committed, checks the store's
    history for each block before writing it.
    """

    def __init__(self) -> None:
        self._job: WriterJob | None = None
        self._store: MetadataStore | None = None
        self._stack = contextlib.ExitStack()
        self._committed: set[str] = set()
        self._recovered = False
        self._committer: GroupCommitter | None = None
        self._lock = threading.RLock()
        """Held for every use of the store: the actor runs its calls in threads."""

    def pid(self) -> int:
        """The actor's process id (also: the actor is up)."""
        return os.getpid()

    def current_run(self) -> str | None:
        """The run id of the job the writer holds (``None``: idle)."""
        return self._job.run_id if self._job is not None else None

    def begin(self, job: WriterJob) -> int:
        """Open ``job``'s store for writing; returns the process id."""
        with self._lock:
            self._open(job, recovered=False)
        return os.getpid()

    def _open(self, job: WriterJob, *, recovered: bool) -> None:
        self.end()
        store = job.ref.make(load_features=True)
        self._stack.enter_context(store.open("w"))
        self._job, self._store, self._recovered = job, store, recovered
        if job.commit_rows > 0:
            self._committer = GroupCommitter(
                lambda group: self._commit_group(job, group), max_rows=job.commit_rows,
                max_batches=MAX_BATCHES_PER_COMMIT, in_flight=MAX_IN_FLIGHT,
                max_wait_s=MAX_WAIT_S, min_wait_s=MIN_WAIT_S,
                expected_tasks=job.expected_tasks)
            if recovered:  # one read of the run's keys replaces a look-up per batch
                self._committed = self._run_keys(job)
                self._recovered = False

    def _ensure(self, job: WriterJob) -> None:
        """Hold ``job``'s store; a call for another job means Ray restarted the writer."""
        with self._lock:
            if self._job is None or self._job.job_id != job.job_id:
                self._open(job, recovered=True)

    def enter(self, job: WriterJob, task: int) -> None:
        """Write task ``task`` started: with group commits, the writer waits for its batches
        (see :mod:`metaxy_ray.commits`)."""
        self._ensure(job)
        if self._committer is not None:
            self._committer.enter(task)

    def leave(self, job: WriterJob, task: int, sent: int) -> None:
        """Write task ``task`` handed in all its batches, ``sent`` in all."""
        self._ensure(job)
        if self._committer is not None:
            self._committer.leave(task, sent)

    def write(self, job: WriterJob, table: pa.Table, key: str,
              task: int | None = None) -> BlockResult:
        """Write one batch in one transaction (``key``: its :func:`block_key`; ``task``: the
        write task sending it, if it announced itself with :meth:`enter`).

        ``on_error="raise"``: a failure raises :class:`WriteFailedError` (nothing of the batch
        is written). ``"collect"``: a failed batch is split in halves, each written in its own
        transaction, recursively, so that only the bad rows are reported (and the others
        written); see :data:`MAX_SPLIT_FAILURES`. With ``job.commit_rows`` the batch first
        waits to be committed together with the batches other calls hand in meanwhile; if that
        transaction fails, the batch is written alone as above."""
        self._ensure(job)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.drop([c for c in _DROP if c in frame.columns])
        tried: Exception | None = None
        committer = self._committer
        if committer is not None and job.commit_rows > 0:
            with self._lock:
                if key in self._committed:
                    committer.skipped(task)
                    return BlockResult(skipped_rows=frame.height)
            pending = committer.submit(frame, key, task)
            if pending.outcome is Outcome.COMMITTED:
                return BlockResult(rows=frame.height)
            if isinstance(pending.error, Exception):
                tried = pending.error  # the group was this batch alone: no need to try again
        with self._lock:
            self._ensure(job)
            if job.on_error == "raise":
                try:
                    if tried is not None:
                        raise tried
                    return self._write_once(job, frame, key)
                except Exception as e:
                    raise WriteFailedError(self._message(job, frame, e)) from e
            return self._isolate(job, frame, key, [MAX_SPLIT_FAILURES], tried)

    def _commit_group(self, job: WriterJob, group: list[Pending]) -> None:
        """One transaction for the batches of a group (see :mod:`metaxy_ray.commits`)."""
        with self._lock:
            if self._job is not job or self._store is None:
                raise RuntimeError("the writer's job ended before the batches were committed")
            frames = [p.frame for p in group]
            frame = frames[0] if len(frames) == 1 else pl.concat(
                frames, how="vertical_relaxed", rechunk=False)
            keys = KEY_SEPARATOR.join(p.key for p in group)
            self._store.write(job.feature, frame, materialization_id=f"{job.run_id}/{keys}")
            self._committed.update(p.key for p in group)

    def _run_keys(self, job: WriterJob) -> set[str]:
        """The batch keys of ``job``'s run found in the store (rows written since the job
        started, less :data:`RECOVERY_MARGIN`; every row if the start is not known)."""
        assert self._store is not None
        cls = self._store.feature(job.feature)
        column = cls.__table__.c[C.UPDATED_AT]  # type: ignore[attr-defined]
        since = None if job.started_at is None else column >= job.started_at - RECOVERY_MARGIN
        rows = self._store.read(cls, where=since, with_history=True, include_deleted=True)
        prefix = f"{job.run_id}/"
        ids = rows.get_column(C.MATERIALIZATION_ID).drop_nulls().unique()
        keys: set[str] = set()
        for mid in ids.filter(ids.str.starts_with(prefix)).to_list():
            keys.update(mid[len(prefix):].split(KEY_SEPARATOR))
        return keys

    def _write_once(self, job: WriterJob, frame: pl.DataFrame, key: str) -> BlockResult:
        """One transaction, unless the batch was already committed (a retried block)."""
        assert self._store is not None
        if key in self._committed or (self._recovered and self._in_store(job, key)):
            self._committed.add(key)
            return BlockResult(skipped_rows=frame.height)
        rows = self._store.write(job.feature, frame, materialization_id=f"{job.run_id}/{key}")
        self._committed.add(key)
        return BlockResult(rows=rows)

    def _isolate(self, job: WriterJob, frame: pl.DataFrame, key: str,
                 budget: list[int], tried: Exception | None = None) -> BlockResult:
        """Write ``frame``; if that fails, bisect it (``budget[0]``: failed writes left;
        ``tried``: the error of a write of ``frame`` already attempted).

        Each part is keyed by its own samples (:func:`frame_key`), so a retried block that is
        bisected again skips the parts already committed."""
        try:
            if tried is not None:
                raise tried
            return self._write_once(job, frame, key)
        except Exception as e:
            if frame.height == 1 or budget[0] <= 0:
                return BlockResult(failed=first_ids(frame, job.id_columns, None),
                                   errors=[self._message(job, frame, e)])
            budget[0] -= 1
        half = frame.height // 2
        out = BlockResult()
        for part in (frame.slice(0, half), frame.slice(half)):
            r = self._isolate(job, part, frame_key(part, job.id_columns), budget)
            out.rows += r.rows
            out.skipped_rows += r.skipped_rows
            out.failed.extend(r.failed)
            out.errors.extend(r.errors)
        return out

    @staticmethod
    def _message(job: WriterJob, frame: pl.DataFrame, e: Exception) -> str:
        listed = first_ids(frame, job.id_columns, MAX_LISTED_IDS)
        return (f"feature '{job.feature}': writing a block of {frame.height} row(s) failed; "
                f"first failing sample ids: {listed}; cause: {e}")

    def _in_store(self, job: WriterJob, key: str) -> bool:
        assert self._store is not None
        cls = self._store.feature(job.feature)
        column = cls.__table__.c[C.MATERIALIZATION_ID]  # type: ignore[attr-defined]
        found = self._store.read(cls, where=column == f"{job.run_id}/{key}", with_history=True,
                                 include_deleted=True)
        return found.height > 0

    def end(self) -> None:
        """Close the job's store (idempotent); the writer is idle afterwards."""
        with self._lock:
            self._stack.close()
            self._stack = contextlib.ExitStack()
            self._job, self._store, self._committed, self._recovered = None, None, set(), False
            self._committer = None
