"""Where the Alembic environment template (``env.py``, ``script.py.mako``, ``README``) lives.

The one source is the repository's top-level ``alembic/`` folder (also the example project's own
migration environment, ``migrations_dir = "alembic"`` in ``metaxy.toml``). The build step in
``setup.py`` copies it into the wheel as ``metaxy/migrations/template/``; a source checkout or an
editable install reads ``alembic/`` in place.
"""

from __future__ import annotations

from pathlib import Path

from metaxy.errors import MigrationError

#: The files of the template, copied by ``metaxy migrations init`` and by the build step.
TEMPLATE_FILES = ("env.py", "script.py.mako", "README")


def template_dir() -> Path:
    """The folder holding :data:`TEMPLATE_FILES` (installed copy first, then the checkout's).

    Raises:
        MigrationError: neither the installed copy nor a source checkout's ``alembic/`` exists.
    """
    here = Path(__file__).resolve().parent
    candidates = (here / "template", here.parents[1] / "alembic")
    for folder in candidates:
        if all((folder / name).is_file() for name in TEMPLATE_FILES):
            return folder
    raise MigrationError(
        "metaxy's Alembic environment template is missing (looked in "
        f"{', '.join(str(c) for c in candidates)}); reinstall metaxy")
