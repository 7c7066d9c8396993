#!/usr/bin/env bash
# The whole test suite (lint, types, tests). PostgreSQL tests use 127.0.0.1:5432.
source "$(dirname "$0")/env.sh"
echo "==> ruff" >&2
ruff check .
echo "==> mypy" >&2
mypy
echo "==> pytest" >&2
exec python -m pytest "$@"
