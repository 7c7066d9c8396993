"""The top-level ``alembic/`` is the one source of the migration environment template (issue
12): the build step packages it, ``metaxy migrations init`` copies it, nothing keeps a copy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from metaxy.migrations.templates import TEMPLATE_FILES, template_dir

ROOT = Path(__file__).resolve().parents[2]


def test_the_packaged_template_equals_alembic(tmp_path: Path) -> None:
    build = tmp_path / "build"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)],
                   cwd=ROOT, check=True, capture_output=True)
    packaged = build / "metaxy" / "migrations" / "template"
    assert sorted(p.name for p in packaged.iterdir()) == sorted(TEMPLATE_FILES)
    for name in TEMPLATE_FILES:
        assert (packaged / name).read_bytes() == (ROOT / "alembic" / name).read_bytes(), name


def test_a_checkout_reads_alembic_in_place_and_keeps_no_copy() -> None:
    assert not (ROOT / "metaxy" / "migrations" / "template").exists()
    assert template_dir() == ROOT / "alembic"


def test_the_build_step_and_the_runtime_agree_on_the_files() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    values = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
              and any(isinstance(t, ast.Name) and t.id == "TEMPLATE_FILES" for t in node.targets)]
    assert values == [TEMPLATE_FILES]
