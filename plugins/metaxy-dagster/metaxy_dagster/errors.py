"""Errors of the Dagster integration (all derive from :class:`metaxy.MetaxyError`)."""

from __future__ import annotations

from metaxy.errors import MetaxyError


class DagsterIntegrationError(MetaxyError):
    """Base of the Dagster integration's errors."""


class AssetKeyCollisionError(DagsterIntegrationError):
    """Two feature keys map to the same Dagster asset key (or op name)."""


class ComputeError(DagsterIntegrationError):
    """A compute function is missing or returned something unusable."""
