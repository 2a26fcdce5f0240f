"""Grading submitted notebooks: one, or a folder of them, into rows of a CSV.

Each grading job has a worker sandbox (:mod:`nnbook.teaching.sandbox`), which runs one submission at a time:
its notebook, in a child that hands back the function each exercise checks; then, in a child in which no
student code ran at the top level, each exercise's checker on them. Nothing the notebook printed is read.
"""
from __future__ import annotations

import csv
import os
import queue
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from nnbook.teaching.editions import _check_path, defines, exercise_cells, exercise_functions, read_chapter
from nnbook.teaching.sandbox import RunResult, Worker, _isolation_note, _mode, isolation_available

__all__ = ["Grade", "grade_submission", "grade_folder", "write_csv", "summary"]


@dataclass(frozen=True)
class Grade:
    """One row of the grades CSV."""

    submission: str
    exercise: str
    passed: bool
    points: int
    max_points: int
    message: str


def _read_submission(notebook: Path):
    """``(notebook, None)``, or ``(None, why it is not a notebook)``."""
    from nbformat.reader import NotJSONError

    try:
        return read_chapter(notebook), None
    except NotJSONError:
        return None, "not a notebook: the file is not valid JSON (was a notebook handed in, or a .py or a .pdf renamed?)"
    except UnicodeDecodeError:
        return None, "not a notebook: the file is not text (was a notebook handed in?)"
    except Exception as exc:  # noqa: BLE001 - JSON, but not an nbformat notebook
        return None, f"not a notebook: {type(exc).__name__}: {str(exc)[:200]}"


def _exercises_for(own: dict, exercises) -> list[tuple]:
    """``[(Exercise, function name)]`` to grade a notebook whose ``check`` calls are ``own`` on.

    ``exercises``: ``None`` (those the notebook checks; unknown names are skipped), names, or
    ``{name: function name or None}``. A missing function name is taken from the notebook's ``check`` call,
    else from the reference.
    """
    from nnbook import exercises as E

    if exercises is None:  # the names the submission checks; a misspelt one is not an exercise
        known = E.all_exercises()
        exercises = {name: func for name, func in own.items() if name in known}
    if not isinstance(exercises, dict):
        exercises = {name: None for name in exercises}
    plan = []
    for name, func in exercises.items():
        ex = E.get(name)  # ValueError for an unknown name, before running anything
        plan.append((ex, func or own.get(name) or ex.reference.__name__))
    return plan


def _needs_full_run(nb, registered, run: RunResult, grades: list[Grade]) -> bool:
    """Whether a fast run's verdicts may differ from a full run's: a function that no cell of the fast run
    defines (it is made in a cell the fast run skipped), or an error naming a missing name (a helper or
    variable of such a cell)."""
    if not run.fast:
        return False
    ran = [nb.cells[i].source for i in exercise_cells(nb) or []]
    elsewhere = any(fname not in run.functions and not any(defines(src, fname) for src in ran) for _, fname in registered)
    text = " ".join(run.cell_errors + [g.message for g in grades if not g.passed])
    return elsewhere or "NameError" in text or "is not defined" in text


def _note(run: RunResult, timeout: float) -> str:
    """Why a function is missing, beyond its absence: the notebook stopped, crashed, or a cell raised."""
    if run.timed_out:
        note = f" (the notebook was stopped after {timeout:g} s; only functions defined before that were graded)"
    elif not run.finished:
        note = (f" (the notebook crashed — out of memory? — before it finished, exit status {run.returncode}; "
                "only functions defined before that were graded)")
    else:
        note = ""
    if run.cell_errors:
        note += "; " + "; ".join(run.cell_errors[:3])
    return note


def _check_run(name: str, registered, run: RunResult, worker: Worker | None, *, timeout: float, memory_mb: int = 4096,
               check_timeout: float | None = None) -> list[Grade]:
    present = [(ex, fname, run.functions[fname]) for ex, fname in registered if fname in run.functions]
    verdicts = iter(worker.check(present, memory_mb=memory_mb, check_timeout=check_timeout) if present and worker else [])
    grades = []
    for ex, fname in registered:
        if run.error:
            passed, message = False, run.error
        elif fname in run.functions:
            passed, message = next(verdicts)
        else:
            passed = False
            message = run.problems.get(fname, f"the notebook does not define a function `{fname}`") + _note(run, timeout)
        grades.append(Grade(name, ex.name, passed, ex.points if passed else 0, ex.points, message[:2000]))
    return grades


