"""Fingerprints of the code that computes a feature's fields (issue 18, code-change guard).

A fingerprint is the xxhash64 of a canonical JSON encoding of

* the compute function's **normalised AST**: positions, comments and formatting are not in an
  AST at all; docstrings (of the function, nested functions and classes), the function's own
  name and its decorators are dropped, so renaming or re-documenting it raises no alarm;
* the normalised AST of every **helper function of the same top-level package** that it refers
  to (called or passed around), followed :data:`HELPER_DEPTH` levels deep;
* the values of **module-level constants** of that package it reads (``WORDS = [...]``,
  ``THRESHOLD = 0.5``), when they are plain literals (numbers, strings, and tuples, lists, sets
  and dicts of them).

Why a bounded depth (2: the function's helpers and *their* helpers): most output-relevant logic of
a pipeline step sits in the function and the few helpers next to it. Following the whole call
graph of a package would fire the guard on every edit of a shared utility module for every
feature that touches it -- a guard that fires on unrelated edits is soon answered with a reflexive
``--accept``, which protects nothing. Code of other packages (libraries, other teams) is never
followed: its version is the installed distribution's business. ``Feature.computes(...,
depth=N)`` changes the depth for one function.

The encoding is independent of the Python version as far as the AST allows: node fields are
sorted by name and empty optional fields (``None``, ``[]``) are left out, so a field a newer Python
adds to a node (``type_params`` in 3.12) does not change the fingerprint of code that does not
use it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import xxhash

from metaxy.errors import CodeGuardError
from metaxy.versions import canonical_json

#: How many levels of same-package helpers enter a fingerprint (see the module docstring).
HELPER_DEPTH = 2
FINGERPRINT_LENGTH = 16
_MAX_CONSTANT_CHARS = 10_000
_SKIPPED_FIELDS = frozenset({"type_comment", "kind"})


@dataclass(frozen=True)
class CodeRef:
    """Where a compute function lives: ``module.qualname``, its file and first line."""

    function: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.function} ({self.file}:{self.line})"


@dataclass(frozen=True)
class Fingerprint:
    """A compute function's fingerprint and the helpers it covers."""

    digest: str
    ref: CodeRef
    helpers: tuple[str, ...]
    depth: int


def code_ref(fn: Callable[..., Any]) -> CodeRef:
    """``module.qualname``, source file and line of a function (before any decorator)."""
    fn = inspect.unwrap(fn)
    code = getattr(fn, "__code__", None)
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    if code is None:
        return CodeRef(name, "?", 0)
    return CodeRef(name, code.co_filename, code.co_firstlineno)


