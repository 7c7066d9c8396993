"""Errors of the Ray integration (all derive from :class:`metaxy.MetaxyError`)."""

from __future__ import annotations

from metaxy.errors import MetaxyError


class RayIntegrationError(MetaxyError):
    """Base of the Ray integration's errors (also: bad arguments to its functions)."""


class WriteFailedError(RayIntegrationError):
    """A block of computed rows could not be written; names the feature and the first failing
    sample ids (the original error is chained)."""