def _grade(notebook: Path, name: str, exercises, worker: Worker, *, fast: bool, timeout: float, memory_mb: int,
           check_timeout: float | None) -> tuple[list[Grade], RunResult]:
    """Grade the notebook at ``notebook`` (reported as ``name``) in ``worker``."""
    nb, error = _read_submission(notebook)
    own = exercise_functions(nb) if nb is not None else {}
    registered = _exercises_for(own, exercises)
    if nb is not None and exercises is not None and own and not set(own) & {ex.name for ex, _ in registered}:
        error = (f"a notebook of another chapter? It checks {', '.join(sorted(own)[:4])}, none of the exercises "
                 "graded here")
    if not registered:  # nothing to grade: nothing runs
        return [], RunResult(error=error or "", isolation=worker.isolation)
    if error is not None:
        run = RunResult(error=error, isolation=worker.isolation)
        return _check_run(name, registered, run, None, timeout=timeout), run
    names = sorted({fname for _, fname in registered})
    checks = {"timeout": timeout, "memory_mb": memory_mb, "check_timeout": check_timeout}
    run = worker.run(notebook, names, timeout=timeout, memory_mb=memory_mb, fast=fast)
    grades = _check_run(name, registered, run, worker, **checks)
    if _needs_full_run(nb, registered, run, grades):
        run = worker.run(notebook, names, timeout=timeout, memory_mb=memory_mb, fast=False)
        grades = _check_run(name, registered, run, worker, **checks)
    return grades, run


def _imports(chapter) -> list[str]:
    """The modules that the set-up and exercise cells of the teacher's ``chapter`` import (a worker imports them
    once, ahead of the submissions)."""
    nb = read_chapter(chapter)
    cells = exercise_cells(nb) or range(len(nb.cells))
    found = set()
    for i in cells:
        if nb.cells[i].cell_type == "code":
            found |= set(re.findall(r"^[ \t]*(?:from|import)[ \t]+([A-Za-z_][\w.]*)", nb.cells[i].source, re.M))
    return sorted(found)


def _chapter_exercises(chapter) -> dict:
    exercises = exercise_functions(read_chapter(_check_path("chapter", chapter)))
    if not exercises:
        raise ValueError(f"chapter={str(chapter)!r} has no check(\"name\", ...) calls")
    return exercises


def grade_submission(notebook, exercises: Sequence[str] | dict | None = None, *, chapter=None, timeout: float = 300.0,
                     memory_mb: int = 4096, check_timeout: float | None = None, extra_paths: Sequence = (),
                     fast: bool = True, isolation: str = "required") -> tuple[list[Grade], RunResult]:
    """Grade one submitted notebook on ``exercises`` (default: those checked in ``chapter``, else those it
    calls ``check`` on).

    ``fast`` (the default): run only its set-up and exercise cells (:func:`exercise_cells`); where that run
    cannot decide (a function or name defined in a skipped cell), the whole notebook runs, as with ``fast=False``.

    ``exercises`` are names, or ``{name: function name}`` (as :func:`exercise_functions` reads them from the
    teacher's chapter); the function graded for an exercise is the one its ``check`` call passes, else one
    named like the reference solution. ``isolation``: ``"required"`` or ``"best-effort"`` (see
    :mod:`nnbook.teaching.sandbox`).

    Returns the grades, one per exercise, and what the runner reported.
    """
    notebook = _check_path("notebook", notebook)
    if not notebook.is_file():
        raise ValueError(f"notebook={str(notebook)!r} is not a file")
    if exercises is None and chapter is not None:
        exercises = _chapter_exercises(chapter)
    worker = Worker(isolation=isolation, extra_paths=extra_paths)  # refuses before anything runs
    try:
        return _grade(notebook, notebook.name, exercises, worker, fast=fast, timeout=timeout, memory_mb=memory_mb,
                      check_timeout=check_timeout)
    finally:
        worker.close()


def _load_checkers(paths: Iterable) -> list[Path]:
    """Import extra checker files (``.py`` registering exercises) here; returns them, for the sandboxes."""
    import importlib.util

    files = []
    for p in paths:
        p = _check_path("checkers", p)
        if p.suffix != ".py" or not p.is_file():
            raise ValueError(f"checkers must name existing .py files, got {str(p)!r}")
        if p.stem not in sys.modules:
            spec = importlib.util.spec_from_file_location(p.stem, p)
            module = importlib.util.module_from_spec(spec)
            sys.modules[p.stem] = module
            spec.loader.exec_module(module)
        files.append(p.resolve())
    return files


