"""Ingest root samples from a file: read Parquet/CSV, resolve against the store, write the work.

A root feature has no upstream: its expected samples come from outside (a listing of files with
their checksums, say). :func:`ingest` reads such a listing, hands it to
``store.resolve_update(feature, samples=...)`` and appends the new and stale rows, so re-ingesting
an unchanged file writes nothing and a changed checksum makes exactly that sample stale.

Per-field inputs come, in order of precedence, from ``inputs`` (``{column: field}``, the CLI's
``--input COL=FIELD``), from a ``metaxy_input_by_field`` struct column (Parquet), or, for every
field without either, from the content hash of the row's user columns (what the store does for a
sample without inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metaxy.api.project import Project
from metaxy.errors import ApiError

if TYPE_CHECKING:
    import polars as pl

    from metaxy.feature import Feature
    from metaxy.store.base import MetadataStore

CONTENT_HASH = "(content hash)"
"""What :attr:`IngestResult.inputs` shows for a field whose input is the row's content hash."""


@dataclass(frozen=True)
class IngestResult:
    """What one ingest found and wrote.

    ``new`` / ``stale`` / ``unchanged`` / ``orphaned`` count samples (``orphaned``: stored samples
    absent from the file; they are only reported, never deleted). ``written`` is the number of rows
    appended (0 with ``dry_run``). ``inputs`` maps every field to the source of its input: a
    column name, ``metaxy_input_by_field``, or ``(content hash)``. ``ignored_columns`` are file
    columns that are neither model columns nor mapped inputs.
    """

    feature: str
    file: str
    samples: int
    new: int
    stale: int
    unchanged: int
    orphaned: int
    written: int
    dry_run: bool
    inputs: dict[str, str]
    stale_fields: dict[str, int] = dc_field(default_factory=dict)
    ignored_columns: list[str] = dc_field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {"new": self.new, "stale": self.stale, "unchanged": self.unchanged,
                "orphaned": self.orphaned}


def parse_input_options(options: list[str] | None) -> dict[str, str]:
    """``["checksum_audio=audio", ...]`` (the CLI's ``--input``) -> ``{column: field}``."""
    out: dict[str, str] = {}
    for opt in options or []:
        col, sep, fld = opt.partition("=")
        col, fld = col.strip(), fld.strip()
        if not sep or not col or not fld:
            raise ApiError(f"--input {opt!r}: expected COLUMN=FIELD, e.g. checksum_audio=audio")
        if col in out:
            raise ApiError(f"--input: column '{col}' is mapped twice ({out[col]}, {fld})")
        out[col] = fld
    return out


def read_samples(path: Path, feature: type[Feature]) -> pl.DataFrame:
    """A Parquet or CSV file as a frame. CSV cells are read as text, then the model's columns
    are cast to their types (so ids like ``007`` and checksums stay strings)."""
    import polars as pl

    from metaxy.store.frames import cast_user_columns
    from metaxy.store.types import table_schema

    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise ApiError(f"cannot ingest {path}: unsupported file type '{suffix or '(none)'}' "
                       "(use .parquet or .csv)")
    if not path.is_file():
        raise ApiError(f"cannot ingest {path}: no such file")
    try:
        if suffix == ".csv":
            df = pl.read_csv(path, infer_schema=False)
        else:
            df = pl.read_parquet(path)
    except Exception as e:  # polars' own errors: corrupt file, bad encoding...
        raise ApiError(f"cannot read {path}: {type(e).__name__}: "
                       f"{' '.join(str(e).split())[:300]}") from e
    if suffix == ".csv":
        present = df.columns
        df = cast_user_columns(feature, df, table_schema(feature.__table__))  # type: ignore[attr-defined]
        df = df.select(present)
    return df


