"""Check the chapters' self-check quizzes (book/<part>/<chapter>.quiz.json).

    python tools/quiz_check.py [book/…/x.md …] [--executed _build/jupyter_execute] [--static]

For each chapter: its quiz file is well formed (nnbook.quiz.check_questions: every choice question has
exactly one right answer and feedback on each answer), has 6–10 questions, at least two of them
numeric; the chapter shows it in a "Self-check quiz" section through a code cell tagged `quiz`; and,
unless --static, every numeric answer equals the value the executed chapter glued under its `glue`
key (|value − glued| ≤ tolerance / 2, with a tolerance of at most 5 % of the value).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import jupytext

import editions
from chapters import ROOT, chapter_sources
from nnbook import quiz

MIN_QUESTIONS, MAX_QUESTIONS, MIN_NUMERIC = 6, 10, 2
QUIZ_HEADING = "## Self-check quiz (自测题)"
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def quiz_file(md: Path) -> Path:
    return md.with_name(md.stem + ".quiz.json")


def glued_number(text: str) -> float | None:
    """The number a glued value's text shows (``0.138``, ``'96.7'``, ``np.float64(3.2)``…), or None."""
    text = text.strip().strip("'\"")
    text = re.sub(r"^(?:np|numpy)\.\w+\((.*)\)$", r"\1", text)
    m = NUMBER.fullmatch(text.replace(",", "").replace("_", ""))
    return float(m.group(0)) if m else None


def static_problems(md: Path) -> list[str]:
    """What is wrong with md's quiz that needs no build: the file, its size, the section and the cell."""
    name = md.relative_to(ROOT).as_posix()
    path = quiz_file(md)
    if not path.exists():
        return [f"{name}: no quiz file {path.name} beside the chapter"]
    try:
        questions = quiz.load(path)
    except ValueError as err:
        return [f"{name}: {err}"]
    problems = []
    if not MIN_QUESTIONS <= len(questions) <= MAX_QUESTIONS:
        problems.append(f"{name}: {len(questions)} questions (want {MIN_QUESTIONS}–{MAX_QUESTIONS})")
    numeric = [q for q in questions if q["type"] == "numeric"]
    if len(numeric) < MIN_NUMERIC:
        problems.append(f"{name}: {len(numeric)} numeric question(s) (want at least {MIN_NUMERIC})")
    for i, q in enumerate(questions, 1):
        if q["type"] == "numeric":
            if not q.get("glue"):
                problems.append(f"{name}: question {i} names no 'glue' key for its value")
            elif q["value"] and q["tolerance"] > 0.05 * abs(q["value"]):
                problems.append(f"{name}: question {i}: tolerance {q['tolerance']} is more than 5 % of {q['value']}")
    text = md.read_text(encoding="utf-8")
    if QUIZ_HEADING not in text:
        problems.append(f"{name}: no '{QUIZ_HEADING}' section")
    cells = [c for c in jupytext.read(md).cells if c.cell_type == "code" and "quiz" in c.metadata.get("tags", [])]
    if len(cells) != 1 or f'quiz.show("{path.name}")' not in cells[0].source:
        problems.append(f'{name}: want one code cell tagged quiz that calls quiz.show("{path.name}")')
    return problems


def numeric_problems(md: Path) -> list[str]:
    """Each numeric answer against the value the executed chapter glued."""
    name = md.relative_to(ROOT).as_posix()
    glued = editions.glue_values(md)
    problems = []
    for i, q in enumerate(quiz.load(quiz_file(md)), 1):
        if q["type"] != "numeric" or not q.get("glue"):
            continue
        key = q["glue"]
        if key not in glued:
            problems.append(f"{name}: question {i}: the chapter glues no value named {key!r}")
            continue
        value = glued_number(glued[key])
        if value is None:
            problems.append(f"{name}: question {i}: glued {key!r} is not a number: {glued[key]!r}")
        elif abs(q["value"] - value) > q["tolerance"] / 2:
            problems.append(f"{name}: question {i}: the answer {q['value']} ± {q['tolerance']} does not match "
                            f"the chapter's {key!r} = {value}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", type=Path)
    parser.add_argument("--executed", type=Path, help="the build's jupyter_execute folder (default: _build's)")
    parser.add_argument("--static", action="store_true", help="only what needs no build")
    args = parser.parse_args(argv)
    if args.executed:
        editions.use_build(args.executed.resolve().parent)
    chapters = [p.resolve() for p in args.chapters] or chapter_sources()
    problems = []
    for md in chapters:
        found = static_problems(md)
        if not found and not args.static:
            try:
                found = numeric_problems(md)
            except editions.EditionError as err:
                found = [str(err)]
        problems += found
    print("\n".join(problems) if problems else f"quiz_check: {len(chapters)} chapter(s), every quiz right")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
