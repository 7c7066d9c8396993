"""The sample-hash recipe of SPEC §3 in plain Python, one value at a time.

Deliberately independent of the SQL and Polars compilers (it only shares the tiny ``enc`` and
``python_hash`` primitives of :mod:`metaxy.hashing`): the conformance suite compares every backend's
hashes with these values, which is what makes the backends agree bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable

from metaxy.hashing import MISSING, HashSettings, enc, fq_field, python_hash


def enc_or_missing(value: str | None) -> str:
    return MISSING if value is None else enc(value)


def root_provenance(settings: HashSettings, feature: str, field: str, code_version: str,
                    input_value: str | None) -> str:
    """A root field's provenance: H(key, code_version, input)."""
    payload = enc(fq_field(feature, field)) + enc(code_version) + enc_or_missing(input_value)
    return python_hash(settings, payload)


def field_provenance(settings: HashSettings, feature: str, field: str, code_version: str,
                     parents: Iterable[tuple[str, str, str | None]]) -> str:
    """A downstream field's provenance over ``(parent feature, parent field, data version)``."""
    payload = enc(fq_field(feature, field)) + enc(code_version)
    for pfeature, pfield, dv in sorted(parents, key=lambda p: fq_field(p[0], p[1])):
        payload += enc(fq_field(pfeature, pfield)) + enc_or_missing(dv)
    return python_hash(settings, payload)


def aggregate(settings: HashSettings, member_versions: Iterable[str]) -> str:
    """The N:1 parent value: H over the members' data versions, already in member order."""
    return python_hash(settings, "".join(enc(v) for v in member_versions))


def total(settings: HashSettings, by_field: dict[str, str]) -> str:
    """``metaxy_provenance`` (or ``metaxy_data_version``) over the per-field values."""
    return python_hash(settings, "".join(enc(k) + enc(by_field[k]) for k in sorted(by_field)))


def byte_order_key(values: tuple[object, ...]) -> tuple[object, ...]:
    """Sort key of member ids: strings in UTF-8 byte order, other values natively."""
    return tuple(v.encode("utf-8") if isinstance(v, str) else v for v in values)
