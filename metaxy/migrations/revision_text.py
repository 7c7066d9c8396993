"""Safe text for generated revision files: the revision id (a file name) and the message.

``metaxy migrations revision --rev-id`` names the file ``versions/<rev-id>_<slug>.py``; an id such
as ``/abs/path`` or ``../../escape`` once wrote outside ``versions/``. The ``-m`` message is
rendered by the template into the module docstring (``\"\"\"${message}``, as in Alembic's own
templates, which do not escape it); a message containing ``\"\"\"`` or a trailing backslash
once produced a file that is not Python, and every migrations command then failed with
``SyntaxError``.
"""

from __future__ import annotations

import re

from metaxy.errors import MigrationError

REV_ID = re.compile(r"[A-Za-z0-9_]{1,64}")


def check_rev_id(rev_id: str | None) -> None:
    """Refuse a revision id that is not 1-64 letters, digits or underscores."""
    if rev_id is not None and not REV_ID.fullmatch(rev_id):
        raise MigrationError(f"revision id {rev_id!r} is invalid: use 1-64 letters, digits and "
                             "underscores (it becomes the file name in versions/)")


def docstring_text(message: str) -> str:
    """``message`` escaped for the inside of a ``\"\"\"...\"\"\"`` literal: Python reads it back
    as exactly ``message`` (so Alembic's ``Script.doc`` still shows it). Backslashes and quotes
    are escaped, newlines kept, every other unprintable character (NUL, CR, line separators,
    lone surrogates) written as an escape sequence."""
    out = []
    for ch in message:
        if ch in "\\\"":
            out.append("\\" + ch)
        elif ch == "\n" or ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)
