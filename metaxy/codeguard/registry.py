"""Declaring which function computes which fields of a feature (``@Video.computes("audio")``).

The declaration lives on the feature class (``__metaxy_compute__``: field key -> declaration), not
in the spec: a spec is data that snapshots store and versions hash, and a function is neither.
Declaring is optional; a field without a declared function is simply not guarded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from metaxy.codeguard.fingerprint import HELPER_DEPTH, code_ref
from metaxy.errors import CodeGuardError

if TYPE_CHECKING:
    from metaxy.feature import Feature

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__metaxy_compute__"


@dataclass(frozen=True)
class ComputeDecl:
    """One compute function declared for some fields of a feature."""

    feature: str
    fields: tuple[str, ...]
    fn: Callable[..., Any]
    depth: int = HELPER_DEPTH


def declare(cls: type[Feature], fields: tuple[str, ...], fn: Callable[..., Any],
            depth: int = HELPER_DEPTH) -> None:
    """Record ``fn`` as the function computing ``fields`` of ``cls`` (all fields if empty)."""
    spec = cls.spec()
    key = str(spec.key)
    names = tuple(str(spec.field(f).key) for f in fields) if fields \
        else tuple(str(k) for k in spec.field_keys)
    if len(set(names)) != len(names):
        raise CodeGuardError(f"feature '{key}': {code_ref(fn)} declares a field twice "
                             f"({', '.join(names)})")
    if not callable(fn):
        raise CodeGuardError(f"feature '{key}': computes() decorates a function, got "
                             f"{type(fn).__name__}")
    if depth < 0:
        raise CodeGuardError(f"feature '{key}': helper depth must be >= 0, got {depth}")
    table: dict[str, ComputeDecl] = dict(cls.__dict__.get(_ATTRIBUTE) or {})
    new_ref = code_ref(fn).function
    for name in names:
        old = table.get(name)
        # The same function declared again (a module imported twice) replaces the old one.
        if old is not None and code_ref(old.fn).function != new_ref:
            raise CodeGuardError(
                f"feature '{key}', field '{name}': already computed by {code_ref(old.fn)}; "
                f"{code_ref(fn)} cannot compute it too")
    decl = ComputeDecl(key, names, fn, depth)
    for name in names:
        table[name] = decl
    type.__setattr__(cls, _ATTRIBUTE, table)


def declarations(cls: type[Feature]) -> dict[str, ComputeDecl]:
    """Field key -> the declared compute function of that field (only declared fields)."""
    return dict(cls.__dict__.get(_ATTRIBUTE) or {})
