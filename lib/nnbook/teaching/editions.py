"""Student editions: a chapter as a notebook without its solutions, and what its exercises are.

A chapter (``book/**/*.md``, the single source, or its ``.ipynb``) is copied as a notebook without its
solutions: every code cell tagged ``solution``, every ``{solution}`` directive, and everything between
``{solution-start}`` and ``{solution-end}`` (the gated directives span several cells once the chapter is a
notebook). The exercise stubs and their ``check("topic.name", func)`` calls stay, so "Run all" runs and
students get the checker's feedback.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

__all__ = ["SOLUTION_TAG", "EXERCISE_TAG", "read_chapter", "chapter_sources", "strip_solutions", "student_edition",
           "make_student_editions", "exercise_functions", "exercise_cells", "exercises_in"]

SOLUTION_TAG = "solution"
BADGE_RE = re.compile(
    r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\([^)]*\)[ \t]*\n?"
)
CHECK_RE = re.compile(r"""\bcheck\(\s*(['"])([\w.\-]+)\1(?:\s*,\s*([A-Za-z_]\w*)\s*[,)])?""")
_SOLUTION_DIRECTIVES = {"{solution}", "{solution-start}", "{solution-end}"}


# ------------------------------------------------------------------ reading chapters
def _check_path(name: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or pathlib.Path), got {type(value).__name__}")
    return Path(value)


def read_chapter(path):
    """The chapter at ``path`` as an nbformat v4 notebook (a MyST ``.md`` via jupytext, or an ``.ipynb``)."""
    path = _check_path("path", path)
    if path.suffix not in (".md", ".ipynb"):
        raise ValueError(f"path must be a chapter .md or a .ipynb notebook, got {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"path={str(path)!r} does not exist")
    if path.suffix == ".md":
        import jupytext

        nb = jupytext.read(path)
    else:
        import nbformat

        nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("jupytext", None)
    return nb


def chapter_sources(book="book") -> list[Path]:
    """Every page under ``book`` that is a notebook (its first 400 characters hold a jupytext header), sorted."""
    book = _check_path("book", book)
    if not book.is_dir():
        raise ValueError(f"book={str(book)!r} is not a directory")
    return sorted(p for p in book.rglob("*.md") if "jupytext:" in p.read_text(encoding="utf-8")[:400])


# ------------------------------------------------------------------ student editions
def _fences(text: str):
    """``(directive, first_line, end_line)`` of every fenced block (``` or :::) in a markdown text."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.colon_fence import colon_fence_plugin

    md = MarkdownIt("commonmark").use(colon_fence_plugin)
    for tok in md.parse(text):
        if tok.type in ("fence", "colon_fence") and tok.map:
            words = tok.info.split()
            yield (words[0] if words else ""), tok.map[0], tok.map[1]


def strip_solutions(nb):
    """A copy of notebook ``nb`` with every solution removed (see the module docstring).

    Also clears outputs and execution counts. Markdown cells left empty are dropped.
    """
    import copy

    import nbformat

    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        raise TypeError(f"nb must be an nbformat notebook, got {type(nb).__name__}")
    out = copy.deepcopy(nb)
    cells = []
    inside = False  # between {solution-start} and {solution-end}, possibly across cells
    for cell in out.cells:
        if cell.cell_type != "markdown":
            if inside or SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
                continue
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            cells.append(cell)
            continue
        lines = cell.source.splitlines(keepends=True)
        drop: set[int] = set()
        start = 0  # where the open solution region began in this cell
        for directive, first, end in _fences(cell.source):
            if directive not in _SOLUTION_DIRECTIVES:
                continue
            if directive == "{solution-end}":
                drop.update(range(start if inside else first, end))
                inside = False
            elif not inside:
                if directive == "{solution}":
                    drop.update(range(first, end))
                else:  # {solution-start}
                    inside, start = True, first
        if inside:
            drop.update(range(start, len(lines)))
        cell.source = "".join(line for i, line in enumerate(lines) if i not in drop).strip("\n")
        if cell.source.strip():
            cells.append(cell)
    out.cells = cells
    return out


def _relative(path: Path, book: Path) -> Path:
    path = path.resolve()
    for base in (book.resolve(), book.resolve().parent / "notebooks"):
        try:
            return path.relative_to(base).with_suffix(".ipynb")
        except ValueError:
            pass
    return Path(path.name).with_suffix(".ipynb")


def _parse_repo(colab: str) -> tuple[str, str, str]:
    m = re.fullmatch(r"([\w.\-]+)/([\w.\-]+)(?:@([\w./\-]+))?", colab)
    if not m:
        raise ValueError(f"colab must look like OWNER/NAME or OWNER/NAME@BRANCH, got {colab!r}")
    return m.group(1), m.group(2), m.group(3) or "main"


def student_edition(chapter, out_dir="student", *, book="book", colab: str | None = None) -> Path:
    """Write the student edition of ``chapter`` under ``out_dir`` and return its path.

    The notebook keeps the chapter's place in the book (``book/part1/02_x.md`` →
    ``out_dir/part1/02_x.ipynb``). Its Colab badge pointed at the full notebook,
    solutions included; it is removed, or, with ``colab="OWNER/NAME@BRANCH"``,
    pointed at this student notebook in that repository (push the contents of
    ``out_dir`` to the root of that repository).
    """
    import nbformat

    chapter = _check_path("chapter", chapter)
    out_dir = _check_path("out_dir", out_dir)
    book = _check_path("book", book)
    if colab is not None and not isinstance(colab, str):
        raise TypeError(f"colab must be a string OWNER/NAME@BRANCH or None, got {type(colab).__name__}")
    rel = _relative(chapter, book)
    nb = strip_solutions(read_chapter(chapter))
    if colab is None:
        badge = ""
    else:
        owner, name, branch = _parse_repo(colab)
        badge = (
            "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{rel.as_posix()})\n"
        )
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = BADGE_RE.sub(lambda _: badge, cell.source)
    nb.metadata.setdefault("nnbook", {})["edition"] = "student"
    target = out_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def make_student_editions(chapters: Sequence = (), out_dir="student", *, book="book", colab: str | None = None) -> list[Path]:
    """Student editions of ``chapters`` (every chapter of ``book`` when empty); returns the paths written."""
    if isinstance(chapters, (str, os.PathLike)):
        raise TypeError("chapters must be a list of paths, not a single path")
    chapters = [_check_path("chapters[i]", c) for c in chapters] or chapter_sources(book)
    if not chapters:
        raise ValueError(f"no chapters found under book={str(book)!r}")
    return [student_edition(c, out_dir, book=book, colab=colab) for c in chapters]


# ------------------------------------------------------------------ which exercises
def exercise_functions(nb) -> dict[str, str | None]:
    """``{exercise name: name of the function it checks}`` from ``nb``'s ``check("name", func)`` calls, in order.

    The function's name is ``None`` where the second argument is not a plain
    name (e.g. a lambda); the grader then uses the reference solution's name.
    """
    if not hasattr(nb, "cells"):
        raise TypeError(f"nb must be a notebook, got {type(nb).__name__}")
    found: dict[str, str | None] = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            for _, name, func in CHECK_RE.findall(cell.source):
                if found.get(name) is None:
                    found[name] = func or None
    return found


EXERCISE_TAG = "exercise"  # the code cells of a chapter's coding exercises (stub and check)


def exercise_cells(nb) -> list[int] | None:
    """Indices of the cells a fast grading runs: the set-up code before the first section heading (imports,
    seeds, the device) and every code cell tagged ``exercise`` or ``solution``; ``None`` if no cell is tagged
    ``exercise`` (a notebook the tags do not describe is run whole).

    The chapters' experiments are left out: each checker calls the student's function on its own inputs.
    """
    if not hasattr(nb, "cells"):
        raise TypeError(f"nb must be a notebook, got {type(nb).__name__}")
    chosen, setup, tagged = [], True, False
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and re.search(r"^#{2,}\s", cell.source, re.M):
            setup = False
        if cell.cell_type != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        tagged |= EXERCISE_TAG in tags
        if setup or {EXERCISE_TAG, SOLUTION_TAG} & tags:
            chosen.append(i)
    return chosen if tagged else None


def exercises_in(nb) -> list[str]:
    """Names of the exercises checked in ``nb``'s code cells (``check("name", ...)``), in order, once each."""
    return list(exercise_functions(nb))


def defines(source: str, name: str) -> bool:
    """Whether the code ``source`` has a ``def name(`` line (at any indentation)."""
    return re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", source, re.M) is not None
