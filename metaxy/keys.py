"""Feature and field keys, and their one-to-one mapping to SQL identifiers.

A key is a ``/``-separated path of lowercase parts from ``[a-z0-9_-]``; the first part starts with a
letter or ``_``. Keys are rendered into SQL identifiers (table names, per-field column names) with
:func:`sql_name`, which is lowercase, at most 63 bytes (PostgreSQL's limit) and one-to-one:

* a *plain* key (no ``-``, no part starting or ending with ``_``, no ``__`` inside a part) renders
  readably as its parts joined by ``__``: ``media/video`` -> ``media__video``. A plain rendering
  never contains ``___``;
* every other key (and any key too long for its budget) renders as a sanitised prefix, ``___`` and
  16 hex digits of a hash of the whole key, so it can never equal a plain rendering and two such
  keys differ unless their 64-bit hashes collide (which the graph still detects).
"""

from __future__ import annotations

import re
from functools import total_ordering
from typing import Any

import xxhash
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from metaxy.errors import InvalidKeyError

_PART = re.compile(r"^[a-z0-9_-]+$")
_FIRST = re.compile(r"^[a-z_]")
MAX_IDENTIFIER_BYTES = 63


def _validate_parts(text: str, kind: str) -> tuple[str, ...]:
    if not isinstance(text, str) or not text:
        raise InvalidKeyError(f"{kind} key must be a non-empty string, got {text!r}")
    parts = tuple(text.split("/"))
    for part in parts:
        if not part:
            raise InvalidKeyError(f"{kind} key {text!r} has an empty part")
        if not _PART.match(part):
            raise InvalidKeyError(
                f"{kind} key {text!r}: part {part!r} may only contain lowercase letters, "
                "digits, '_' and '-'"
            )
    if not _FIRST.match(parts[0]):
        raise InvalidKeyError(f"{kind} key {text!r} must start with a lowercase letter or '_'")
    return parts


def _is_plain(parts: tuple[str, ...]) -> bool:
    return all(
        "-" not in p and "__" not in p and not p.startswith("_") and not p.endswith("_")
        for p in parts
    )


def sql_name(
    parts: tuple[str, ...], *, prefix: str = "", budget: int = MAX_IDENTIFIER_BYTES
) -> str:
    """Render key parts as a lowercase SQL identifier of at most ``budget`` bytes (with ``prefix``).

    The mapping is one-to-one for a fixed prefix; see the module docstring.
    """
    readable = "__".join(parts)
    room = budget - len(prefix)
    if _is_plain(parts) and len(readable) <= room:
        return prefix + readable
    digest = xxhash.xxh64_hexdigest("/".join(parts).encode())
    head = re.sub(r"_+", "_", readable.replace("-", "_")).strip("_")
    head = head[: max(0, room - 3 - len(digest))].rstrip("_")
    return f"{prefix}{head}___{digest}"


@total_ordering
class _Key:
    """Common behaviour of feature and field keys: immutable, hashable, ordered by string."""

    kind = "key"
    __slots__ = ("parts",)
    parts: tuple[str, ...]

    def __init__(self, key: str | _Key | tuple[str, ...] | list[str]) -> None:
        if isinstance(key, _Key):
            parts = key.parts
        elif isinstance(key, tuple | list):
            parts = _validate_parts("/".join(key), self.kind)
        else:
            parts = _validate_parts(key, self.kind)
        object.__setattr__(self, "parts", parts)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def to_string(self) -> str:
        return "/".join(self.parts)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_string()!r})"

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.parts))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.to_string() == other
        return type(other) is type(self) and other.parts == self.parts  # type: ignore[attr-defined]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Key):
            return NotImplemented
        return self.to_string() < other.to_string()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def coerce(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            if isinstance(value, str | list | tuple):
                return cls(value)
            raise InvalidKeyError(f"{cls.kind} key must be a string, got {value!r}")

        return core_schema.no_info_plain_validator_function(
            coerce, serialization=core_schema.to_string_ser_schema()
        )


class FeatureKey(_Key):
    """Key of a feature, e.g. ``media/video``."""

    kind = "feature"
    __slots__ = ()

    @property
    def table_name(self) -> str:
        """The SQL table name of this feature (one-to-one, lowercase, <= 63 bytes)."""
        return sql_name(self.parts)


class FieldKey(_Key):
    """Key of a field of a feature, e.g. ``audio``."""

    kind = "field"
    __slots__ = ()

    def column(self, prefix: str) -> str:
        """The per-field system column with this prefix (e.g. ``metaxy_pv__audio``)."""
        return sql_name(self.parts, prefix=prefix)


FeatureKey.__module__ = "metaxy"
FieldKey.__module__ = "metaxy"
