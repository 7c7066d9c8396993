"""Errors of the ClickHouse backend (each derives from metaxy's public errors)."""

from __future__ import annotations

from metaxy.errors import MigrationError, StoreError, StoreOptionError


class ClickHouseOptionError(StoreOptionError):
    """A ClickHouse store option (``cluster=``, ``settings=``, the URL) is invalid."""


class ClickHouseUnsupportedError(StoreError):
    """An operation ClickHouse cannot do the way metaxy needs it (e.g. a transaction)."""


class ClickHouseMigrationError(MigrationError):
    """A migration step ClickHouse cannot run (it has no transactional DDL)."""