def _function_node(fn: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef:
    ref = code_ref(fn)
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as e:
        raise CodeGuardError(f"cannot read the source of compute function {ref}: {e}") from e
    try:
        tree = ast.parse(source)
    except SyntaxError as e:  # a lambda inside an expression, for instance
        raise CodeGuardError(f"cannot parse the source of compute function {ref}: {e.msg}; "
                             "declare a `def` function") from e
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise CodeGuardError(f"compute function {ref} is not a `def` function (a lambda or a "
                             "callable object cannot be fingerprinted)")
    return node


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


class _Normaliser(ast.NodeTransformer):
    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            node.body = _strip_docstring(node.body)
        return super().generic_visit(node)


def _encode(value: Any) -> Any:
    """A JSON-able, position-free form of an AST (sorted fields, empty optionals left out)."""
    if isinstance(value, ast.AST):
        out: list[Any] = [type(value).__name__]
        for name in sorted(value._fields):
            if name in _SKIPPED_FIELDS:
                continue
            item = getattr(value, name, None)
            if item is None or (isinstance(item, list) and not item):
                continue
            out.append([name, _encode(item)])
        return out
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return [type(value).__name__, repr(value)]


def normalised_ast(fn: Callable[..., Any]) -> Any:
    """The function's AST without docstrings, name and decorators, in the encoded form."""
    node = _function_node(inspect.unwrap(fn))
    node.decorator_list = []
    node.name = "_"
    return _encode(_Normaliser().visit(node))


def _literal(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return True
    if isinstance(value, tuple | list | set | frozenset):
        return all(_literal(v) for v in value)
    if isinstance(value, dict):
        return all(_literal(k) and _literal(v) for k, v in value.items())
    return False


def _constant_text(value: Any) -> str | None:
    if not _literal(value):
        return None
    if isinstance(value, set | frozenset):
        text = repr(sorted(value, key=repr))
    else:
        text = repr(value)
    return text if len(text) <= _MAX_CONSTANT_CHARS else None


def _package(module: str | None) -> str:
    return (module or "").split(".")[0]


def _references(node: ast.AST) -> list[list[str]]:
    """Name chains read by the code: ``helper`` -> ["helper"], ``mod.sub.f`` -> ["mod", ...]."""
    chains: list[list[str]] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            parts: list[str] = []
            cur: ast.expr = sub
            while isinstance(cur, ast.Attribute):
                parts.insert(0, cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                chains.append([cur.id, *parts])
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            chains.append([sub.id])
    return chains


def _namespace(fn: types.FunctionType) -> dict[str, Any]:
    ns = dict(fn.__globals__)
    if fn.__closure__:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
            try:
                ns[name] = cell.cell_contents
            except ValueError:  # an empty cell (not assigned yet)
                continue
    return ns


def _resolve(ns: dict[str, Any], chain: list[str], package: str) -> tuple[str, Any] | None:
    """The object a name chain points to, if it belongs to ``package`` (functions, modules'
    functions) or is one of its module-level literal constants."""
    if chain[0] not in ns:
        return None
    obj = ns[chain[0]]
    name = chain[0]
    for attr in chain[1:]:
        if not isinstance(obj, types.ModuleType) or _package(obj.__name__) != package:
            break
        if not hasattr(obj, attr):
            break
        obj = getattr(obj, attr)
        name = f"{name}.{attr}"
    return name, obj


def fingerprint(fn: Callable[..., Any], depth: int = HELPER_DEPTH) -> Fingerprint:
    """The fingerprint of a compute function and its same-package helpers (``depth`` levels)."""
    if depth < 0:
        raise CodeGuardError(f"helper depth must be >= 0, got {depth}")
    root = inspect.unwrap(fn)
    if not isinstance(root, types.FunctionType):
        raise CodeGuardError(f"compute function {code_ref(fn)} is not a Python function")
    package = _package(root.__module__)
    body = normalised_ast(root)
    helpers: dict[str, Any] = {}
    constants: dict[str, str] = {}
    seen: set[int] = {id(root)}
    frontier: list[tuple[types.FunctionType, int]] = [(root, 0)]
    while frontier:
        current, level = frontier.pop(0)
        node = _function_node(current)
        ns = _namespace(current)
        for chain in _references(node):
            found = _resolve(ns, chain, package)
            if found is None:
                continue
            name, obj = found
            target = inspect.unwrap(obj) if callable(obj) else obj
            if isinstance(target, types.FunctionType):
                if _package(target.__module__) != package or id(target) in seen \
                        or level >= depth:
                    continue
                seen.add(id(target))
                ref = code_ref(target)
                helpers[ref.function] = normalised_ast(target)
                frontier.append((target, level + 1))
            elif not isinstance(obj, types.ModuleType) and name in current.__globals__ \
                    and _package(current.__module__) == package:
                text = _constant_text(obj)
                if text is not None:
                    constants[f"{current.__module__}.{name}"] = text
    payload = ["code", body, sorted(helpers.items()), sorted(constants.items())]
    digest = xxhash.xxh64_hexdigest(canonical_json(payload).encode("ascii"))
    return Fingerprint(digest[:FINGERPRINT_LENGTH], code_ref(root), tuple(sorted(helpers)), depth)
