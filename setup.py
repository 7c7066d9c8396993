"""Build step: package the top-level ``alembic/`` folder, the one source of metaxy's Alembic
environment template, as ``metaxy/migrations/template/`` (see :mod:`metaxy.migrations.templates`).

Everything else is configured in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
TEMPLATE_FILES = ("env.py", "script.py.mako", "README")  # = metaxy.migrations.templates


class BuildPyWithTemplate(build_py):
    """``build_py`` that also copies ``alembic/`` into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads alembic/ in place
        target = Path(self.build_lib) / "metaxy" / "migrations" / "template"
        target.mkdir(parents=True, exist_ok=True)
        for name in TEMPLATE_FILES:
            shutil.copyfile(ROOT / "alembic" / name, target / name)


setup(cmdclass={"build_py": BuildPyWithTemplate})
