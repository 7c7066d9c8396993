"""Option types shared by every ``metaxy`` command module (``metaxy.cli``, the migrations CLI)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class Format(StrEnum):
    """``--format``: human-readable text or a JSON document for machines."""

    text = "text"
    json = "json"


StoreOpt = Annotated[str | None, typer.Option(
    "--store", "-s", help="Store name from the configuration, or a store URL.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ExitCodeOpt = Annotated[bool, typer.Option(
    "--exit-code", help="Exit with code 1 when any selected feature has new, stale or orphaned "
                        "samples (a CI gate; errors exit with 1 too).")]
SelectOpt = Annotated[list[str] | None, typer.Option(
    "--select", help="Only these features, dbt syntax (repeatable): key, speech/*, +key "
                     "(with ancestors), key+ (with descendants), 2+key, key+1.")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Leave out these features (same syntax as --select; repeatable).")]
StaleIfOpt = Annotated[list[str] | None, typer.Option(
    "--stale-if", metavar="[FEATURE:]FILTER",
    help="Custom staleness rule (repeatable): samples whose stored row matches the filter "
         "(filter syntax, the feature's own columns) are stale, e.g. \"status == 'failed'\"; "
         "prefix FEATURE: unless the command names one feature.")]
