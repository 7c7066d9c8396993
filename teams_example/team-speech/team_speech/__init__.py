"""The speech team's metaxy features (example package)."""
