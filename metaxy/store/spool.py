"""Temporary Arrow IPC files holding the parts of one lazy increment (issue 13, items 9-12).

``resolve_update(F, lazy=True)`` computes the whole increment once, in one statement (one
snapshot), and spools its ``new``/``stale``/``orphaned`` rows batch by batch into one Arrow IPC
file per part while the driver hands them over. The store's connection is released (its
transaction committed) before ``resolve_update`` returns, so:

* the parts cannot come from two states of the database (a sample is never both new and stale);
* an undrained iterator holds no transaction and no lock (a migration's ``ALTER TABLE`` does not
  queue behind it);
* the caller can write to the store while iterating (stream, compute, write back).

Memory stays bounded by one fetch batch while spooling and by one read batch while iterating.
The files live in a private temporary directory (``tempfile``'s, i.e. ``$TMPDIR``) removed by
:meth:`Spool.close`, by the garbage collector (a weakref finalizer) or when the store closes.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from metaxy.errors import StoreError

PARTS = ("new", "stale", "orphaned")
PREFIX = "metaxy-increment-"


class Spool:
    """The three parts of one increment, written once then read any number of times.

    Args:
        schemas: the API-form Polars schema of each part (also that of an empty part).
        what: how errors name the increment (store and feature).
    """

    def __init__(self, schemas: Mapping[str, Mapping[str, pl.DataType]], what: str) -> None:
        self.what = what
        self.directory = Path(tempfile.mkdtemp(prefix=PREFIX))
        # Removes the files when the spool is closed, collected, or at interpreter exit.
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.directory), True)
        self._schemas = {p: pl.Schema(schemas[p]) for p in PARTS}
        self._arrow = {p: pl.DataFrame(schema=self._schemas[p]).to_arrow().schema for p in PARTS}
        self.counts = dict.fromkeys(PARTS, 0)
        self._writers: dict[str, Any] = {}
        try:
            for p in PARTS:
                self._writers[p] = ipc.new_file(str(self._path(p)), self._arrow[p])
        except BaseException:
            self.close()
            raise

    def _path(self, part: str) -> Path:
        return self.directory / f"{part}.arrow"

    @property
    def closed(self) -> bool:
        """Whether the files are gone (closed, or removed at exit)."""
        return not self._finalizer.alive

    @property
    def sealed(self) -> bool:
        """Whether every row has been written (the parts can be read)."""
        return not self._writers

    # ------------------------------------------------------------------ writing
    def append(self, part: str, frame: pl.DataFrame) -> None:
        """Add rows to ``part`` (in the part's schema)."""
        if frame.height == 0:
            return
        table = frame.to_arrow()
        if table.schema != self._arrow[part]:
            table = table.cast(self._arrow[part])
        self._writers[part].write_table(table)
        self.counts[part] += frame.height

    def seal(self) -> None:
        """Finish the files (after the last :meth:`append`)."""
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()

    # ------------------------------------------------------------------ reading
    def _check_readable(self) -> None:
        if self.closed:
            raise StoreError(f"the lazy increment of {self.what} is closed (closed explicitly, or "
                             "its store was closed); resolve the update again")
        if not self.sealed:  # pragma: no cover - resolve_update returns only sealed spools
            raise StoreError(f"the lazy increment of {self.what} is still being written")

    def batches(self, part: str, n: int) -> Iterator[pl.DataFrame]:
        """The rows of ``part`` in frames of at most ``n`` rows (the last may be shorter)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise StoreError(f"the lazy increment of {self.what}: batch size must be a positive "
                             f"integer, got {n!r}")
        self._check_readable()
        pending: list[pl.DataFrame] = []
        held = 0
        with pa.OSFile(str(self._path(part)), "rb") as source:
            reader = ipc.open_file(source)
            for i in range(reader.num_record_batches):
                self._check_readable()
                frame = self._frame(part, reader.get_batch(i))
                pending.append(frame)
                held += frame.height
                while held >= n:
                    joined = pl.concat(pending, how="vertical") if len(pending) > 1 \
                        else pending[0]
                    yield joined.slice(0, n)
                    self._check_readable()  # closed while the caller held the batch
                    rest = joined.slice(n)
                    pending, held = ([rest] if rest.height else []), rest.height
        if held:
            yield pl.concat(pending, how="vertical") if len(pending) > 1 else pending[0]

    def read(self, part: str) -> pl.DataFrame:
        """Every row of ``part`` as one frame."""
        self._check_readable()
        with pa.OSFile(str(self._path(part)), "rb") as source:
            table = ipc.open_file(source).read_all()
        return self._frame(part, table)

    def _frame(self, part: str, data: pa.RecordBatch | pa.Table) -> pl.DataFrame:
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        schema = self._schemas[part]
        if frame.schema != schema:  # e.g. an Enum comes back from Arrow as Categorical
            frame = frame.cast(dict(schema))  # type: ignore[arg-type]
        return frame

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Remove the files (idempotent); reading afterwards raises :class:`StoreError`."""
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            with contextlib.suppress(Exception):  # the files are removed next anyway
                writer.close()
        self._finalizer()


def spool_frames(parts: Mapping[str, pl.DataFrame], what: str) -> Spool:
    """A sealed spool of already computed parts (backends that compute in this process)."""
    spool = Spool({p: parts[p].schema for p in PARTS}, what)
    try:
        for p in PARTS:
            spool.append(p, parts[p])
        spool.seal()
    except BaseException:
        spool.close()
        raise
    return spool
