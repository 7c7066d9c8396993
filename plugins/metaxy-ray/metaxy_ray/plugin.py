"""The ``metaxy.plugins`` entry point of metaxy-ray.

The integration adds no store backend and implements no metaxy hook: registering this module only
makes the plugin visible in metaxy's plugin manager (``METAXY_BLOCK_PLUGINS=ray`` leaves it out).
It deliberately imports nothing from Ray, so loading metaxy's plugins stays cheap.
"""

from __future__ import annotations

NAME = "ray"
DESCRIPTION = "Ray Data integration: increments as datasets, bounded retry-safe writers"
