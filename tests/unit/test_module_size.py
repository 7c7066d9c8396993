"""Guard: no source module of metaxy or its plugins grows past MAX_LINES (small modules, one job
each). Tests folders are exempt; split an oversized module into a package or sibling modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 600
SKIPPED_DIRS = {"tests", "build", "__pycache__"}


def source_files(root: Path) -> Iterator[Path]:
    """The .py files under ``metaxy/`` and ``plugins/*/``, outside tests folders."""
    tops = [root / "metaxy", *sorted(p for p in (root / "plugins").glob("*") if p.is_dir())]
    for top in tops:
        for path in sorted(top.rglob("*.py")):
            rel = path.relative_to(top).parts[:-1]
            if any(part in SKIPPED_DIRS or part.startswith(".") for part in rel):
                continue
            yield path


def oversized(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``path: N lines`` for every source file over ``limit`` lines."""
    out = []
    for path in source_files(root):
        with path.open("rb") as f:
            n = sum(1 for _ in f)
        if n > limit:
            out.append(f"{path.relative_to(root)}: {n} lines")
    return out


def test_no_module_over_the_limit() -> None:
    assert (ROOT / "metaxy" / "__init__.py").is_file()
    too_big = oversized(ROOT)
    assert not too_big, f"modules over {MAX_LINES} lines (split them): {too_big}"


def test_guard_finds_and_names_an_oversized_file(tmp_path: Path) -> None:
    (tmp_path / "metaxy" / "sub").mkdir(parents=True)
    (tmp_path / "metaxy" / "small.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "metaxy" / "sub" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    plugin = tmp_path / "plugins" / "metaxy-foo"
    (plugin / "tests").mkdir(parents=True)
    (plugin / "metaxy_foo").mkdir()
    (plugin / "metaxy_foo" / "huge.py").write_text("x = 1\n" * 700)
    (plugin / "tests" / "test_huge.py").write_text("x = 1\n" * 700)  # tests are exempt
    assert oversized(tmp_path) == [
        f"{Path('metaxy/sub/big.py')}: {MAX_LINES + 1} lines",
        f"{Path('plugins/metaxy-foo/metaxy_foo/huge.py')}: 700 lines",
    ]
