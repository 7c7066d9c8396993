#!/usr/bin/env bash
# The main job: run the example pipeline end to end on the embedded DuckDB default store.
source "$(dirname "$0")/env.sh"
exec metaxy demo "$@"
