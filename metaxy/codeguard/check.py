"""Comparing the code with the fingerprints recorded at the last push (``metaxy check``).

For every field with a declared compute function (``@Feature.computes``) the current fingerprint
and ``code_version`` are compared with the field's latest record in ``metaxy_snapshot_code``:

* ``unchanged`` -- same fingerprint and code version;
* ``bumped`` -- the code version changed (the field's samples become stale: the intended path);
* ``new`` -- nothing recorded yet (a new field, a new declaration, or a store pushed before
  fingerprints existed);
* ``changed`` -- the fingerprint changed and the code version did not: the stored results would
  silently stay as they are. This fails ``metaxy check`` and ``metaxy push``;
* ``accepted`` -- such a change the author declared output-neutral (``push --accept``).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from metaxy.codeguard.fingerprint import Fingerprint, fingerprint
from metaxy.codeguard.records import CodeRecord, append_records, latest_records
from metaxy.codeguard.registry import declarations
from metaxy.errors import CodeChangedError, CodeGuardError

if TYPE_CHECKING:
    from metaxy.graph import FeatureGraph
    from metaxy.migrations.snapshots import PushResult
    from metaxy.store.base import MetadataStore


@dataclass(frozen=True)
class FieldCheck:
    """The guard's verdict on one field."""

    feature: str
    field: str
    status: str  # unchanged | bumped | new | changed | accepted
    function: str
    file: str
    line: int
    fingerprint: str
    code_version: str
    recorded_fingerprint: str | None = None
    recorded_code_version: str | None = None
    recorded_project_version: str | None = None
    helpers: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "changed"

    @property
    def target(self) -> str:
        return f"{self.feature}:{self.field}"

    def message(self) -> str:
        where = f"{self.function} ({self.file}:{self.line})"
        if self.status == "changed":
            helpers = f" or of a helper it calls ({', '.join(self.helpers)})" \
                if self.helpers else ""
            return (f"feature '{self.feature}', field '{self.field}': the code of {where}"
                    f"{helpers} changed (fingerprint {self.recorded_fingerprint} -> "
                    f"{self.fingerprint}) "
                    f"but code_version is still '{self.code_version}'. Either bump the field's "
                    "code_version (its samples become stale and are recomputed), or, if the "
                    "output does not change, accept the change: "
                    f"`metaxy push --accept {self.target}`")
        if self.status == "bumped":
            return (f"{self.target}: code_version {self.recorded_code_version} -> "
                    f"{self.code_version} ({where})")
        if self.status == "accepted":
            return f"{self.target}: code change of {where} accepted as output-neutral"
        if self.status == "new":
            return f"{self.target}: {where} not recorded yet (recorded by the next push)"
        return f"{self.target}: unchanged ({where})"


@dataclass
class CheckReport:
    """Every guarded field of the project, compared with its latest record."""

    project: str
    store: str
    fields: list[FieldCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.fields)

    @property
    def failures(self) -> list[FieldCheck]:
        return [f for f in self.fields if not f.ok]


def current_fingerprints(graph: FeatureGraph) -> dict[tuple[str, str], tuple[Fingerprint, str]]:
    """(feature, field) -> (fingerprint, code_version) of every field with a declared function."""
    out: dict[tuple[str, str], tuple[Fingerprint, str]] = {}
    cache: dict[int, Fingerprint] = {}
    for key in graph.topological_order():
        cls = graph.get(key)
        spec = cls.spec()
        for fld, decl in sorted(declarations(cls).items()):
            fp = cache.get(id(decl))
            if fp is None:
                fp = cache[id(decl)] = fingerprint(decl.fn, decl.depth)
            out[(str(key), fld)] = (fp, spec.field(fld).code_version)
    return out


def parse_accept(graph: FeatureGraph, items: list[str]) -> set[tuple[str, str]]:
    """``FEATURE:FIELD`` strings -> (feature, field) pairs of guarded fields."""
    out: set[tuple[str, str]] = set()
    for item in items:
        feature, sep, fld = item.rpartition(":")
        if not sep or not feature or not fld:
            raise CodeGuardError(f"--accept {item!r}: expected FEATURE:FIELD, e.g. "
                                 "speech/transcript:text")
        cls = graph.get(feature)
        name = str(cls.spec().field(fld).key)
        if name not in declarations(cls):
            raise CodeGuardError(f"--accept {item}: field '{name}' of '{feature}' has no declared "
                                 "compute function (@Feature.computes), so there is nothing to "
                                 "accept")
        out.add((str(cls.spec().key), name))
    return out


