"""Format the chapters' code cells with ruff (the project's formatter), in place in book/**.md.

    python tools/format_cells.py [--check] [book/…/x.md …]     # default: every chapter

The code cells are handed to `ruff format` as one notebook (ruff keeps IPython magics such as
`%pip` as they are), and the formatted sources are written back into the MyST file; the prose is
not touched. `--check` changes nothing and lists the cells that are not formatted, and the cells
longer than the course's limit of MAX_LINES lines; it exits 1 if there are any (`make lint`).
Then run `make notebooks` to bring the paired notebooks/*.ipynb along.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from chapters import chapter_sources  # noqa: E402

MAX_LINES = 25  # a code cell longer than this is split into steps that each say what they do
CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(?P<opts>(?::[^\n]*\n|---\n(?:.*?\n)?---\n)?)(?P<src>.*?)^```[ \t]*$",
                  re.MULTILINE | re.DOTALL)


def ruff() -> list[str]:
    exe = Path(sys.executable).with_name("ruff")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ruff"]


def code_cells(text: str) -> list[re.Match]:
    return list(CELL.finditer(text))


def formatted_sources(sources: list[str]) -> list[str]:
    """The sources after `ruff format`, in order (configuration: [tool.ruff] in pyproject.toml)."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "python"}},
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
                     "outputs": [], "source": s} for i, s in enumerate(sources)]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cells.ipynb"
        path.write_text(json.dumps(nb), encoding="utf-8")
        done = subprocess.run(ruff() + ["format", "--quiet", "--config", str(ROOT / "pyproject.toml"), str(path)],
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"ruff format failed:\n{done.stderr}")
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]


def format_chapter(md: Path, check: bool) -> list[str]:
    """Format md's code cells (or, with check, only report); the problems found, one line each."""
    text = md.read_text(encoding="utf-8")
    matches = code_cells(text)
    sources = [m.group("src").rstrip("\n") for m in matches]
    expected = [c.source for c in jupytext.read(md).cells if c.cell_type == "code"]
    name = md.relative_to(ROOT).as_posix()
    if sources != [s.rstrip("\n") for s in expected]:
        return [f"{name}: its code cells could not be matched with jupytext's reading; nothing done"]
    new = [s.rstrip("\n") for s in formatted_sources(sources)]
    problems = []
    for m, old, src in zip(matches, sources, new):
        line = text.count("\n", 0, m.start()) + 1
        if check and old != src:
            problems.append(f"{name}:{line}: code cell not formatted (run python tools/format_cells.py {name})")
        n = len(src.splitlines())
        if n > MAX_LINES:
            problems.append(f"{name}:{line}: code cell of {n} lines (at most {MAX_LINES}: split it into steps)")
    if not check and new != sources:
        out, last = [], 0
        for m, src in zip(matches, new):
            out += [text[last:m.start("src")], src + "\n"]
            last = m.end("src")
        md.write_text("".join(out) + text[last:], encoding="utf-8")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; report unformatted or long cells")
    parser.add_argument("chapters", nargs="*", type=Path)
    args = parser.parse_args(argv)
    chapters = [p.resolve() for p in args.chapters] or chapter_sources()
    problems = [p for md in chapters for p in format_chapter(md, args.check)]
    print("\n".join(problems) if problems else f"format_cells: {len(chapters)} chapter(s), every code cell formatted")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
