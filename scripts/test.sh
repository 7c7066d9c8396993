#!/usr/bin/env bash
# The whole test suite (lint, types, tests). PostgreSQL tests use 127.0.0.1:5432.
source "$(dirname "$0")/env.sh"
echo "==> ruff" >&2
ruff check .
echo "==> mypy" >&2
mypy
echo "==> pytest" >&2
# Two workers (one per core of the CI machine); PYTEST_WORKERS=0 runs in one process.
# --dist loadgroup: the Ray tests (xdist group "ray") share one worker, hence one Ray cluster.
exec python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadgroup "$@"