def compare(current: dict[tuple[str, str], tuple[Fingerprint, str]],
            recorded: dict[tuple[str, str], CodeRecord],
            accept: AbstractSet[tuple[str, str]] = frozenset()) -> list[FieldCheck]:
    """The verdict for every guarded field (pure: no store access)."""
    out = []
    for (feature, fld), (fp, cv) in sorted(current.items()):
        rec = recorded.get((feature, fld))
        if rec is None:
            status = "new"
        elif rec.code_version != cv:
            status = "bumped"
        elif rec.fingerprint == fp.digest:
            status = "unchanged"
        else:
            status = "accepted" if (feature, fld) in accept else "changed"
        out.append(FieldCheck(
            feature=feature, field=fld, status=status, function=fp.ref.function,
            file=fp.ref.file, line=fp.ref.line, fingerprint=fp.digest, code_version=cv,
            recorded_fingerprint=rec.fingerprint if rec else None,
            recorded_code_version=rec.code_version if rec else None,
            recorded_project_version=rec.project_version if rec else None,
            helpers=fp.helpers))
    return out


def check(store: MetadataStore, graph: FeatureGraph, project: str,
          accept: AbstractSet[tuple[str, str]] = frozenset()) -> CheckReport:
    """Compare the code's fingerprints with the latest records in the store (read-only)."""
    current = current_fingerprints(graph)
    with store:
        recorded = latest_records(store, project)
    return CheckReport(project, store.display(), compare(current, recorded, accept))


@dataclass(frozen=True)
class GuardedPush:
    """What ``metaxy push`` did: the snapshot, and the fingerprints it recorded."""

    push: PushResult
    recorded: list[FieldCheck]


def guarded_push(store: MetadataStore, graph: FeatureGraph, project: str,
                 accept: list[str] | None = None) -> GuardedPush:
    """Push the graph and record the fingerprints of changed guarded fields.

    Raises :class:`~metaxy.errors.CodeChangedError` (and records nothing) when a guarded field's
    code changed without a ``code_version`` bump and is not accepted.
    """
    from metaxy.migrations.snapshots import SNAPSHOT_LOCK, SNAPSHOT_LOCK_WAIT_S

    # Check, push and record under the snapshot lock: two concurrent pushes would otherwise
    # both see a field as "new" and record it twice.
    with store.open("w"), store.lock(SNAPSHOT_LOCK, SNAPSHOT_LOCK_WAIT_S):
        return _guarded_push(store, graph, project, accept)


def _guarded_push(store: MetadataStore, graph: FeatureGraph, project: str,
                  accept: list[str] | None) -> GuardedPush:
    from metaxy.migrations import api

    wanted = parse_accept(graph, list(accept or []))
    report = check(store, graph, project, wanted)
    if not report.ok:
        raise CodeChangedError("; ".join(f.message() for f in report.failures),
                               list(report.failures))
    by_target = {(f.feature, f.field): f for f in report.fields}
    for target in sorted(wanted):
        status = by_target[target].status
        if status != "accepted":
            raise CodeGuardError(f"--accept {target[0]}:{target[1]}: nothing to accept (the "
                                 f"field's code is {status})")
    result = api.push(store, graph, project)
    todo = [f for f in report.fields if f.status in ("new", "bumped", "accepted")]
    records = [CodeRecord(project, result.project_version, f.feature, f.field, f.code_version,
                          f.fingerprint, f.function, f.file, f.line, f.status == "accepted")
               for f in todo]
    if records:
        with store.open("w"):
            append_records(store, records)
    return GuardedPush(result, todo)


def accepted_changes(store: MetadataStore, project: str, feature: str) -> list[CodeRecord]:
    """The fields of ``feature`` whose latest recorded code change was accepted as
    output-neutral (store open)."""
    return [r for (f, _), r in sorted(latest_records(store, project).items())
            if f == feature and r.accepted]
