"""The ``metaxy.plugins`` entry point of metaxy-dagster.

The integration adds no store backend and implements no metaxy hook: registering this module only
makes the plugin visible in metaxy's plugin manager (``METAXY_BLOCK_PLUGINS=dagster`` leaves it
out). It deliberately imports nothing from Dagster, so loading metaxy's plugins stays cheap.
"""

from __future__ import annotations

NAME = "dagster"
DESCRIPTION = "Dagster integration: features as assets, increments in asset bodies, observations"
