"""Every error and warning metaxy raises.

All errors derive from :class:`MetaxyError`, so an application can catch the whole family with one
``except`` clause. Each error carries structured attributes (feature key, field, column, package)
besides its message, and third-party exceptions are chained with ``raise ... from``.
"""

from __future__ import annotations

import difflib


class MetaxyError(Exception):
    """Base of every error raised by metaxy."""


class MetaxyWarning(UserWarning):
    """Base of every warning emitted by metaxy."""


class FeatureDefinitionError(MetaxyError):
    """A feature class or its spec is invalid.

    The message names the feature key, the class (``module.Qualname``) and, where known, the
    distribution (package) that defines it.
    """

    def __init__(
        self,
        message: str,
        *,
        feature_key: str | None = None,
        class_path: str | None = None,
        package: str | None = None,
        field: str | None = None,
    ) -> None:
        self.feature_key = feature_key
        self.class_path = class_path
        self.package = package
        self.field = field
        where = []
        if feature_key is not None:
            where.append(f"feature '{feature_key}'")
        if class_path is not None:
            where.append(f"class {class_path}")
        if package is not None:
            where.append(f"package {package}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)


class InvalidKeyError(FeatureDefinitionError):
    """A feature or field key does not follow the key grammar."""


class DependencyCycleError(FeatureDefinitionError):
    """The feature dependency graph has a cycle."""


class MissingUpstreamError(FeatureDefinitionError):
    """A feature depends on a feature key that is not registered."""


class DuplicateFeatureError(FeatureDefinitionError):
    """Two classes (possibly from two packages) define the same feature key."""


class TableNameCollisionError(FeatureDefinitionError):
    """Two feature keys would map to the same SQL table."""


class FeatureNotFoundError(MetaxyError):
    """A feature key was looked up that is not in the graph."""

    def __init__(self, key: str, known: list[str] | None = None) -> None:
        self.feature_key = key
        if known is not None and not known:
            super().__init__(
                f"unknown feature '{key}': the feature graph is empty; load the installed team "
                "packages with mx.load_features() (or import the module defining the feature "
                "before looking it up)")
            return
        hint = ""
        if known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            if close:
                hint = f"; did you mean '{close[0]}'?"
            hint += f" (known features: {', '.join(sorted(known)[:20])}"
            hint += f", ... {len(known) - 20} more)" if len(known) > 20 else ")"
        super().__init__(f"unknown feature '{key}'{hint}")


def _did_you_mean(name: str, known: list[str], what: str) -> str:
    """``; did you mean 'x'? (<what>: a, b, ...)`` for an unknown ``name`` among ``known``."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{hint} ({what}: {', '.join(sorted(known)) or 'none'})"


class FieldNotFoundError(MetaxyError, KeyError):
    """A feature has no field of the key looked up (a ``KeyError`` too, as it used to be)."""

    def __init__(self, feature_key: str, field: str, known: list[str]) -> None:
        self.feature_key = feature_key
        self.field = field
        super().__init__(f"feature '{feature_key}' has no field '{field}'"
                         + _did_you_mean(field, known, "fields"))

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DependencyNotFoundError(MetaxyError, KeyError):
    """A feature has no dependency on the feature key looked up (a ``KeyError`` too)."""

    def __init__(self, feature_key: str, dependency: str, known: list[str]) -> None:
        self.feature_key = feature_key
        self.dependency = dependency
        super().__init__(f"feature '{feature_key}' has no dependency on '{dependency}'"
                         + _did_you_mean(dependency, known, "dependencies"))

    def __str__(self) -> str:
        return str(self.args[0])


class PluginLoadError(MetaxyError):
    """A plugin or team package's entry point failed to load."""

    def __init__(self, message: str, *, entry_point: str, package: str | None) -> None:
        self.entry_point = entry_point
        self.package = package
        super().__init__(message)


class DuplicatePluginError(MetaxyError):
    """Two plugins declare the same backend name or entry-point identity."""


class ConfigError(MetaxyError):
    """The configuration (``metaxy.toml``, ``[tool.metaxy]``, ``METAXY_*``) is invalid."""


class StoreError(MetaxyError):
    """Base of errors raised by metadata stores."""


class StoreNotFoundError(StoreError):
    """No backend accepts the store URL, or no named store of that name is configured."""


class StoreFileNotFoundError(StoreNotFoundError):
    """A read asked for a file store (DuckDB, SQLite) whose file does not exist: only a write
    creates it, so a typo in the path is not taken for an empty store."""


class StoreConnectionError(StoreError):
    """The store's database could not be reached."""


class BackendUnavailableError(StoreError):
    """A backend under test cannot run here: its driver is not installed or its server is
    unreachable (the test fixtures skip the test, or fail it with ``CI=true``)."""


class StoreLockedError(StoreError):
    """The store is held by another process (e.g. DuckDB's single-writer file lock), or a
    lock the operation needs was not granted within the store's ``lock_timeout``."""


class StoreTimeoutError(StoreError):
    """A statement ran longer than the store's ``statement_timeout`` and was cancelled."""


class StoreOptionError(ConfigError, StoreError):
    """A store option is invalid (``lock_timeout = nan``, ``threads = 0``): a configuration
    error about a store, so it is caught as either."""


class StoreModeError(StoreError):
    """The operation needs a store opened in another mode (e.g. a write on a read-only store)."""


class SchemaMismatchError(StoreError):
    """A frame or a stored table does not match the feature's schema."""


class InvalidFrameError(SchemaMismatchError):
    """A frame handed to ``write`` is invalid; nothing was written.

    Attributes name the feature, the column and the first offending row (0-based index in the
    frame).
    """

    def __init__(
        self,
        message: str,
        *,
        feature_key: str,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.feature_key = feature_key
        self.column = column
        self.row = row
        parts = [f"feature '{feature_key}'"]
        if column is not None:
            parts.append(f"column '{column}'")
        if row is not None:
            parts.append(f"row {row}")
        super().__init__(f"{', '.join(parts)}: {message}")


class TableSchemaMismatchError(SchemaMismatchError):
    """A feature's stored table lacks columns its code defines (a migration has not run yet).

    Attributes: ``feature_key``, ``table``, ``missing`` (the model's columns the table lacks)
    and ``extra`` (the table's columns the model does not define).
    """

    def __init__(self, message: str, *, feature_key: str, table: str, missing: list[str],
                 extra: list[str]) -> None:
        self.feature_key = feature_key
        self.table = table
        self.missing = missing
        self.extra = extra
        super().__init__(f"feature '{feature_key}': {message}")


class HashConfigMismatchError(StoreError):
    """The store was written with another hash algorithm or truncation than the reader uses."""


class ApiError(MetaxyError):
    """A CLI/API request that cannot be served (bad output path, malformed sample id...)."""


class SelectorError(ApiError):
    """A ``--select`` / ``--exclude`` selector is malformed or matches no feature."""


class SampleNotFoundError(ApiError):
    """A sample id names no sample of the feature: none is stored and none exists upstream."""


class FilterError(MetaxyError):
    """A ``where=`` filter uses a construct metaxy does not support, or an unknown column."""


class FilterParseError(FilterError):
    """A filter string (CLI syntax) could not be parsed."""


class MigrationError(MetaxyError):
    """A migration could not be generated or applied."""


class MigrationWarning(MetaxyWarning):
    """Autogenerate wrote something the author must review (a proposed column rename, a drop of
    a column holding data left commented out)."""


class MultipleHeadsError(MigrationError):
    """The revision history has several heads and the command needs one."""


class CodeGuardError(MetaxyError):
    """A compute function could not be declared or fingerprinted (``Feature.computes``)."""


class CodeChangedError(CodeGuardError):
    """The code computing a field changed while its ``code_version`` did not (``metaxy push``).

    ``changes`` holds the offending :class:`metaxy.codeguard.check.FieldCheck` entries.
    """

    def __init__(self, message: str, changes: list[object] | None = None) -> None:
        self.changes = list(changes or [])
        super().__init__(message)


def describe_exception(e: BaseException) -> str:
    """``Type: message`` on one line, for errors raised by user code (a team package's import).

    A pydantic ``ValidationError`` (e.g. an invalid ``FeatureSpec(...)``) is reduced to its
    messages, without pydantic's dump of the input and its documentation link. The innermost
    frame outside metaxy, pydantic and the standard library is appended as ``(at file:line)``.
    """
    import os
    import sysconfig
    import traceback
    from pathlib import Path

    errors = getattr(e, "errors", None)
    if type(e).__name__ == "ValidationError" and callable(errors):
        parts = []
        for err in errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        text = f"invalid {getattr(e, 'title', 'value')}: {'; '.join(parts)}"
    else:
        text = f"{type(e).__name__}: {e}"
    skip = (str(Path(__file__).resolve().parent), sysconfig.get_paths()["stdlib"], "<")
    where = None
    for frame in traceback.extract_tb(e.__traceback__):
        name = frame.filename
        if name.startswith(skip) or f"{os.sep}pydantic" in name:
            continue
        where = f"{name}:{frame.lineno}"
    return text + (f" (at {where})" if where else "")
