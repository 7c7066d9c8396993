"""The writer actor behind :class:`~metaxy_ray.MetaxyDatasink`: one open store, one write at a
time, and a memory of the blocks it committed so that a retried block is not written twice.

A block is identified by a digest of its samples (id columns and provenance, order-independent),
so a retried task that recomputes a block (even with a non-deterministic function) produces the
same key. Each block is written with ``materialization_id = "<run>/<block key>"``; a writer that Ray
restarted after its process died (its memory lost) looks the key up in the store's history before
writing, so a block committed just before the crash is not written again either.

With ``WriterJob.commit_rows`` (the sink's default for a DuckDB or SQLite file) the write tasks
hand their batches to the job's holder instead (:mod:`metaxy_ray.staging`) and the writer commits
up to ``commit_rows`` held rows per transaction, stored with
``materialization_id = "<run>/<key>+<key>+..."``. A restarted writer then reads the keys of its
run once, from the rows written since the job started, instead of looking each batch up.
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
import ray
import xxhash

from metaxy import columns as C
from metaxy_ray.errors import WriteFailedError
from metaxy_ray.read import PART_COLUMN
from metaxy_ray.staging import FlushResult
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
"""Batches a staged commit joins at most (their keys make up the rows' materialization id)."""
MAX_IN_FLIGHT = 2
"""Batches a write task has handed to writers and not yet seen committed."""
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


def _frame(table: pa.Table) -> pl.DataFrame:
    """A batch as the frame the store writes (the increment-only columns dropped)."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.drop([c for c in _DROP if c in frame.columns])


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
    """Staged commits of up to this many rows, from the holder (0: each batch is one
    transaction, committed before its task goes on)."""
    holder: Any = None
    """The job's :class:`~metaxy_ray.staging.Holder` actor (staged commits only)."""
    started_at: datetime | None = None
    """When the driver started the job (UTC): a restarted writer reads its run's keys from the
    rows written since (minus :data:`RECOVERY_MARGIN`)."""


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
        self._failed: list[dict[str, Any]] = []
        self._failed_keys: set[str] = set()
        self._errors: list[str] = []
        self._lock = threading.RLock()
        """Held for every use of the store: the actor runs its calls in threads."""
        self._staging = threading.Lock()
        """Held while taking batches from the holder and committing them (one at a time)."""

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
        if job.commit_rows > 0 and recovered:  # one read of the run's keys, not one per batch
            self._committed = self._run_keys(job)
            self._recovered = False

    def _ensure(self, job: WriterJob) -> None:
        """Hold ``job``'s store; a call for another job means Ray restarted the writer."""
        with self._lock:
            if self._job is None or self._job.job_id != job.job_id:
                self._open(job, recovered=True)

    def write(self, job: WriterJob, table: pa.Table, key: str) -> BlockResult:
        """Write one batch in one transaction (``key``: its :func:`block_key`).

        ``on_error="raise"``: a failure raises :class:`WriteFailedError` (nothing of the batch
        is written). ``"collect"``: a failed batch is split in halves, each written in its own
        transaction, recursively, so that only the bad rows are reported (and the others
        written); see :data:`MAX_SPLIT_FAILURES`."""
        self._ensure(job)
        frame = _frame(table)
        with self._lock:
            self._ensure(job)
            if job.on_error == "raise":
                try:
                    return self._write_once(job, frame, key)
                except Exception as e:
                    raise WriteFailedError(self._message(job, frame, e)) from e
            return self._isolate(job, frame, key, [MAX_SPLIT_FAILURES])

    # ------------------------------------------------------------------ staged commits
    def nudge(self, job: WriterJob) -> None:
        """Commit held batches while the holder holds a transaction's worth (a write task
        calls this after handing in a batch that filled one; it waits for the commits)."""
        self._ensure(job)
        with self._staging:
            while ray.get(job.holder.held_rows.remote(job.job_id)) >= job.commit_rows:
                self._commit_held(job)

    def flush(self, job: WriterJob) -> FlushResult:
        """Commit every batch still held (the driver, once all write tasks ended); returns the
        keys of the run in the store and the failures (``on_error="collect"``)."""
        self._ensure(job)
        with self._staging:
            while ray.get(job.holder.held_rows.remote(job.job_id)) > 0:
                self._commit_held(job)
            with self._lock:
                return FlushResult(set(self._committed), list(self._failed),
                                   set(self._failed_keys), list(self._errors))

    def _commit_held(self, job: WriterJob) -> None:
        """One transaction of the holder's oldest batches (up to ``job.commit_rows`` rows); a
        failed one is retried batch by batch, as :meth:`write` writes a batch."""
        taken = ray.get(job.holder.take.remote(job.job_id, job.commit_rows,
                                               MAX_BATCHES_PER_COMMIT))
        with self._lock:
            self._ensure(job)
            assert self._store is not None
            todo = [(key, refs[0]) for key, refs in taken
                    if key not in self._committed and key not in self._failed_keys]
            frames = [_frame(t) for t in ray.get([ref for _, ref in todo])]
            keys = [key for key, _ in todo]
            try:
                if frames:
                    frame = frames[0] if len(frames) == 1 else pl.concat(
                        frames, how="vertical_relaxed", rechunk=False)
                    self._store.write(job.feature, frame, materialization_id=(
                        f"{job.run_id}/{KEY_SEPARATOR.join(keys)}"))
                    self._committed.update(keys)
            except Exception as e:  # nothing was written: each batch alone, as write() does
                alone = e if len(frames) == 1 else None
                for key, frame in zip(keys, frames, strict=True):
                    if job.on_error == "raise":
                        try:
                            if alone is not None:
                                raise alone from None
                            self._write_once(job, frame, key)
                        except Exception as err:
                            raise WriteFailedError(self._message(job, frame, err)) from err
                        continue
                    out = self._isolate(job, frame, key, [MAX_SPLIT_FAILURES], alone)
                    if out.failed or out.errors:
                        self._failed.extend(out.failed)
                        self._errors.extend(out.errors)
                        self._failed_keys.add(key)
                    else:
                        self._committed.add(key)
        ray.get(job.holder.release.remote(job.job_id, [key for key, _ in taken]))

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
            self._failed, self._failed_keys, self._errors = [], set(), []
