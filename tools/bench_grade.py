"""`make bench-grade`: grade a class of fabricated submissions of one chapter and print the rate.

    python tools/bench_grade.py [--chapter book/…/x.md] [--count 200] [--jobs 2] [--full]

The submissions are the chapter as a student could hand it in (``fabricate``): right (the chapter with
its solutions), wrong (each exercise's function returns a wrong value), broken (each raises), and the
untouched student edition (nothing implemented), in turn. Grading is fast by default (only the set-up
and exercise cells run; see nnbook.teaching); ``--full`` runs every cell, for comparison. Each submission
runs in its sandboxes (bubblewrap), as `make grade` runs it.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from chapters import ROOT
from nnbook import teaching as T

KINDS = ("right", "wrong", "broken", "stub")


def heaviest_chapter() -> Path:
    """The comparison chapter (the book's heaviest), found by its name whatever its number."""
    found = sorted((ROOT / "book").glob("*/*_comparison.md"))
    if len(found) != 1:
        raise SystemExit(f"bench_grade: expected one book/*/*_comparison.md, found {found}; pass --chapter")
    return found[0]


def _answer(cell_source: str, kind: str) -> str:
    """A solution cell rewritten: each function it defines returns a wrong value ("wrong") or raises ("broken")."""
    body = "    return None" if kind == "wrong" else '    raise RuntimeError("my answer is broken")'
    return re.sub(r"^def (\w+)\((.*?)\):\n(?:(?:[ \t]+.*|)\n)*?(?=\S|\Z)",
                  lambda m: f"def {m.group(1)}({m.group(2)}):\n{body}\n\n", cell_source + "\n", flags=re.M)


def fabricate(chapter: Path, kind: str) -> nbformat.NotebookNode:
    """One submission of ``chapter`` of the given kind (see KINDS)."""
    nb = T.read_chapter(chapter)
    if kind == "stub":
        return T.strip_solutions(nb)
    if kind in ("wrong", "broken"):
        for cell in nb.cells:
            if cell.cell_type == "code" and T.SOLUTION_TAG in cell.metadata.get("tags", []):
                cell.source = _answer(cell.source, kind)
    return nb


def write_class(chapter: Path, folder: Path, count: int) -> list[str]:
    """``count`` submissions in ``folder``, the kinds in turn; their kinds, in order."""
    made = {kind: nbformat.writes(fabricate(chapter, kind)) for kind in KINDS}
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    for i, kind in enumerate(kinds):
        (folder / f"student{i:04d}_{kind}.ipynb").write_text(made[kind], encoding="utf-8")
    return kinds


def bench(chapter: Path, count: int, jobs: int, full: bool = False) -> tuple[float, dict[str, int]]:
    """Grade a class of ``count`` fabricated submissions of ``chapter``: the seconds it took, and the points
    per kind of submission."""
    folder = Path(tempfile.mkdtemp(prefix="nnbook-bench-"))
    try:
        write_class(chapter, folder, count)
        start = time.perf_counter()
        grades = T.grade_folder(folder, chapter=chapter, jobs=jobs, fast=not full)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return seconds, {kind: sum(g.points for g in grades if g.submission.endswith(f"_{kind}.ipynb")) for kind in KINDS}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapter", type=Path, default=None, help="default: the comparison chapter, book/*/*_comparison.md")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="run every cell (the slow way, for comparison)")
    args = parser.parse_args(argv)
    chapter = (args.chapter or heaviest_chapter()).resolve()
    seconds, per_kind = bench(chapter, args.count, args.jobs, args.full)
    print(f"make bench-grade: {args.count} submissions of {chapter.relative_to(ROOT)} graded "
          f"({'full' if args.full else 'fast'}, {args.jobs} jobs) in {seconds:.0f} s: "
          f"{args.count / seconds:.2f} submissions per second; points per kind: {per_kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
