"""Fixtures of the security suite (see tests/reliability/faultlib.py for the shared pieces)."""

from __future__ import annotations

from tests.reliability.faultlib import (  # noqa: F401  (fixtures)
    _no_metaxy_env,
    any_url,
    features,
    server_or_file_url,
)
