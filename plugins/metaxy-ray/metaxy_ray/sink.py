"""Writing a Ray dataset back into a metaxy store: :class:`MetaxyDatasink`.

Write tasks never open the store. They hand each block to one of a fixed set of writer actors
(:mod:`metaxy_ray.writer`), each holding one open store for the whole job, so the number of
concurrent writers is bounded whatever Ray Data's parallelism: exactly one for a DuckDB or SQLite
file (placed on the driver's node, where the file is), ``writers`` for a server database. The
write tasks of a file database hand their batches to a holder actor and go on; its writer commits
them in transactions of up to ``rows_per_commit`` rows (:mod:`metaxy_ray.staging`). A server
database's writers commit each batch while its task waits.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
import pyarrow as pa
import ray
from ray.data import Datasink
from ray.data.block import Block, BlockAccessor
from ray.data.datasource import WriteResult
from ray.exceptions import RayActorError

from metaxy_ray.errors import RayIntegrationError, WriteFailedError
from metaxy_ray.staging import FlushResult, Handed, Holder
from metaxy_ray.stores import SINGLE_WRITER_BACKENDS, StoreRef, check_shareable
from metaxy_ray.writer import MAX_IN_FLIGHT, BlockResult, Writer, WriterJob, block_key

if TYPE_CHECKING:
    from ray.data._internal.execution.interfaces import TaskContext

    from metaxy import Feature

OnError = Literal["raise", "collect"]
DEFAULT_WRITERS = 2
"""Writers for a server database when ``writers`` is not given (see docs/how-to/ray.md: on the
benchmark machine a second writer gains, more do not)."""
ROWS_PER_WRITE = 250_000
"""Rows a write transaction gathers (from a write task's blocks) when ``rows_per_write`` is not
given: small blocks (``map_batches`` makes blocks of its batch size) would otherwise each pay a
transaction, and a store's write has a per-transaction cost that grows with the table (measured
in docs/how-to/ray.md)."""
DEFAULT_ROWS_PER_COMMIT = 1_000_000
"""Rows per transaction of the single writer of a DuckDB or SQLite file when ``rows_per_commit``
is not given: fewer, larger transactions cost the store less (its latest-state upkeep and the
checkpoint at closing; docs/how-to/ray.md), and the batches wait in the holder meanwhile, so
Ray's object store holds about two transactions' worth."""
MAX_CALLS = 8
"""Calls a writer actor runs at a time (threads); further calls wait in Ray's queue, their
batches in the object store."""
ACTOR_RETRIES = 3
"""Restarts of a writer whose process died, and retries of the write it was running."""

MAX_IDLE_WRITERS = 4
"""Idle writer processes the driver keeps (per placement) for its next jobs."""

logger = logging.getLogger("ray.data.metaxy")


class _WriterPool:
    """The driver's writer actors, kept between jobs so that a job does not pay for starting
    processes (and importing metaxy and the drivers) again. Writers for a file database are
    pinned to the driver's node. Idle writers hold no connection; they die with the driver (or
    ``ray.shutdown()``)."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, bool], list[Any]] = {}
        self._holders: dict[str, list[Any]] = {}

    def holder(self, job_id: str) -> Any:
        """A holder (:mod:`metaxy_ray.staging`) on the driver's node, started for ``job_id``:
        an idle one if it is alive, else a new one (never restarted by Ray: a restarted holder
        would have lost its batches, which must fail the job)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = ray.get_runtime_context().get_node_id()
        idle = self._holders.setdefault(node, [])
        while idle:
            actor = idle.pop()
            try:
                ray.get(actor.start.remote(job_id))
                return actor
            except RayActorError:
                _kill(actor)
        fresh: Any = ray.remote(Holder).options(
            num_cpus=0, max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
        ray.get(fresh.start.remote(job_id))
        return fresh

    def give_back_holder(self, actor: Any) -> None:
        """Drop the job's batches and keep the holder for the next job."""
        try:
            ray.get(actor.start.remote(""), timeout=120)
        except Exception as e:  # a dead holder
            logger.debug("metaxy: releasing the holder: %s", e)
            _kill(actor)
            return
        idle = self._holders.setdefault(ray.get_runtime_context().get_node_id(), [])
        if len(idle) < MAX_IDLE_WRITERS:
            idle.append(actor)
        else:
            _kill(actor)

    def start(self, n: int, *, pinned: bool, job: WriterJob) -> list[Any]:
        """``n`` writers with ``job``'s store open: idle ones first, new ones for the rest.

        An idle writer may have died since its last job (its process killed, its node gone, or
        Ray out of restarts for it): it is replaced by a new one instead of failing the job. Any
        other error opening the store (a bad URL, a schema behind the code) is raised."""
        actors = self._take(n, pinned=pinned)
        refs = [a.begin.remote(job) for a in actors]
        started: list[Any] = []
        try:
            for actor, ref in zip(actors, refs, strict=True):
                try:
                    ray.get(ref)
                    started.append(actor)
                except RayActorError as e:
                    logger.info("metaxy: an idle writer died (%s); starting a new one", e)
                    _kill(actor)
            if len(started) < n:
                fresh = self._new(n - len(started), pinned=pinned)
                started.extend(fresh)
                ray.get([a.begin.remote(job) for a in fresh])
        except BaseException:
            for actor in (*actors, *started):
                _kill(actor)
            raise
        return started

    def _take(self, n: int, *, pinned: bool) -> list[Any]:
        node = ray.get_runtime_context().get_node_id()
        idle = self._idle.setdefault((node, pinned), [])
        actors = [idle.pop() for _ in range(min(n, len(idle)))]
        return actors + self._new(n - len(actors), pinned=pinned)

    @staticmethod
    def _new(n: int, *, pinned: bool) -> list[Any]:
        options: dict[str, Any] = {"num_cpus": 0, "max_restarts": ACTOR_RETRIES,
                                   "max_task_retries": ACTOR_RETRIES,
                                   "max_concurrency": MAX_CALLS}
        if pinned:  # the database file is on the driver's node
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            node = ray.get_runtime_context().get_node_id()
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
        return [ray.remote(Writer).options(name=f"metaxy-writer-{uuid.uuid4().hex[:12]}",
                                           **options).remote() for _ in range(n)]

    def give_back(self, actors: list[Any], *, pinned: bool, reuse: bool) -> None:
        if not actors:
            return
        keep = reuse
        try:
            ray.get([a.end.remote() for a in actors], timeout=120)
        except Exception as e:  # a dead writer's store closed with its process
            logger.debug("metaxy: closing writers: %s", e)
            keep = False
        idle = self._idle.setdefault((ray.get_runtime_context().get_node_id(), pinned), [])
        for a in actors:
            if keep and len(idle) < MAX_IDLE_WRITERS:
                idle.append(a)
            else:
                _kill(a)


