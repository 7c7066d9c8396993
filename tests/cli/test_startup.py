"""CLI startup stays light: importing the CLI loads no driver, ORM or data-frame library.

Those are imported inside the commands that need them, so ``metaxy --help`` and
``metaxy config show`` do not pay for them (timings live in benchmarks/, never in tests).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("duckdb", "psycopg", "alembic", "polars", "sqlalchemy", "sqlmodel")

PROBE = """
import json, sys
{setup}
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(setup: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)],
                         capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_import_cli_is_light() -> None:
    assert _loaded("import metaxy.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["config", "show"], ["ingest", "--help"]])
def test_help_and_config_show_are_light(argv: list[str]) -> None:
    setup = (f"sys.argv = ['metaxy', *{argv!r}]\n"
             "from metaxy.cli import main\n"
             "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code")
    assert _loaded(setup) == []


def test_the_probe_sees_heavy_imports() -> None:
    """The check can fail: loading the project (what a store command does) imports the ORM."""
    assert "sqlalchemy" in _loaded("from metaxy import api\napi.load_project()")
