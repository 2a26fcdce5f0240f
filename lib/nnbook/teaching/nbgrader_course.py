"""An nbgrader course source: one assignment per chapter, graded by the book's own checkers.

    python -m nnbook.teaching nbgrader [CHAPTER ...] [--out nbgrader]

writes ``out/nbgrader_config.py`` and ``out/source/<chapter>/<chapter>.ipynb`` (with the chapter's quiz file
beside it). In each assignment notebook every coding exercise is a pair of nbgrader cells:

- a *solution* cell: the reference solution, its function body between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (``nbgrader generate_assignment`` turns it into the stub students fill in);
- a locked, *autograded test* cell worth the exercise's points, which runs the exercise's checker
  (:func:`nnbook.exercises.run_check`) on the student's function and fails with the checker's message.

Pen-and-paper solutions are removed as in the student edition. A teacher on JupyterHub then runs, in ``out``,
``nbgrader generate_assignment``, ``nbgrader autograde`` and ``nbgrader generate_feedback`` as usual.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Sequence

from nnbook.teaching.editions import (
    CHECK_RE,
    EXERCISE_TAG,
    SOLUTION_TAG,
    _check_path,
    chapter_sources,
    read_chapter,
    strip_solutions,
)

__all__ = ["assignment_notebook", "nbgrader_course"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CONFIG = '''\
# nbgrader configuration of the course written by `python -m nnbook.teaching nbgrader`.
c = get_config()  # noqa: F821 (provided by nbgrader)
c.CourseDirectory.course_id = "nnbook"
c.CourseDirectory.root = "."
c.Execute.timeout = 600  # seconds per cell: a chapter's experiments run before its exercises
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError"}
'''
TEST_CELL = '''\
from nnbook.exercises import run_check

result = run_check({name!r}, {func})
print(result)
assert result.passed, result.message'''


def _meta(grade_id: str, *, solution: bool, points: int = 0) -> dict:
    meta = {"grade_id": grade_id, "schema_version": 3, "solution": solution, "task": False,
            "grade": not solution, "locked": not solution}
    if not solution:
        meta["points"] = points
    return {"nbgrader": meta}


def _wrap_body(source: str, func: str) -> str:
    """``source`` without its ``check(...)`` lines and with the body of ``def func`` between the markers."""
    lines = [line for line in source.splitlines() if not CHECK_RE.match(line.strip())]
    while lines and not lines[-1].strip():
        lines.pop()
    head = next((i for i, line in enumerate(lines) if re.match(rf"def\s+{re.escape(func)}\s*\(", line)), None)
    if head is None:
        raise ValueError(f"the solution cell does not define {func}() at its top level")
    start = head + 1
    while not lines[start - 1].rstrip().endswith(":"):  # a signature over several lines
        start += 1
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end][:1].isspace()):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    indent = re.match(r"\s*", lines[start]).group(0)
    return "\n".join(lines[:start] + [indent + BEGIN] + lines[start:end] + [indent + END] + lines[end:])


def assignment_notebook(chapter):
    """The nbgrader source notebook of ``chapter`` (see the module docstring)."""
    import nbformat

    from nnbook import exercises

    chapter = _check_path("chapter", chapter)
    full = read_chapter(chapter)
    solutions = {}  # exercise name -> (function name, solution cell source)
    for cell in full.cells:
        if cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", []):
            for _, name, func in CHECK_RE.findall(cell.source):
                solutions[name] = (func, cell.source)
    nb = strip_solutions(full)
    cells = []
    for cell in nb.cells:
        calls = CHECK_RE.findall(cell.source) if cell.cell_type == "code" else []
        if EXERCISE_TAG not in cell.metadata.get("tags", []) or not calls:
            cells.append(cell)
            continue
        for _, name, func in calls:
            if name not in solutions:
                raise ValueError(f"{chapter}: exercise {name!r} has no solution cell to build the assignment from")
            ref_func, source = solutions[name]
            func = func or ref_func
            grade_id = re.sub(r"[^\w-]", "-", name)
            cells.append(nbformat.v4.new_code_cell(_wrap_body(source, ref_func),
                                                   metadata=_meta(f"{grade_id}-solution", solution=True)))
            cells.append(nbformat.v4.new_code_cell(TEST_CELL.format(name=name, func=func),
                                                   metadata=_meta(f"{grade_id}-test", solution=False,
                                                                  points=exercises.get(name).points)))
    nb.cells = cells
    nb.metadata.setdefault("nnbook", {})["edition"] = "nbgrader"
    return nb


def nbgrader_course(chapters: Sequence = (), out="nbgrader", *, book="book") -> Path:
    """Write the nbgrader course source of ``chapters`` (every chapter of ``book`` when empty) under ``out``.

    One assignment per chapter with coding exercises, named after the chapter's file (``02_mlp_backprop``).
    Returns ``out``.
    """
    import nbformat

    if isinstance(chapters, (str, os.PathLike)):
        raise TypeError("chapters must be a list of paths, not a single path")
    out = _check_path("out", out)
    chapters = [_check_path("chapters[i]", c) for c in chapters] or chapter_sources(book)
    if not chapters:
        raise ValueError(f"no chapters found under book={str(book)!r}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(CONFIG, encoding="utf-8")
    for chapter in chapters:
        nb = assignment_notebook(chapter)
        if not any("nbgrader" in c.metadata for c in nb.cells):
            continue  # no coding exercise: nothing to grade
        folder = out / "source" / chapter.stem
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{chapter.stem}.ipynb")
        for extra in chapter.parent.glob(f"{chapter.stem}.*.json"):  # the quiz the chapter shows
            shutil.copy(extra, folder / extra.name)
    return out