def _kill(actor: Any) -> None:
    with contextlib.suppress(Exception):  # already dead
        ray.kill(actor)


_POOL = _WriterPool()


@dataclass
class WriteSummary:
    """The sink's result (``sink.result``) after ``ds.write_datasink(sink)`` returned.

    Attributes:
        feature: the feature key.
        rows_written: rows committed by this job.
        rows_skipped: rows of retried blocks that were already committed (not written again).
        failed: the ids of the samples whose write failed (``on_error="collect"``; empty
            otherwise), one row per sample.
        errors: one message per failed block.
        materialization_id: the run part of the rows' ``metaxy_materialization_id``
            (``"<run>/<block>"``).
    """

    feature: str
    rows_written: int
    rows_skipped: int
    failed: pl.DataFrame
    errors: list[str] = field(default_factory=list)
    materialization_id: str = ""


class MetaxyDatasink(Datasink[list[BlockResult | Handed]]):  # type: ignore[misc]
    """Writes a dataset's rows into a feature: ``ds.write_datasink(MetaxyDatasink(...))``.

    Rows are the increment's rows (from :func:`~metaxy_ray.read_increment`) with the computed
    columns filled in; the increment-only columns (``metaxy_increment_part``,
    ``metaxy_stale_fields``) are dropped before writing. A write task joins its blocks into
    batches (``rows_per_write``); a batch is committed whole, alone or (``rows_per_commit``)
    together with batches of other tasks (a DuckDB or SQLite file: the task hands it to the job's
    holder and goes on; the job ends once every batch is committed; see
    :mod:`metaxy_ray.staging`), or alone while its task waits (a server database).

    Args:
        feature: the feature class or its key.
        store: a store URL or the name of a store in the configuration (``None``: the default).
        writers: concurrent writers for a server database (default :data:`DEFAULT_WRITERS`); a
            DuckDB or SQLite file always gets exactly one (passing another number is an error).
        on_error: ``"raise"`` (default): a failed write fails the job with a
            :class:`~metaxy_ray.WriteFailedError` naming the feature and the first failing sample
            ids. ``"collect"``: the job goes on; a failed batch is bisected (each half in its
            own transaction, recursively) so that ``sink.result.failed`` lists only the samples
            that could not be written, and the others are written.
        materialization_id: the run id stored (as ``"<run>/<block>"``) in the rows'
            ``metaxy_materialization_id`` (default: a random id per sink).
        config_path: the metaxy configuration file (default: the one found from the working
            directory); writers load the same file.
        rows_per_write: a write task joins its blocks into batches of at least this many rows
            (default :data:`ROWS_PER_WRITE`).
        rows_per_commit: the single writer of a DuckDB or SQLite file commits the batches of
            all write tasks in transactions of up to this many rows (default
            :data:`DEFAULT_ROWS_PER_COMMIT`); ``0``: each batch is one transaction, committed
            before its task goes on (the only mode for a server database's writers).

    Raises:
        RayIntegrationError: bad arguments, or a store living in one process (``memory://``).
    """

    def __init__(self, feature: type[Feature] | str, store: str | None, *,
                 writers: int | None = None, on_error: OnError = "raise",
                 materialization_id: str | None = None, config_path: str | None = None,
                 rows_per_write: int = ROWS_PER_WRITE,
                 rows_per_commit: int | None = None) -> None:
        if on_error not in ("raise", "collect"):
            raise RayIntegrationError(f"on_error must be 'raise' or 'collect', got {on_error!r}")
        if writers is not None and (isinstance(writers, bool) or not isinstance(writers, int)
                                    or writers < 1):
            raise RayIntegrationError(f"writers must be a positive integer, got {writers!r}")
        if isinstance(rows_per_write, bool) or not isinstance(rows_per_write, int) \
                or rows_per_write < 1:
            raise RayIntegrationError(f"rows_per_write must be a positive integer, got "
                                      f"{rows_per_write!r}")
        if rows_per_commit is not None and (isinstance(rows_per_commit, bool)
                                            or not isinstance(rows_per_commit, int)
                                            or rows_per_commit < 0):
            raise RayIntegrationError(f"rows_per_commit must be an integer >= 0, got "
                                      f"{rows_per_commit!r}")
        self.rows_per_write = rows_per_write
        self._ref = StoreRef.of(store, config_path)
        st = self._ref.make()
        check_shareable(st)
        cls = st.feature(feature)
        self.feature = str(cls.spec().key)
        self.id_columns = tuple(cls.spec().id_columns)
        self.single_writer = st.backend in SINGLE_WRITER_BACKENDS
        if self.single_writer and writers not in (None, 1):
            raise RayIntegrationError(
                f"{st.display()}: a {st.backend} file admits one writing process; writers must "
                f"be 1 (or left out), got {writers}")
        self.writers = 1 if self.single_writer else (writers or DEFAULT_WRITERS)
        if self.writers > 1 and rows_per_commit:
            raise RayIntegrationError(
                f"{st.display()}: rows_per_commit (staged commits) needs a single writer; "
                f"with writers={self.writers} each writer commits each batch (leave it out, or "
                f"pass writers=1)")
        self.rows_per_commit = (0 if not self.single_writer and rows_per_commit is None
                                else DEFAULT_ROWS_PER_COMMIT if rows_per_commit is None
                                else rows_per_commit)
        self.on_error: OnError = on_error
        self.run_id = materialization_id or uuid.uuid4().hex[:16]
        self.result: WriteSummary | None = None
        self._actors: list[Any] = []
        self._holder: Any = None
        self._job: WriterJob | None = None

    def get_name(self) -> str:
        return "Metaxy"

    # ------------------------------------------------------------------ driver side
    def on_write_start(self, schema: Any = None) -> None:
        """Get the writer actors (driver) and open the store in each."""
        self.result = None
        job_id = uuid.uuid4().hex[:8]
        self._holder = _POOL.holder(job_id) if self.rows_per_commit > 0 else None
        self._job = WriterJob(self._ref, self.feature, self.id_columns, self.run_id, job_id,
                              self.on_error, commit_rows=self.rows_per_commit,
                              holder=self._holder, started_at=datetime.now(UTC))
        try:
            self._actors = _POOL.start(self.writers, pinned=self.single_writer, job=self._job)
        except BaseException:
            self._stop()
            raise

    def on_write_complete(self, write_result: WriteResult[list[BlockResult | Handed]]) -> None:
        try:
            flushed = None if self._holder is None or self._job is None else ray.get(
                self._actors[0].flush.remote(self._job))
        finally:
            self._stop()
        returns = [r for task in write_result.write_returns for r in task]
        results = [r for r in returns if isinstance(r, BlockResult)]
        failed = [row for r in results for row in r.failed]
        errors = [e for r in results for e in r.errors]
        written = sum(r.rows for r in results)
        skipped = sum(r.skipped_rows for r in results)
        if flushed is not None:
            handed = [r for r in returns if isinstance(r, Handed)]
            w, s = self._check_flushed(handed, flushed)
            written, skipped = written + w, skipped + s
            failed.extend(flushed.failed)
            errors.extend(flushed.errors)
        self.result = WriteSummary(
            feature=self.feature,
            rows_written=written,
            rows_skipped=skipped,
            failed=pl.DataFrame(failed) if failed else pl.DataFrame(
                schema={c: pl.String for c in self.id_columns}),
            errors=errors,
            materialization_id=self.run_id,
        )
        if self.result.errors:
            logger.warning("metaxy: %d block(s) of '%s' failed to write (%d samples); see "
                           "sink.result.failed", len(self.result.errors), self.feature,
                           self.result.failed.height)

    def _check_flushed(self, handed: list[Handed], flushed: FlushResult) -> tuple[int, int]:
        """Rows written and skipped by a staged job; raises if a batch a task handed in is
        neither committed nor reported failed (its holder died, say)."""
        rows = {h.key: h.rows for h in handed}
        missing = [k for k in rows if k not in flushed.committed and k not in flushed.failed_keys]
        if missing:
            lost = sum(rows[k] for k in missing)
            raise WriteFailedError(
                f"feature '{self.feature}': {len(missing)} batch(es) ({lost} rows) handed to the "
                f"writer were not committed (a writer or holder process was lost); the other "
                f"rows are written and the increment holds the rest: run the job again")
        written = sum(n for k, n in rows.items() if k in flushed.committed) + sum(
            n for k, n in rows.items() if k in flushed.failed_keys) - len(flushed.failed)
        return written, sum(h.rows for h in handed if h.known)

    def on_write_failed(self, error: Exception) -> None:
        self._stop()

    def _stop(self, *, reuse: bool = True) -> None:
        """Close the writers' stores (a DuckDB file is free once ``write_datasink`` returns)
        and hand the writers (and the holder, its batches dropped) back to the pool."""
        actors, self._actors = self._actors, []
        _POOL.give_back(actors, pinned=self.single_writer, reuse=reuse)
        holder, self._holder = self._holder, None
        if holder is not None:
            _POOL.give_back_holder(holder)

    # ------------------------------------------------------------------ write tasks
    def write(self, blocks: Iterable[Block], ctx: TaskContext) -> list[BlockResult | Handed]:
        """Join the task's blocks into batches of at least ``rows_per_write`` rows. Staged
        (a DuckDB or SQLite file): hand each to the job's holder, and wait for the writer only
        when the holder holds a transaction's worth. Otherwise: hand each to a writer (chosen by
        the batch's key) and wait for the commits."""
        if not self._actors or self._job is None:
            raise RayIntegrationError("MetaxyDatasink.write ran without writers; use "
                                      "ds.write_datasink(sink)")
        job = self._job
        done: list[BlockResult | Handed] = []
        if job.holder is not None:
            for table in _batches(blocks, self.rows_per_write):
                key = block_key(table, self.id_columns)
                known, held = ray.get(job.holder.keep.remote(job.job_id, key, table))
                done.append(Handed(key, table.num_rows, known))
                if held >= job.commit_rows:
                    ray.get(self._actors[0].nudge.remote(job))
            return done
        pending: list[Any] = []
        for table in _batches(blocks, self.rows_per_write):
            key = block_key(table, self.id_columns)
            actor = self._actors[int(key[:8], 16) % len(self._actors)]
            pending.append(actor.write.remote(job, table, key))
            if len(pending) >= MAX_IN_FLIGHT:
                done.append(ray.get(pending.pop(0)))
        done.extend(ray.get(pending))
        return done


def _batches(blocks: Iterable[Block], rows: int) -> Iterator[pa.Table]:
    """The blocks as Arrow tables joined into batches of at least ``rows`` rows (the last may
    be smaller); deterministic for a given task input, so a retried task makes the same ones."""
    held: list[pa.Table] = []
    count = 0
    for block in blocks:
        table = BlockAccessor.for_block(block).to_arrow()
        if table.num_rows == 0:
            continue
        held.append(table)
        count += table.num_rows
        if count >= rows:
            yield _concat(held)
            held, count = [], 0
    if held:
        yield _concat(held)


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="default").combine_chunks()