def _with_inputs(feature: type[Feature], df: pl.DataFrame, mapping: dict[str, str],
                 settings: Any) -> tuple[pl.DataFrame, dict[str, str]]:
    """Add (or replace) the ``metaxy_input_by_field`` struct from the mapped columns; fields
    without a mapped column keep the struct's value if the file has one, else the content hash."""
    import polars as pl

    from metaxy import columns as C
    from metaxy.store.frames import cast_user_columns, content_input
    from metaxy.store.types import table_schema

    spec = feature.spec()
    key = str(spec.key)
    fields = [str(f) for f in spec.field_keys]
    by_field = {fld: col for col, fld in mapping.items()}
    for col, fld in mapping.items():
        if fld not in fields:
            raise ApiError(f"--input {col}={fld}: feature '{key}' has no field '{fld}' "
                           f"(fields: {', '.join(fields)})")
        if col not in df.columns:
            raise ApiError(f"--input {col}={fld}: the file has no column '{col}' "
                           f"(columns: {', '.join(df.columns)})")
        nulls = df[col].is_null().arg_true()
        if len(nulls):
            raise ApiError(f"--input {col}={fld}: column '{col}' is empty in row "
                           f"{int(nulls[0])} (every sample needs an input)")
    if len(set(by_field)) < len(mapping):
        raise ApiError(f"--input: a field is mapped from two columns ({mapping})")
    struct = df.schema.get(C.INPUT_BY_FIELD)
    in_struct = {f.name for f in struct.fields} if isinstance(struct, pl.Struct) else set()
    sources: dict[str, str] = {}
    exprs: dict[str, pl.Expr] = {}
    content: pl.Expr | None = None
    for fld in fields:
        if fld in by_field:
            sources[fld] = by_field[fld]
            exprs[fld] = pl.col(by_field[fld]).cast(pl.Utf8)
        elif fld in in_struct:
            sources[fld] = C.INPUT_BY_FIELD
            exprs[fld] = pl.col(C.INPUT_BY_FIELD).struct.field(fld).cast(pl.Utf8)
        else:
            sources[fld] = CONTENT_HASH
            if content is None:
                cast = cast_user_columns(feature, df, table_schema(feature.__table__))  # type: ignore[attr-defined]
                hashed = cast.select(content_input(feature, settings).alias("h"))["h"]
                content = pl.lit(hashed)
            exprs[fld] = content
    if all(s == CONTENT_HASH for s in sources.values()):
        return df, sources  # the store hashes the content itself
    if all(s == C.INPUT_BY_FIELD for s in sources.values()):
        return df, sources
    struct_expr = pl.struct([e.alias(f) for f, e in exprs.items()])
    return df.with_columns(struct_expr.alias(C.INPUT_BY_FIELD)), sources


INGEST_STEPS = ("read", "resolve", "write")
"""The steps :func:`ingest` reports to its ``progress`` callback, in order."""


def ingest(project: Project, store: MetadataStore, feature: str, path: str | Path | Any, *,
           inputs: dict[str, str] | None = None, dry_run: bool = False,
           progress: Callable[[str], None] | None = None) -> IngestResult:
    """Resolve a root feature's samples read from ``path`` and write the new and stale rows.

    ``path`` is a file (Parquet or CSV) or the samples themselves: a Polars or pandas
    DataFrame or a pyarrow Table.

    ``inputs`` maps file columns to field keys (``{"checksum_audio": "audio"}``). With
    ``dry_run`` the store is only read. The new and stale rows are appended in one write (one
    transaction); orphaned samples (stored, not in the file) are counted, never deleted.
    ``progress`` is called with each step of :data:`INGEST_STEPS` once it is done.
    """
    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    from metaxy import columns as C
    from metaxy.engine.plan import user_columns
    from metaxy.store.base import Increment

    cls = project.graph.get(feature)
    spec = cls.spec()
    key = str(spec.key)
    if spec.deps:
        raise ApiError(f"feature '{key}' is not a root feature (it depends on "
                       f"{', '.join(str(d.feature) for d in spec.deps)}): only root features "
                       "are ingested; compute it from its increment instead")
    if isinstance(path, str | Path):
        path = Path(path)
        df = read_samples(path, cls)
    else:
        from metaxy.frame_input import to_polars

        df = to_polars(path, what="ingest", feature_key=key)
        path = Path(f"<{type(path).__name__}>")
    for col in spec.id_columns:
        if col not in df.columns:
            raise ApiError(f"{path}: id column '{col}' of feature '{key}' is missing "
                           f"(columns: {', '.join(df.columns)})")
    df, sources = _with_inputs(cls, df, inputs or {}, store.hash_settings)
    known = set(user_columns(cls)) | {C.INPUT_BY_FIELD} | set(inputs or {})
    ignored = [c for c in df.columns if c not in known]
    step("read")
    with store.open("r" if dry_run else "w"):
        inc = store.resolve_update(cls, samples=df)
        assert isinstance(inc, Increment)
        step("resolve")
        written = 0
        todo = inc.to_process()
        if todo.height and not dry_run:
            written = store.write(cls, todo)
        step("write")
    stale_fields: dict[str, int] = {}
    if inc.stale.height and C.STALE_FIELDS in inc.stale.columns:
        for fields in inc.stale[C.STALE_FIELDS].to_list():
            for f in fields or []:
                stale_fields[f] = stale_fields.get(f, 0) + 1
    return IngestResult(
        feature=key, file=str(path), samples=df.height, new=inc.new.height,
        stale=inc.stale.height, unchanged=df.height - inc.new.height - inc.stale.height,
        orphaned=inc.orphaned.height, written=written, dry_run=dry_run, inputs=sources,
        stale_fields=dict(sorted(stale_fields.items())), ignored_columns=ignored)
