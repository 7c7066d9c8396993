"""Definition-time metadata of a feature's asset: description and column schema."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import dagster as dg

from metaxy import column_schema
from metaxy import columns as C

if TYPE_CHECKING:
    from metaxy import Feature


def description_of(feature: type[Feature]) -> str | None:
    """The spec's description, else the class's own docstring (not an inherited one)."""
    spec = feature.spec()
    if spec.description:
        return spec.description
    doc = feature.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


def table_schema(feature: type[Feature]) -> dg.TableSchema:
    """The model's user columns (system ``metaxy_*`` columns left out) as a Dagster TableSchema.

    Types are SQLAlchemy type-affinity names (``String``, ``Integer``, ``Float``...), the same
    portable names metaxy hashes into definition versions; id columns are marked ``unique`` as a
    group in the column description.
    """
    ids = set(feature.spec().id_columns)
    fields: dict[str, Any] = getattr(feature, "model_fields", {})
    columns = []
    for col in column_schema(feature):
        name = col["name"]
        if C.is_reserved(name):
            continue
        info = fields.get(name)
        desc = getattr(info, "description", None)
        if name in ids:
            desc = f"id column{': ' + desc if desc else ''}"
        columns.append(dg.TableColumn(
            name=name, type=str(col["type"]), description=desc,
            constraints=dg.TableColumnConstraints(nullable=bool(col["nullable"])),
        ))
    return dg.TableSchema(columns=columns)
