"""Names of the reserved ``metaxy_*`` system columns (SPEC §3) and the per-field storage columns.

In the database each field's provenance and data version live in their own string columns
(``metaxy_pv__<field>`` and ``metaxy_dv__<field>``); at the Python API they are shown as the structs
``metaxy_provenance_by_field`` and ``metaxy_data_version_by_field``.
"""

from __future__ import annotations

from typing import Final

from metaxy.keys import FieldKey

PREFIX: Final = "metaxy_"

ROW_ID: Final = "metaxy_row_id"
PROVENANCE: Final = "metaxy_provenance"
DATA_VERSION: Final = "metaxy_data_version"
FEATURE_VERSION: Final = "metaxy_feature_version"
PROJECT_VERSION: Final = "metaxy_project_version"
CREATED_AT: Final = "metaxy_created_at"
UPDATED_AT: Final = "metaxy_updated_at"
DELETED_AT: Final = "metaxy_deleted_at"
MATERIALIZATION_ID: Final = "metaxy_materialization_id"

# API-only columns (never stored as such)
PROVENANCE_BY_FIELD: Final = "metaxy_provenance_by_field"
DATA_VERSION_BY_FIELD: Final = "metaxy_data_version_by_field"
INPUT_BY_FIELD: Final = "metaxy_input_by_field"
STALE_FIELDS: Final = "metaxy_stale_fields"
STALE_REASON: Final = "metaxy_stale_reason"  # only with a stale_if= rule: provenance / stale_if

PV_PREFIX: Final = "metaxy_pv__"
DV_PREFIX: Final = "metaxy_dv__"

SYSTEM_SCALAR_COLUMNS: Final = (
    ROW_ID,
    PROVENANCE,
    DATA_VERSION,
    FEATURE_VERSION,
    PROJECT_VERSION,
    CREATED_AT,
    UPDATED_AT,
    DELETED_AT,
    MATERIALIZATION_ID,
)


def pv_column(field: FieldKey) -> str:
    """Storage column of one field's provenance hash."""
    return field.column(PV_PREFIX)


def dv_column(field: FieldKey) -> str:
    """Storage column of one field's data version."""
    return field.column(DV_PREFIX)


def is_reserved(name: str) -> bool:
    return name.startswith(PREFIX)
