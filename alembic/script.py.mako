"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
<%
    state = config.attributes.get("metaxy")
    from_version = state.from_version if state is not None else None
    to_version = state.to_version if state is not None else None

    def body(text):
        # a body of comments only (e.g. a commented reconcile proposal) still needs a statement
        code = [ln for ln in (text or "").splitlines() if ln.strip() and not ln.strip().startswith("#")]
        return text + "\n    pass" if text and not code else (text or "pass")
%>
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

# metaxy: the project versions (graph snapshots) this revision goes from and to
metaxy_from_version: str | None = ${repr(from_version)}
metaxy_to_version: str | None = ${repr(to_version)}


def upgrade() -> None:
    ${body(upgrades)}


def downgrade() -> None:
    ${body(downgrades)}
