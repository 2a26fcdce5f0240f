"""`make notebooks`: point badges and install cells at _config.yml's repository, tag the exercises'
code cells `exercise` (what a fast grading runs), then regenerate notebooks/*.ipynb from book/*.md, one way (the .md is the source).

Never by timestamp: `jupytext --sync` picks the newer file and can silently
overwrite an edit (see FACTS.md).
"""
from __future__ import annotations

import hashlib
import sys

import jupytext

from chapters import NOTEBOOKS, chapter_sources, notebook_for, retarget, tag_exercise_cells


def main(only: list[str]) -> int:
    """Sync every chapter, or only the ``.md`` files named on the command line."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    # a path may be given relative to the current folder or to the repository root
    chosen = [(Path(p) if Path(p).exists() else root / p).resolve() for p in only]
    unknown = sorted(str(p) for p in set(chosen) - set(chapter_sources()))
    if unknown:
        raise SystemExit(f"not chapters listed in _toc.yml: {unknown}")
    wanted = set()
    for md in chapter_sources():
        if chosen and md not in chosen:
            continue
        text = md.read_text(encoding="utf-8")
        new = tag_exercise_cells(retarget(text, md))
        if new != text:
            md.write_text(new, encoding="utf-8")
            print(f"retargeted or tagged {md.relative_to(md.parents[2])}")
        nb = jupytext.read(md)
        nb.metadata.pop("jupytext", None)
        out = notebook_for(md)
        for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives the same file
            cell.id = hashlib.sha1(f"{out.name}:{i}".encode()).hexdigest()[:8]
        out.parent.mkdir(parents=True, exist_ok=True)
        jupytext.write(nb, out, fmt="ipynb")
        wanted.add(out)
        print(f"wrote {out.relative_to(NOTEBOOKS.parent)}")
    if chosen:
        return 0
    for stale in NOTEBOOKS.rglob("*.ipynb"):
        if stale not in wanted and ".ipynb_checkpoints" not in stale.parts:
            stale.unlink()
            print(f"removed stale {stale.relative_to(NOTEBOOKS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
