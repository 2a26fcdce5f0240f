"""The nbgrader course source (`make nbgrader`), graded by real nbgrader against the book's own grader."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nnbook.teaching import grade_submission, main, student_edition
from nnbook.teaching.nbgrader_course import BEGIN, END, assignment_notebook, nbgrader_course

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "part1_static" / "01_principles.md"  # the fastest chapter with coding exercises
STEM = CHAPTER.stem
STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError(?:\(\))?[ \t]*$", re.M)


def _solutions() -> dict[str, str]:
    """{function name: the reference body} from the assignment's solution cells."""
    found = {}
    for cell in assignment_notebook(CHAPTER).cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            m = re.search(r"^def (\w+)", cell.source, re.M)
            preamble = ["    " + line for line in cell.source[: m.start()].splitlines() if line.strip()]  # imports
            body = cell.source.split(BEGIN, 1)[1].split(END, 1)[0]
            found[m.group(1)] = "\n".join(preamble + [line for line in body.splitlines()[1:] if line.strip()])
    return found


def _fill(nb, bodies: dict[str, str]):
    """``nb`` with the stub of each function in ``bodies`` replaced by that body (indented as the stub)."""
    for cell in nb.cells:
        m = re.search(r"^def (\w+)", cell.source, re.M) if cell.cell_type == "code" else None
        if m and m.group(1) in bodies and STUB.search(cell.source):
            body = bodies[m.group(1)]
            cell.source = STUB.sub(lambda s: "\n".join(s.group(1) + line.strip() if not line.startswith(" ") else line
                                                        for line in body.splitlines()), cell.source, count=1)
    return nb


BIN = str(Path(sys.executable).parent)  # nbgrader runs the `alembic` command of its environment


def _nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def test_the_assignment_marks_every_coding_exercise():
    nb = assignment_notebook(CHAPTER)
    graded = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    solutions = [m for m in graded if m["solution"]]
    tests = [m for m in graded if m["grade"]]
    assert len(solutions) == len(tests) == 3
    assert all(m["locked"] and m["points"] == 1 for m in tests)
    text = "\n".join(c.source for c in nb.cells)
    assert "{solution" not in text  # no pen-and-paper solution left for students
    assert all(c.source.count(BEGIN) == 1 for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))


@pytest.mark.slow
def test_real_nbgrader_finds_the_points_of_our_grader(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    course = tmp_path / "course"  # written by the command the teacher's guide gives
    assert main(["nbgrader", str(CHAPTER), "--out", str(course)]) == 0
    assert (course / "source" / STEM / f"{STEM}.quiz.json").is_file()
    _nbgrader(course, "generate_assignment", STEM, "--force")
    release = nbformat.read(course / "release" / STEM / f"{STEM}.ipynb", as_version=4)
    assert BEGIN not in "".join(c.source for c in release.cells)  # the solutions are gone

    right = _solutions()
    first = next(iter(right))
    submissions = {
        "right": right,
        "wrong": {f: "    return 0" for f in right},
        "broken": {f: "    raise RuntimeError('not finished')" for f in right},
        "mixed": {f: (body if f == first else "    return None") for f, body in right.items()},
    }
    ours = {}
    for student, bodies in submissions.items():
        folder = course / "submitted" / student / STEM
        folder.mkdir(parents=True)
        nbformat.write(_fill(nbformat.read(course / "release" / STEM / f"{STEM}.ipynb", as_version=4), bodies),
                       folder / f"{STEM}.ipynb")
        (folder / f"{STEM}.quiz.json").write_bytes((course / "release" / STEM / f"{STEM}.quiz.json").read_bytes())
        edition = student_edition(CHAPTER, tmp_path / "student" / student, book=ROOT / "book")
        nbformat.write(_fill(nbformat.read(edition, as_version=4), bodies), edition)
        grades, _ = grade_submission(edition, chapter=CHAPTER)
        ours[student] = sum(g.points for g in grades)
    assert ours == {"right": 3, "wrong": 0, "broken": 0, "mixed": 1}

    _nbgrader(course, "autograde", STEM, "--create", "--force")
    _nbgrader(course, "generate_feedback", STEM, "--force")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        theirs = {s: gradebook.find_submission(STEM, s).score for s in submissions}
    assert theirs == ours
    for student in submissions:
        assert (course / "feedback" / student / STEM / f"{STEM}.html").is_file()


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="chapters must be a list"):
        nbgrader_course(str(CHAPTER), tmp_path)
    with pytest.raises(TypeError, match="chapter must be a path"):
        assignment_notebook(3)
    with pytest.raises(ValueError, match="does not exist"):
        assignment_notebook(tmp_path / "missing.md")
    with pytest.raises(TypeError, match="out must be a path"):
        nbgrader_course([CHAPTER], out=None)
