"""Query feature tables from applications with plain SQLModel / SQLAlchemy ORM sessions.

Metadata is append-only, so a feature's table holds many rows per sample. :func:`select_latest`
returns an ordinary ``SELECT`` of the feature class restricted to the current row of every sample
(latest by ``metaxy_updated_at`` then ``metaxy_row_id``, soft-deleted samples hidden). Because it
selects the class itself, further filters use the class's own attributes::

    from sqlmodel import Session
    with Session(engine) as session:
        rows = session.exec(mx.select_latest(Video).where(Video.duration_s > 10)).all()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlmodel import select

from metaxy import columns as C

if TYPE_CHECKING:
    from sqlmodel.sql.expression import SelectOfScalar

    from metaxy.feature import Feature

F = TypeVar("F", bound="Feature")


def latest_row_ids(feature: type[Feature]) -> sa.Select[Any]:
    """``SELECT metaxy_row_id`` of the current row of every sample of ``feature``."""
    from metaxy.engine.sql import latest

    table: sa.Table = feature.__table__  # type: ignore[attr-defined]
    current = latest(table, feature.spec().id_columns, name="mx_latest")
    return sa.select(current.c[C.ROW_ID])


def select_latest(feature: type[F]) -> SelectOfScalar[F]:
    """An ORM ``SELECT`` of ``feature`` returning only the current row of each sample."""
    row_id = getattr(feature, C.ROW_ID)
    return select(feature).where(row_id.in_(latest_row_ids(feature)))
