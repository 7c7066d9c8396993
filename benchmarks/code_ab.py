"""Two versions of the code in one run: ``write_pairs`` repetitions alternating between them.

    .venv/bin/python -m benchmarks.code_ab --base main --reps 3 -- \\
        --backend duckdb --scenario simple --n 1000000 --feature leaf

``--base`` is a git revision: its ``metaxy`` and ``plugins`` are extracted (``git archive``) to a
temporary directory; the other side is the working tree. Each repetition runs one
``benchmarks.write_pairs --reps 1`` (the given arguments) per side in a subprocess, the sides'
order alternating between repetitions; both sides use this tree's benchmark scripts. Each side's
ratio to the raw load comes from its own process (the raw load runs next to it), so the A/B
compares ratios, not seconds. Prints each repetition's line with the load average, then the
medians per side.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if p.is_dir())
LINE = re.compile(r"= ([\d.]+)x \(CPU ([\d.]+)x\) \| append .*= ([\d.]+)x \(CPU ([\d.]+)x\)")


def extract(rev: str, into: Path) -> None:
    """``metaxy`` and ``plugins`` of ``rev`` into ``into``."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", rev, "metaxy", "plugins"], cwd=ROOT, stdout=out,
                       check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def path_of(tree: Path) -> str:
    """PYTHONPATH for the code in ``tree``, then this tree (for ``benchmarks``)."""
    return os.pathsep.join([str(tree), *(str(tree / "plugins" / p) for p in PLUGINS),
                            str(ROOT)])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision of the 'base' side")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("pairs_args", nargs=argparse.REMAINDER,
                    help="after --: the arguments of benchmarks.write_pairs")
    args = ap.parse_args(argv)
    rest = [a for a in args.pairs_args if a != "--"]
    got: dict[str, list[tuple[float, ...]]] = {"base": [], "tree": []}
    with tempfile.TemporaryDirectory(prefix="mx_code_ab_") as tmp:
        extract(args.base, Path(tmp))
        paths = {"base": path_of(Path(tmp)), "tree": path_of(ROOT)}
        for rep in range(args.reps):
            for side in ("base", "tree") if rep % 2 == 0 else ("tree", "base"):
                env = {**os.environ, "PYTHONPATH": paths[side]}
                out = subprocess.run([sys.executable, "-m", "benchmarks.write_pairs", "--reps",
                                      "1", *rest], env=env, cwd=tmp, check=True,
                                     capture_output=True, text=True).stdout
                line = next(s for s in out.splitlines() if s.startswith("rep "))
                found = LINE.search(line)
                assert found is not None, line
                got[side].append(tuple(float(g) for g in found.groups()))
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                print(f"rep {rep} {side:>4} (load {load}): {line}", flush=True)
    print(f"medians over {args.reps} rep(s) ({' '.join(rest)}): write x raw load (CPU x), "
          "append x raw load (CPU x)")
    for side, runs in got.items():
        med = [statistics.median(r[i] for r in runs) for i in range(4)]
        print(f"  {side:>4}: write {med[0]:.2f}x (CPU {med[1]:.2f}x), "
              f"append {med[2]:.2f}x (CPU {med[3]:.2f}x)")


if __name__ == "__main__":
    main()
