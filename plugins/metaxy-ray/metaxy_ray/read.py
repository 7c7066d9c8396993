"""Increments as Ray datasets: :func:`read_increment`.

How the rows reach the workers (also on a multi-machine cluster): the driver asks the store for the
increment once (``resolve_update(..., lazy=True)``: one statement, one snapshot, spooled to local
Arrow IPC files), then reads the spool block by block and puts each Arrow block into Ray's object
store (``ray.put``). The driver never holds more than one block; the object store holds the
increment (and spills to local disk when it is larger than its memory). Those blocks *are* the
dataset (``ray.data.from_arrow_refs``): each task of the job fetches its own blocks from the
object store, zero-copy, on whichever node it runs, so the rows never pass through one task.

There are deliberately no read tasks: a read task could only fetch a block the driver already put
and hand it on, and Ray Data stores a task's output as a new object, so every row would be copied
once more into the object store (measured in docs/performance-history.md, "Ray Data (issue
17)": a third of the time Ray added to a DuckDB read). The store connection is closed before
the dataset is returned: the job never holds a transaction or, on DuckDB, the database file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import ray

from metaxy_ray.errors import RayIntegrationError
from metaxy_ray.stores import StoreRef, check_shareable

if TYPE_CHECKING:
    from metaxy import Feature
    from metaxy.store import LazyIncrement

PART_COLUMN = "metaxy_increment_part"
"""The column naming the part (``new``, ``stale``, ``orphaned``) each row comes from; writes
ignore it."""

PARTS = ("new", "stale", "orphaned")
MAX_BLOCK_ROWS = 100_000
"""Largest block :func:`read_increment` makes when ``batch_size`` is not given."""

# A child of Ray Data's logger: the increment's size shows where Ray Data reports the job.
logger = logging.getLogger("ray.data.metaxy")


@dataclass(frozen=True)
class _Block:
    ref: ray.ObjectRef  # type: ignore[type-arg]
    rows: int
    nbytes: int


def read_increment(feature: type[Feature] | str, store: str | None, *,
                   parts: Sequence[str] = ("new", "stale"), where: Any = None,
                   samples: Any = None, batch_size: int | None = None,
                   parallelism: int = -1, config_path: str | None = None) -> ray.data.Dataset:
    """A feature's increment as a Ray dataset, computed once in the store.

    Each row carries what :meth:`~metaxy.MetadataStore.write` needs (the id columns, the columns
    the feature's dependencies select, the expected provenance), ``metaxy_stale_fields`` (null
    for a new sample) and :data:`PART_COLUMN`, the part it belongs to.

    Args:
        feature: the feature class or its key.
        store: a store URL or the name of a store in the configuration (``None``: the configured
            default store). Workers open their own connections.
        parts: which parts of the increment to read (``"new"``, ``"stale"``, ``"orphaned"``).
        where: an optional SQLAlchemy expression selecting samples, as for
            ``store.resolve_update``.
        samples: a root feature's current samples (as for ``store.resolve_update``).
        batch_size: rows per block (default: the increment split into at least
            ``parallelism`` blocks, or two per CPU of the cluster, of at most
            :data:`MAX_BLOCK_ROWS` rows).
        parallelism: the least number of blocks (``-1``: two per CPU of the cluster); each
            block can go to its own task.
        config_path: the metaxy configuration file (default: the one found from the working
            directory); workers load the same file.

    Raises:
        RayIntegrationError: an unknown part, a bad ``batch_size``, or a store that lives in one
            process (``memory://``, ``duckdb:///:memory:``).
    """
    wanted = _check_parts(parts)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise RayIntegrationError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) \
            or not (parallelism == -1 or parallelism >= 1):
        raise RayIntegrationError(f"parallelism must be -1 or a positive integer, got "
                                  f"{parallelism!r}")
    ref = StoreRef.of(store, config_path)
    st = ref.make()
    check_shareable(st)
    key = str(st.feature(feature).spec().key)
    if not ray.is_initialized():
        ray.init()
    with st, st.resolve_update(key, samples=samples, where=where, lazy=True) as inc:
        counts = {p: inc.counts[p] for p in wanted}
        total = sum(counts.values())
        rows = batch_size or _block_rows(total, parallelism)
        schema = _union_schema(inc, wanted)
        blocks = list(_put_blocks(inc, wanted, schema, rows))
    logger.info("metaxy: increment of '%s' in %s: %s (%d rows, %.1f MiB in %d blocks)", key,
                st.display(), ", ".join(f"{n} {p}" for p, n in counts.items()),
                sum(b.rows for b in blocks), sum(b.nbytes for b in blocks) / 2**20, len(blocks))
    if not blocks:  # an empty increment: one empty block keeps the columns
        blocks = [_Block(ray.put(_arrow_schema(schema).empty_table()), 0, 0)]
    # ray.put's ObjectRef and the one from_arrow_refs declares are two classes in Ray's stubs
    refs: list[Any] = [b.ref for b in blocks]
    ds: ray.data.Dataset = ray.data.from_arrow_refs(refs)
    return ds


def _check_parts(parts: Sequence[str]) -> tuple[str, ...]:
    if isinstance(parts, str):
        parts = (parts,)
    wanted = tuple(dict.fromkeys(parts))
    unknown = [p for p in wanted if p not in PARTS]
    if unknown or not wanted:
        raise RayIntegrationError(f"parts must be some of {', '.join(PARTS)}; got "
                                  f"{list(parts)!r}")
    return wanted


def _block_rows(total: int, parallelism: int) -> int:
    if parallelism > 0:
        want = parallelism
    else:
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        want = max(2, 2 * cpus)
    n_blocks = max(want, math.ceil(total / MAX_BLOCK_ROWS))
    return max(1, math.ceil(total / n_blocks))


def _union_schema(inc: LazyIncrement, parts: tuple[str, ...]) -> pl.Schema:
    """One schema for every block: the parts' columns, plus the part column."""
    empties = []
    for p in parts:
        part = getattr(inc, p)
        first = part.collect() if len(part) == 0 else next(iter(part.iter_batches(1)))
        empties.append(first.clear())
    union = pl.concat(empties, how="diagonal_relaxed").with_columns(
        pl.lit(None, dtype=pl.String).alias(PART_COLUMN))
    schema: pl.Schema = union.schema
    return schema


def _arrow_schema(schema: pl.Schema) -> pa.Schema:
    # large_string, not string_view: Ray serialises it without an IPC round trip
    return pl.DataFrame(schema=schema).to_arrow(compat_level=pl.CompatLevel.oldest()).schema


def _put_blocks(inc: LazyIncrement, parts: tuple[str, ...], schema: pl.Schema,
                rows: int) -> Iterable[_Block]:
    arrow = _arrow_schema(schema)
    for p in parts:
        for frame in getattr(inc, p).iter_batches(rows):
            missing = [pl.lit(None, dtype=schema[c]).alias(c) for c in schema
                       if c not in frame.columns and c != PART_COLUMN]
            full = frame.with_columns(*missing, pl.lit(p, dtype=pl.String).alias(PART_COLUMN))
            full = full.select(list(schema))
            if full.schema != schema:  # a part whose column type differs from the union's
                full = full.cast(dict(schema))  # type: ignore[arg-type]
            table = full.to_arrow(compat_level=pl.CompatLevel.oldest())
            if table.schema != arrow:
                table = table.cast(arrow)
            yield _Block(ray.put(table), table.num_rows, table.nbytes)
