"""The ``python -m nnbook.teaching`` command line: ``student``, ``grade`` (a folder), ``grade-one`` (a notebook) and
``nbgrader`` (a course source for nbgrader)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from nnbook.teaching.editions import chapter_sources, student_edition
from nnbook.teaching.grader import grade_folder, grade_submission, summary
from nnbook.teaching.sandbox import ISOLATION_MODES, IsolationError

__all__ = ["main"]


def _grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="wall-clock seconds for the cells of one notebook (default 300; starting Python is allowed 60 s more)")
    parser.add_argument("--memory", type=int, default=4096, help="memory limit in MiB (address space) per notebook, beyond the Python runtime and torch (default 4096)")
    parser.add_argument("--check-timeout", type=float, default=None, help="seconds per checker (default: the exercise's own)")
    parser.add_argument("--checkers", action="append", default=[], help="extra .py file registering exercises (repeatable)")
    parser.add_argument("--full", action="store_true",
                        help="run every cell of each notebook (default: only its set-up and exercise cells, "
                             "the whole notebook where that cannot decide)")
    parser.add_argument("--isolation", choices=ISOLATION_MODES, default="required",
                        help="required (default): run each submission under bubblewrap, refuse without it; "
                             "best-effort: without bubblewrap, limits only (not isolated)")


def _report(notebook: str, chapter: str | None, grades) -> dict:
    return {"notebook": notebook, "chapter": chapter,
            "exercises": [{"name": g.exercise, "passed": g.passed, "points": g.points, "max_points": g.max_points,
                           "message": g.message} for g in grades],
            "score": sum(g.points for g in grades), "max_score": sum(g.max_points for g in grades)}


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m nnbook.teaching`` command line; its exit status (grading: 0 whatever the scores, 2 if
    grading could not run)."""
    parser = argparse.ArgumentParser(prog="python -m nnbook.teaching",
                                     description="Student editions of the chapters, and a grader for submitted notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("student", help="write student editions (no solutions) of chapters")
    st.add_argument("chapters", nargs="*", help="chapter .md (or .ipynb) files; default: every chapter in --book")
    st.add_argument("--out", default="student", help="output folder (default: student)")
    st.add_argument("--book", default="book", help="the book's source folder (default: book)")
    st.add_argument("--colab", default=None, metavar="OWNER/NAME@BRANCH",
                    help="point the Colab badges at the student notebooks in this GitHub repository; default: remove the badges")
    gr = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    gr.add_argument("submissions", help="folder of submitted .ipynb files (searched recursively)")
    gr.add_argument("--out", default="grades/grades.csv", help="CSV to write (default: grades/grades.csv)")
    gr.add_argument("--chapter", default=None, help="grade the exercises checked in this chapter (default: those each notebook checks)")
    gr.add_argument("--exercise", action="append", default=None, help="grade this exercise (repeatable)")
    gr.add_argument("--jobs", type=int, default=1, help="notebooks graded at the same time (default 1)")
    _grading_options(gr)
    ng = sub.add_parser("nbgrader", help="write an nbgrader course source: one assignment per chapter with coding exercises")
    ng.add_argument("chapters", nargs="*", help="chapter .md (or .ipynb) files; default: every chapter in --book")
    ng.add_argument("--out", default="nbgrader", help="the course folder to write (default: nbgrader)")
    ng.add_argument("--book", default="book", help="the book's source folder (default: book)")
    one = sub.add_parser("grade-one", help="grade one notebook; print each exercise's verdict (exit status 0 whatever the score)")
    one.add_argument("notebook", help="the submitted .ipynb")
    one.add_argument("--chapter", required=True, help="the chapter (.md or .ipynb) whose exercises are graded")
    one.add_argument("--exercise", action="append", default=None,
                     help="grade only this exercise of the chapter (repeatable; default: all of them)")
    one.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    _grading_options(one)
    args = parser.parse_args(argv)
    if args.command == "student":
        failed = 0
        for chapter in args.chapters or chapter_sources(args.book):
            try:
                print(f"wrote {student_edition(chapter, args.out, book=args.book, colab=args.colab)}")
            except Exception as exc:  # noqa: BLE001 - say which chapter, go on with the others
                failed += 1
                print(f"FAILED {chapter}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1 if failed else 0
    if args.command == "nbgrader":
        from nnbook.teaching.nbgrader_course import nbgrader_course

        try:
            out = nbgrader_course(args.chapters, args.out, book=args.book)
        except (ValueError, TypeError, OSError) as exc:
            print(f"python -m nnbook.teaching nbgrader: error: {exc}", file=sys.stderr)
            return 2
        names = sorted(p.name for p in (out / "source").iterdir())
        print(f"wrote {out}: {len(names)} assignments ({', '.join(names)}); in {out}, run "
              "`nbgrader generate_assignment NAME`, then `autograde` and `generate_feedback`")
        return 0
    options = dict(timeout=args.timeout, memory_mb=args.memory, check_timeout=args.check_timeout,
                   fast=not args.full, isolation=args.isolation)
    try:
        if args.command == "grade-one":
            from nnbook.teaching.grader import _chapter_exercises, _load_checkers

            extra = _load_checkers(args.checkers)
            if not Path(args.chapter).is_file():
                raise ValueError(f"--chapter {args.chapter}: no such file")
            exercises = _chapter_exercises(args.chapter)
            unknown = sorted(set(args.exercise or ()) - set(exercises))
            if unknown:
                raise ValueError(f"--exercise {', '.join(unknown)}: not an exercise of --chapter {args.chapter} "
                                 f"(it has {', '.join(exercises)})")
            if args.exercise:
                exercises = {name: func for name, func in exercises.items() if name in args.exercise}
            grades, run = grade_submission(args.notebook, exercises, extra_paths=extra, **options)
            report = _report(args.notebook, args.chapter, grades)
            if args.json:
                print(json.dumps(report, ensure_ascii=False, indent=1))
            else:
                for g in grades:
                    print(f"{'✅' if g.passed else '❌'} {g.exercise}: {g.points}/{g.max_points} — {g.message}")
                print(f"score: {report['score']}/{report['max_score']} (isolation: {run.isolation})")
            return 0
        grades = grade_folder(args.submissions, chapter=args.chapter, exercises=args.exercise, out=args.out,
                              checkers=args.checkers, jobs=args.jobs, verbose=True, **options)
    except (ValueError, TypeError, OSError, IsolationError) as exc:
        print(f"python -m nnbook.teaching {args.command}: error: {exc}", file=sys.stderr)
        return 2
    print()
    print(summary(grades))
    print(f"\nwrote {args.out}")
    return 0
