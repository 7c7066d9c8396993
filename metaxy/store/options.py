"""Validation of the numeric store options, in one place, before any backend sees them.

``[stores.NAME.options]`` in ``metaxy.toml`` (and ``get_store(..., **options)``) reach the
backend constructors as given; TOML has ``nan`` and ``inf``, and ``lock_timeout = nan`` made a
locked DuckDB open retry forever (``nan`` compares false with every deadline). Every numeric
option a backend knows is checked here: the right kind of number (a bool is not one), finite, in
range. The error names the option, the store and the value.

Options a backend does not read are left to it (they are not numeric options of metaxy's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metaxy.errors import StoreOptionError

DAY = 86_400.0


@dataclass(frozen=True)
class NumericOption:
    """A numeric option: integer or real, inclusive bounds, and what it means."""

    integer: bool
    low: float
    high: float
    meaning: str


NUMERIC_OPTIONS: dict[str, NumericOption] = {
    "lock_timeout": NumericOption(False, 0, DAY, "seconds to retry a locked DuckDB file, or "
                                                 "to wait for a PostgreSQL lock (0: no limit)"),
    "statement_timeout": NumericOption(False, 0, DAY, "seconds a PostgreSQL statement may run "
                                                      "(0: no limit)"),
    "threads": NumericOption(True, 1, 4096, "DuckDB worker threads"),
    "connect_timeout": NumericOption(True, 1, DAY, "seconds to wait for PostgreSQL "
                                                   "(0 would mean forever to libpq)"),
    "copy_chunk_rows": NumericOption(True, 1, 100_000_000, "rows per PostgreSQL COPY chunk"),
    "hash_length": NumericOption(True, 1, 128, "hex characters of a sample hash"),
}


def _describe(spec: NumericOption) -> str:
    kind = "an integer" if spec.integer else "a finite number"
    return f"{kind} from {spec.low:g} to {spec.high:g} ({spec.meaning})"


def check_option(store: str, name: str, value: Any) -> None:
    """Raise :class:`~metaxy.errors.StoreOptionError` (a ConfigError and a StoreError)
    unless ``value`` is valid for the numeric option ``name``."""
    spec = NUMERIC_OPTIONS.get(name)
    if spec is None or value is None:
        return
    ok_type = (int,) if spec.integer else (int, float)
    valid = (isinstance(value, ok_type) and not isinstance(value, bool)
             and math.isfinite(value) and spec.low <= value <= spec.high)
    if not valid:
        raise StoreOptionError(f"store {store}: option {name} = {value!r} is invalid: "
                          f"it must be {_describe(spec)}")


def check_options(store: str, options: Mapping[str, Any]) -> None:
    """Check every numeric option among ``options`` (see :data:`NUMERIC_OPTIONS`)."""
    for name, value in options.items():
        check_option(store, name, value)
