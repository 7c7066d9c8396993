"""Fixtures of the reliability suite (see tests/reliability/faultlib.py for the shared pieces)."""

from __future__ import annotations

from tests.reliability.faultlib import (  # noqa: F401  (fixtures)
    _no_metaxy_env,
    any_url,
    features,
    pg_url,
    server_or_file_url,
)
