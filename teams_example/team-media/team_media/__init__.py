"""The media team's metaxy features (example package)."""
