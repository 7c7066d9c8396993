"""Sample-level hashing: the encoding of provenance inputs and the hash settings of a store.

The same recipe runs as SQL (inside DuckDB, PostgreSQL, SQLite) and as Polars expressions; the
conformance suite checks that every backend gives bit-identical hashes.

Encoding (unambiguous): every string part ``s`` is written as ``<number of characters>:<s>``;
a missing value (optional upstream absent, no input) is written as ``~``, which no encoded part
starts with. Concatenating encoded parts can therefore be split back uniquely.

* field provenance of field F (fully-qualified key ``feature/key:field/key``)::

      H( enc(F) enc(code_version) [ enc(P) enc_or_missing(data_version of P) ]... )

  over the parent fields P in sorted fully-qualified order; for a root feature the parents are
  replaced by ``enc_or_missing(input of F)``;
* aggregated parent value (N:1) = H( enc(dv of member)... ) over the group's members ordered by the
  upstream id columns (bytes order);
* ``metaxy_provenance`` = H( [enc(field key) enc(field provenance)]... ) over sorted field keys;
  ``metaxy_data_version`` likewise over the data versions.

``H`` is the store's algorithm (default md5 as lowercase hex) truncated to the store's length.

Content input (a root row without ``metaxy_input_by_field``): ``H(payload)`` over the row's non-id
user columns in declaration order, cast to the model's types, computed in Polars on every backend
(:func:`metaxy.engine.polars_hash.content_payload`); injective for every value:

* payload = the row as compact JSON (``{"col":value,...}``; strings JSON-escaped, datetimes as
  ISO text to the microsecond, binary as a hex string, nulls as ``null``);
* JSON writes NaN, inf and -inf as ``null``; a row holding one of them gets the suffix ``~`` plus
  one code per float column (``n`` NaN, ``i`` inf, ``j`` -inf, ``.`` other). JSON ends with
  ``}``, a suffix never does, so rows without such values keep their earlier hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from metaxy.errors import ConfigError

MISSING: Final = "~"
SUPPORTED_ALGORITHMS: Final = ("md5", "sha256")
FULL_LENGTH: Final = {"md5": 32, "sha256": 64}
MIN_LENGTH: Final = 8


def enc(value: str) -> str:
    """Python reference of the part encoding (used for static prefixes and in tests)."""
    return f"{len(value)}:{value}"


def fq_field(feature_key: str, field_key: str) -> str:
    return f"{feature_key}:{field_key}"


@dataclass(frozen=True)
class HashSettings:
    """The algorithm and truncation length of sample hashes; recorded in every store."""

    algorithm: str = "md5"
    length: int = 32

    def __post_init__(self) -> None:
        if self.algorithm not in SUPPORTED_ALGORITHMS:
            raise ConfigError(
                f"hash algorithm '{self.algorithm}' is not supported "
                f"(choose one of {', '.join(SUPPORTED_ALGORITHMS)})"
            )
        full = FULL_LENGTH[self.algorithm]
        if not MIN_LENGTH <= self.length <= full:
            raise ConfigError(
                f"hash length {self.length} is out of range for {self.algorithm} "
                f"({MIN_LENGTH}..{full} hex characters)"
            )

    @property
    def truncated(self) -> bool:
        return self.length < FULL_LENGTH[self.algorithm]

    def as_text(self) -> str:
        return f"{self.algorithm}:{self.length}"


def python_hash(settings: HashSettings, payload: str) -> str:
    """Reference implementation of H in plain Python (tests, small static values)."""
    import hashlib

    h = hashlib.new(settings.algorithm, payload.encode("utf-8")).hexdigest()
    return h[: settings.length]
