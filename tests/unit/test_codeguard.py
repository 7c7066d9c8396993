"""The code-change guard without a store (issue 18 item 1): declaring compute functions and
fingerprinting them (normalised AST + same-package helpers, 2 levels deep + literal constants)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import metaxy as mx
from metaxy.codeguard.check import compare, current_fingerprints
from metaxy.codeguard.fingerprint import fingerprint
from metaxy.codeguard.records import CodeRecord
from metaxy.codeguard.registry import declarations
from metaxy.errors import CodeGuardError, FieldNotFoundError
from tests.unit.codeguard_pkg import COMPUTE, HELPERS, CodePackage


@pytest.fixture
def pkg(tmp_path: Path) -> Iterator[CodePackage]:
    p = CodePackage(tmp_path)
    yield p
    p.close()


def _digest(graph: mx.FeatureGraph) -> str:
    (fp, _), = current_fingerprints(graph).values()
    return fp.digest


def test_declaration_is_recorded_on_the_class(pkg: CodePackage) -> None:
    graph = pkg.load()
    decl = declarations(graph.get("guard/doc"))
    assert list(decl) == ["text"]
    assert decl["text"].fn is pkg.module("compute").make_text
    fp = fingerprint(decl["text"].fn)
    assert fp.ref.function == f"{pkg.name}.compute.make_text"
    line = Path(fp.ref.file).read_text(encoding="utf-8").splitlines()[fp.ref.line - 1]
    assert fp.ref.file.endswith("compute.py") and line == '@Doc.computes("text")'
    assert fp.helpers == (f"{pkg.name}.helpers._strip", f"{pkg.name}.helpers.clean")


@pytest.mark.parametrize("edit", [
    pytest.param(lambda s: s.replace('"""Clean every row and mark it."""', '"""Other doc."""'),
                 id="docstring"),
    pytest.param(lambda s: s.replace("    return [", "    # a comment\n    return  [ "),
                 id="comment-and-spacing"),
    pytest.param(lambda s: s.replace("def make_text(rows):", "def build_text(\n    rows,\n):"),
                 id="renamed-and-reformatted"),
    pytest.param(lambda s: s.replace('@Doc.computes("text")',
                                     '@Doc.computes("text", depth=2)'), id="decorator"),
])
def test_cosmetic_changes_keep_the_fingerprint(pkg: CodePackage, edit: object) -> None:
    before = _digest(pkg.load())
    assert callable(edit)
    assert _digest(pkg.load(compute=edit(COMPUTE))) == before


@pytest.mark.parametrize("compute, helpers", [
    pytest.param(COMPUTE.replace("+ SUFFIX", "+ SUFFIX + SUFFIX"), HELPERS, id="logic"),
    pytest.param(COMPUTE.replace('SUFFIX = "!"', 'SUFFIX = "?"'), HELPERS, id="constant"),
    pytest.param(COMPUTE, HELPERS.replace(".upper()", ".lower()"), id="helper"),
    pytest.param(COMPUTE, HELPERS.replace(".strip()", ".rstrip()"), id="helper-of-helper"),
    pytest.param(COMPUTE, HELPERS.replace('return _strip(value).upper()',
                                          '"""Now documented."""\n    return _strip(value).upper()'
                                          ).replace("return _strip", "return   _strip"),
                 id="helper-docstring-only"),
])
def test_logic_changes_change_the_fingerprint(pkg: CodePackage, compute: str,
                                              helpers: str, request: pytest.FixtureRequest
                                              ) -> None:
    before = _digest(pkg.load())
    after = _digest(pkg.load(compute=compute, helpers=helpers))
    cosmetic = request.node.callspec.id == "helper-docstring-only"
    assert (after == before) is cosmetic


def test_helpers_are_followed_two_levels_deep(pkg: CodePackage) -> None:
    """clean (level 1) -> _strip (level 2) -> _deeper (level 3: not followed by default)."""
    deeper = HELPERS.replace("    return value\n", "    return value * 2\n")
    assert _digest(pkg.load(helpers=deeper)) == _digest(pkg.load())
    three = COMPUTE.replace('@Doc.computes("text")', '@Doc.computes("text", depth=3)')
    assert _digest(pkg.load(compute=three, helpers=deeper)) != _digest(pkg.load(compute=three))


def test_other_packages_are_not_followed(pkg: CodePackage) -> None:
    compute = COMPUTE.replace("helpers.clean(r)", "helpers.clean(r) + textwrap.dedent(r)") \
        .replace("SUFFIX = ", "import textwrap\n\nSUFFIX = ")
    fp = fingerprint(declarations(pkg.load(compute=compute).get("guard/doc"))["text"].fn)
    assert all(h.startswith(pkg.name) for h in fp.helpers)


def test_compare_verdicts(pkg: CodePackage) -> None:
    graph = pkg.load()
    current = current_fingerprints(graph)
    (fp, cv), = current.values()
    key = ("guard/doc", "text")

    def rec(fingerprint: str, code_version: str) -> dict[tuple[str, str], CodeRecord]:
        return {key: CodeRecord("p", "v", *key, code_version, fingerprint, "f", "x.py", 1)}

    assert compare(current, {})[0].status == "new"
    assert compare(current, rec(fp.digest, cv))[0].status == "unchanged"
    assert compare(current, rec("0" * 16, "0"))[0].status == "bumped"
    changed = compare(current, rec("0" * 16, cv))[0]
    assert changed.status == "changed" and not changed.ok
    message = changed.message()
    for part in ("'guard/doc'", "'text'", f"{pkg.name}.compute.make_text",
                 f"compute.py:{fp.ref.line}", "bump", "metaxy push --accept guard/doc:text"):
        assert part in message, message
    assert compare(current, rec("0" * 16, cv), {key})[0].status == "accepted"


def test_declaration_errors(pkg: CodePackage) -> None:
    graph = pkg.load()
    doc = graph.get("guard/doc")
    with pytest.raises(FieldNotFoundError, match="'guard/doc' has no field 'txt'"):
        doc.computes("txt")(lambda rows: rows)

    def other(rows: list[str]) -> list[str]:
        return rows

    with pytest.raises(CodeGuardError, match=r"field 'text': already computed by .*make_text"):
        doc.computes("text")(other)
    with pytest.raises(CodeGuardError, match="not a `def` function"):
        fingerprint(lambda rows: rows)
    assert declarations(doc)["text"].fn is pkg.module("compute").make_text


def test_all_fields_by_default(graph: mx.FeatureGraph) -> None:
    from tests.unit.conftest import define

    cls = define("guard/all", fields=["a", "b"])

    @cls.computes()
    def both(rows: list[str]) -> list[str]:
        return rows

    assert sorted(declarations(cls)) == ["a", "b"]
    assert both([]) == []  # the function is returned unchanged


GOLDEN = '''
LIMIT = (1, 2.5, "x", None, {"k": [True]})


def _helper(value):
    return value if value is not None else LIMIT[0]


def golden(rows, *, scale=2, **extra):
    """Anything: docstrings do not count."""
    out = []
    for i, r in enumerate(rows):
        if r is None or i > len(LIMIT):
            continue
        out.append({"v": _helper(r) * scale, "s": f"{r!r:>4}", **extra})
    with open("/dev/null") as f:
        f.write(str([x for x in out if x]))
    return lambda y: y + 1 if out else -1
'''


def test_fingerprint_encoding_is_pinned(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Like the static versions' golden tests: a change of the encoding (or an AST change of a
    new Python for ordinary code) shows up here, not as alarms in every user's CI."""
    import importlib
    import sys

    (tmp_path / "cg_golden.py").write_text(GOLDEN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("cg_golden")
        fp = fingerprint(module.golden)
    finally:
        sys.modules.pop("cg_golden", None)
    assert fp.helpers == ("cg_golden._helper",)
    assert fp.digest == "7725231eae038a2e"  # Python 3.11; must hold on every supported Python
