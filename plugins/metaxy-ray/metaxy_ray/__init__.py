"""metaxy-ray: metaxy increments as Ray datasets, results written back by bounded writers.

* :func:`read_increment` -- a feature's increment (computed once, in the store) as a
  ``ray.data.Dataset`` of Arrow blocks in Ray's object store (never one task holding all of it);
* :class:`MetaxyDatasink` -- ``ds.write_datasink(MetaxyDatasink(feature, store))``: one writer
  for a DuckDB/SQLite file, a few for PostgreSQL; a retried block is not written twice; a failed
  write fails the job (or, with ``on_error="collect"``, is listed in ``sink.result``).

See ``docs/how-to/ray.md``.
"""

from __future__ import annotations

from metaxy_ray.errors import RayIntegrationError, WriteFailedError
from metaxy_ray.read import PART_COLUMN, read_increment
from metaxy_ray.sink import DEFAULT_WRITERS, MetaxyDatasink, WriteSummary
from metaxy_ray.stores import StoreRef

__all__ = [
    "DEFAULT_WRITERS",
    "PART_COLUMN",
    "MetaxyDatasink",
    "RayIntegrationError",
    "StoreRef",
    "WriteFailedError",
    "WriteSummary",
    "read_increment",
]
