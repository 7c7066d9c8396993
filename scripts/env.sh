# Sourced by the other scripts: creates .venv with metaxy, its plugins and the example teams
# (editable), reinstalling only when a pyproject.toml changed. Needs Python >= 3.11 and pip.
set -euo pipefail
shopt -s nullglob
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "metaxy needs Python >= 3.11")'
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
STAMP="$(cat pyproject.toml plugins/*/pyproject.toml teams_example/*/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)"
if [ "$(cat .venv/.metaxy-stamp 2>/dev/null || true)" != "$STAMP" ]; then
    echo "==> installing metaxy, plugins and example teams into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip >&2
    ARGS=(-e ".[dev]")
    for p in plugins/*/ teams_example/*/; do ARGS+=(-e "$p"); done
    .venv/bin/python -m pip install -q "${ARGS[@]}" >&2
    echo "$STAMP" > .venv/.metaxy-stamp
fi
export PATH="$ROOT/.venv/bin:$PATH"
