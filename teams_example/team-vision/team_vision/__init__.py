"""The vision team's metaxy features (example package)."""