def grade_folder(submissions, *, chapter=None, exercises: Sequence[str] | dict | None = None, out=None,
                 timeout: float = 300.0, memory_mb: int = 4096, check_timeout: float | None = None,
                 checkers: Sequence = (), jobs: int = 1, verbose: bool = False, fast: bool = True,
                 isolation: str = "required") -> list[Grade]:
    """Grade every ``*.ipynb`` in the folder ``submissions`` (searched recursively) and return the grades.

    Exercises: ``exercises`` if given, else those checked in ``chapter`` (the teacher's copy, so a deleted
    ``check`` call still counts), else those each submission checks. ``checkers`` are extra ``.py`` files
    registering exercises. With ``out``, the grades are also written there as CSV. ``jobs`` submissions are
    graded at the same time, each in its own sandboxes. ``fast`` and ``isolation``: as in
    :func:`grade_submission`. Every submission gets its rows, whatever it does.
    """
    from concurrent.futures import ThreadPoolExecutor

    from nnbook import exercises as E
    from nnbook.validate import check_int

    jobs = check_int("jobs", jobs, min_value=1)
    submissions = _check_path("submissions", submissions)
    if not submissions.is_dir():
        raise ValueError(f"submissions={str(submissions)!r} is not a directory")
    extra = _load_checkers(checkers)
    E.all_exercises()
    if exercises is None and chapter is not None:
        exercises = _chapter_exercises(chapter)
    if exercises is not None:
        for name in exercises:
            E.get(name)
    bwrap = _mode(isolation)  # refuse before anything runs
    # Read every submission first: no submission can touch another's file while it runs.
    files = sorted(p for p in submissions.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    sources = [(p.relative_to(submissions).as_posix().replace("/", "__"), p.read_bytes()) for p in files]
    kwargs = dict(fast=fast, timeout=timeout, memory_mb=memory_mb, check_timeout=check_timeout)
    preload = _imports(chapter) if chapter is not None else []
    workers: queue.SimpleQueue = queue.SimpleQueue()  # one per job; each grades its submissions one at a time
    made = [Worker(isolation=isolation, preload=preload, extra_paths=extra) for _ in range(min(jobs, max(1, len(sources))))]
    for w in made:
        workers.put(w)

    def grade_one(source) -> list[Grade]:
        name, data = source
        worker = workers.get()
        scratch = Path(tempfile.mkdtemp(prefix="nnbook-grade-"))  # the grader's copy, outside every sandbox
        try:
            notebook = scratch / name
            notebook.write_bytes(data)
            rows, run = _grade(notebook, name, exercises, worker, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a grading failure costs this row, never the others
            rows, run = [Grade(name, "", False, 0, 0, f"could not be graded: {type(exc).__name__}: {exc}")], None
            worker.close(keep_folder=True)  # a fresh sandbox for the next one
        finally:
            workers.put(worker)
            shutil.rmtree(scratch, ignore_errors=True)
        if not rows:
            rows = [Grade(name, "", False, 0, 0, run and run.error or "no exercises found (no check(\"name\", ...) call)")]
        if verbose:
            note = f", {len(run.cell_errors)} cell(s) raised" if run and run.cell_errors else ""
            note += ", stopped at the time limit" if run and run.timed_out else ""
            print(f"graded {name}: {sum(g.points for g in rows)}/{sum(g.max_points for g in rows)}{note}", flush=True)
        return rows

    if verbose:
        print(f"isolation of each notebook: {isolation_available() if bwrap else _isolation_note(None)}", flush=True)
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            grades = [g for rows in pool.map(grade_one, sources) for g in rows]
    finally:
        for w in made:
            w.close()
    if out is not None:
        write_csv(grades, out)
    return grades


def write_csv(grades: Sequence[Grade], path) -> Path:
    """Write ``grades`` as CSV (submission, exercise, passed, points, max_points, message)."""
    path = _check_path("path", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["submission", "exercise", "passed", "points", "max_points", "message"])
        for g in grades:
            w.writerow([g.submission, g.exercise, g.passed, g.points, g.max_points, g.message])
    os.replace(tmp, path)
    return path


def summary(grades: Sequence[Grade]) -> str:
    """A short text summary: per exercise how many passed, per submission the total."""
    lines = ["exercise                               passed"]
    by_ex: dict[str, list[Grade]] = {}
    by_sub: dict[str, list[Grade]] = {}
    for g in grades:
        if g.exercise:
            by_ex.setdefault(g.exercise, []).append(g)
        by_sub.setdefault(g.submission, []).append(g)
    for name, rows in by_ex.items():
        lines.append(f"{name:38s} {sum(g.passed for g in rows)}/{len(rows)}")
    lines.append("")
    lines.append("submission                             points")
    for name, rows in by_sub.items():
        lines.append(f"{name:38s} {sum(g.points for g in rows)}/{sum(g.max_points for g in rows)}")
    return "\n".join(lines)
