"""The code-change guard against real stores (issue 18 item 1): fingerprints recorded by
``push`` in ``metaxy_snapshot_code``, compared by ``check``, accepted changes recorded and
mentioned by ``explain``. Parametrised over DuckDB and PostgreSQL (the SQL stores that hold
snapshots)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

import metaxy as mx
from metaxy import api
from metaxy.codeguard.check import check, guarded_push
from metaxy.codeguard.records import CODE_TABLE, latest_records
from metaxy.errors import CodeChangedError, CodeGuardError
from metaxy.migrations import api as mig
from tests.unit.codeguard_pkg import COMPUTE, HELPERS, CodePackage

PROJECT = "guarded"
LOGIC = COMPUTE.replace("+ SUFFIX", "+ SUFFIX + SUFFIX")
COMMENT_ONLY = COMPUTE.replace("    return [", "    # reformatted, same logic\n    return  [ ")


@pytest.fixture
def pkg(tmp_path: Path) -> Iterator[CodePackage]:
    p = CodePackage(tmp_path / "code")
    yield p
    p.close()


def _statuses(url: str, graph: mx.FeatureGraph) -> dict[str, str]:
    report = check(mx.get_store(url, graph=graph), graph, PROJECT)
    return {f"{f.feature}:{f.field}": f.status for f in report.fields}


def _rows(url: str, graph: mx.FeatureGraph) -> list[tuple[str, str, bool]]:
    store = mx.get_store(url, graph=graph)
    with store:
        conn = store.conn  # type: ignore[attr-defined]
        t = CODE_TABLE
        rows = conn.execute(sa.select(t.c.field_key, t.c.fingerprint, t.c.accepted)
                            .order_by(t.c.seq)).all()
        conn.commit()
    return [(r[0], r[1], bool(r[2])) for r in rows]


def test_push_records_the_fingerprint_once(store_url: str, pkg: CodePackage) -> None:
    graph = pkg.load()
    pushed = guarded_push(mx.get_store(store_url, graph=graph), graph, PROJECT)
    assert pushed.push.created and [f.status for f in pushed.recorded] == ["new"]
    again = guarded_push(mx.get_store(store_url, graph=graph), graph, PROJECT)
    assert not again.push.created and again.recorded == []
    assert [r[0] for r in _rows(store_url, graph)] == ["text"]
    assert _statuses(store_url, graph) == {"guard/doc:text": "unchanged"}


def test_comment_only_change_raises_no_alarm(store_url: str, pkg: CodePackage) -> None:
    guarded_push(mx.get_store(store_url, graph=(g := pkg.load())), g, PROJECT)
    after = pkg.load(compute=COMMENT_ONLY)
    assert _statuses(store_url, after) == {"guard/doc:text": "unchanged"}


@pytest.mark.parametrize("compute, helpers", [
    pytest.param(LOGIC, HELPERS, id="logic"),
    pytest.param(COMPUTE, HELPERS.replace(".upper()", ".lower()"), id="called-helper"),
])
def test_change_without_bump_is_caught(store_url: str, pkg: CodePackage, compute: str,
                                       helpers: str) -> None:
    guarded_push(mx.get_store(store_url, graph=(g := pkg.load())), g, PROJECT)
    after = pkg.load(compute=compute, helpers=helpers)
    report = check(mx.get_store(store_url, graph=after), after, PROJECT)
    assert not report.ok
    (bad,) = report.failures
    assert (bad.feature, bad.field, bad.function) == ("guard/doc", "text",
                                                      f"{pkg.name}.compute.make_text")
    # push refuses too, and records nothing (neither the snapshot nor a fingerprint)
    before = _rows(store_url, after)
    with pytest.raises(CodeChangedError, match="guard/doc:text") as err:
        guarded_push(mx.get_store(store_url, graph=after), after, PROJECT)
    assert f"compute.py:{bad.line}" in str(err.value) and "code_version" in str(err.value)
    assert _rows(store_url, after) == before


def test_change_with_bump_is_fine(store_url: str, pkg: CodePackage) -> None:
    guarded_push(mx.get_store(store_url, graph=(g := pkg.load())), g, PROJECT)
    bumped = pkg.load(compute=LOGIC, text_version="2")
    assert _statuses(store_url, bumped) == {"guard/doc:text": "bumped"}
    pushed = guarded_push(mx.get_store(store_url, graph=bumped), bumped, PROJECT)
    assert pushed.push.created and [f.status for f in pushed.recorded] == ["bumped"]
    assert _statuses(store_url, bumped) == {"guard/doc:text": "unchanged"}


def test_accepting_a_change_is_recorded(store_url: str, pkg: CodePackage) -> None:
    graph = pkg.load()
    guarded_push(mx.get_store(store_url, graph=graph), graph, PROJECT)
    with pytest.raises(CodeGuardError, match=r"nothing to accept .*unchanged"):
        guarded_push(mx.get_store(store_url, graph=graph), graph, PROJECT,
                     accept=["guard/doc:text"])
    after = pkg.load(compute=LOGIC)
    pushed = guarded_push(mx.get_store(store_url, graph=after), after, PROJECT,
                          accept=["guard/doc:text"])
    assert not pushed.push.created  # same definitions: the snapshot exists already
    assert [f.status for f in pushed.recorded] == ["accepted"]
    rows = _rows(store_url, after)
    assert [(r[0], r[2]) for r in rows] == [("text", False), ("text", True)]
    assert rows[0][1] != rows[1][1]
    assert _statuses(store_url, after) == {"guard/doc:text": "unchanged"}
    store = mx.get_store(store_url, graph=after)
    with store:
        rec = latest_records(store, PROJECT)[("guard/doc", "text")]
    assert rec.accepted and rec.function == f"{pkg.name}.compute.make_text"


def test_accept_names_a_guarded_field(store_url: str, pkg: CodePackage) -> None:
    graph = pkg.load()
    store = mx.get_store(store_url, graph=graph)
    with pytest.raises(CodeGuardError, match="expected FEATURE:FIELD"):
        guarded_push(store, graph, PROJECT, accept=["guard/doc"])
    with pytest.raises(CodeGuardError, match="field 'size' of 'guard/doc' has no declared"):
        guarded_push(store, graph, PROJECT, accept=["guard/doc:size"])
    with pytest.raises(mx.MetaxyError, match="has no field 'txt'"):
        guarded_push(store, graph, PROJECT, accept=["guard/doc:txt"])


def test_explain_mentions_an_accepted_change(store_url: str, pkg: CodePackage) -> None:
    graph = pkg.load()
    store = mx.get_store(store_url, graph=graph)
    with store.open("w"):
        samples = pl.DataFrame({"doc_id": ["d1"], "text": ["x"], "metaxy_input_by_field": [
            {"text": "t1", "size": "s1"}]})
        store.write("guard/doc", store.resolve_update("guard/doc", samples=samples).new)
    guarded_push(store, graph, PROJECT)
    project = api.Project(mx.MetaxyConfig(project=PROJECT), graph)
    assert not [c for ex in api.explain(project, store, "guard/doc", ["d1"])
                for c in ex.causes if c.kind == "code_accepted"]
    after = pkg.load(compute=LOGIC)
    guarded_push(mx.get_store(store_url, graph=after), after, PROJECT, accept=["guard/doc:text"])
    project = api.Project(mx.MetaxyConfig(project=PROJECT), after)
    (ex,) = api.explain(project, mx.get_store(store_url, graph=after), "guard/doc", ["d1"])
    (note,) = [c for c in ex.causes if c.kind == "code_accepted"]
    assert note.field == "text" and "accepted as output-neutral" in note.message
    assert "metaxy push --accept guard/doc:text" in note.message


def test_snapshots_without_fingerprints_keep_working(store_url: str, pkg: CodePackage) -> None:
    """A store pushed before the guard existed (plain snapshot, no code table)."""
    graph = pkg.load()
    assert mig.push(mx.get_store(store_url, graph=graph), graph, PROJECT).created
    after = pkg.load(compute=LOGIC)
    assert _statuses(store_url, after) == {"guard/doc:text": "new"}
    pushed = guarded_push(mx.get_store(store_url, graph=after), after, PROJECT)
    assert not pushed.push.created and [f.status for f in pushed.recorded] == ["new"]
    assert mig.graph_diff(mx.get_store(store_url, graph=after), after, PROJECT).changed == ()
