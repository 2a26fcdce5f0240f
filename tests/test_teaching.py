"""Student editions and the grader (nnbook.teaching), on the small sample chapter
and sample submissions in tests/fixtures/teaching/ (not on the chapters being written)."""
import csv
import hashlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from nnbook import exercises as E
from nnbook import teaching as T
from nnbook.teaching.grader import _load_checkers

FIX = Path(__file__).parent / "fixtures" / "teaching"
CHAPTER = FIX / "sample_chapter.md"
CHECKERS = FIX / "teaching_sample_checkers.py"
_load_checkers([CHECKERS])  # registers teachfix.double and teachfix.mean_of
sys.path.insert(0, str(FIX))
from make_submissions import EXPECTED  # noqa: E402


def solution_lines(md: Path) -> list[str]:
    """Distinctive lines of the chapter's solutions: solution cells minus what the stubs share, and the references."""
    nb = jupytext.read(md)
    stub_lines = {line.strip() for c in nb.cells if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])
                  for line in c.source.splitlines()}
    lines = [line.strip() for c in nb.cells if "solution" in c.metadata.get("tags", []) for line in c.source.splitlines()]
    for name in T.exercises_in(nb):
        src = inspect.getsource(E.get(name).reference).splitlines()[1:]  # the body
        lines += [line.strip() for line in src]
    return [line for line in lines if line and line not in stub_lines]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    (path,) = T.make_student_editions([CHAPTER], out, book=FIX)
    return path


def test_student_edition_keeps_no_solution(student):
    assert student.name == "sample_chapter.ipynb"
    nb = nbformat.read(student, as_version=4)
    text = "\n".join(c.source for c in nb.cells) + student.read_text(encoding="utf-8")
    secrets = solution_lines(CHAPTER) + [
        "Each of the n terms gains c",  # a {solution} in backticks
        "2(ax + by)",  # a {solution} in colons
        "Multiplying by two is the whole story",  # markdown inside {solution-start}
        "total / len(values)",  # a code block inside a 4-backtick {solution-start}
    ]
    assert len(secrets) > 8
    for secret in secrets:
        assert secret not in text, f"the student edition still holds {secret!r}"
    assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
    assert "{solution" not in text and "colab-badge" not in text  # the badge pointed at the full notebook


def test_student_edition_keeps_exercises_stubs_and_checks(student):
    nb = nbformat.read(student, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert T.exercises_in(nb) == ["teachfix.double", "teachfix.mean_of"]
    assert text.count("raise NotImplementedError") == 2
    assert "Show that adding a constant c" in text and "Is doubling a linear map?" in text
    assert "Implement `mean_of(values)`" in text and "## Key terms" in text
    assert 'if "google.colab" in sys.modules' in text  # the install cell stays


def test_student_notebook_runs_top_to_bottom_with_stubs(student):
    from nbclient import NotebookClient

    nb = nbformat.read(student, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(FIX)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs)
    assert printed.count("not implemented yet") == 2


def test_exercise_functions_reads_names_from_check_calls():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell('check("not.code", f)'),
        nbformat.v4.new_code_cell('check("a.b", my_func)\ncheck(\'a.c\', lambda x: x)\ncheck("a.d", g, timeout=3)\ncheck("a.b", other)'),
    ])
    assert T.exercise_functions(nb) == {"a.b": "my_func", "a.c": None, "a.d": "g"}
    assert T.exercises_in(nb) == ["a.b", "a.c", "a.d"]


def test_colab_option_points_badges_at_the_student_repository(tmp_path):
    (path,) = T.make_student_editions([CHAPTER], tmp_path, book=FIX, colab="teacher/course-2027@spring")
    assert "colab.research.google.com/github/teacher/course-2027/blob/spring/sample_chapter.ipynb" in path.read_text()
    with pytest.raises(ValueError, match="colab"):
        T.student_edition(CHAPTER, tmp_path, book=FIX, colab="not a repo")


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="nb"):
        T.strip_solutions({"cells": []})
    with pytest.raises(ValueError, match="path"):
        T.read_chapter(FIX / "make_submissions.py")
    with pytest.raises(TypeError, match="chapters"):
        T.make_student_editions(str(CHAPTER))
    with pytest.raises(ValueError, match="names"):
        T.run_submission(FIX / "submissions" / "magics.ipynb", ["not a name"])
    with pytest.raises(ValueError, match="submissions"):
        T.grade_folder(FIX / "no_such_folder")
    with pytest.raises(ValueError, match="not a registered exercise"):
        T.grade_folder(FIX / "submissions", exercises=["no.such.exercise"])


# Grading the sample submissions runs each in its own kernel: about 40 s on two cores.
SLOW = pytest.mark.slow


def digest(folder: Path) -> dict:
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, student):
    subs = tmp_path_factory.mktemp("submissions")
    for p in (FIX / "submissions").glob("*.ipynb"):
        shutil.copy(p, subs / p.name)
    shutil.copy(student, subs / "stub.ipynb")  # the untouched student edition
    nbformat.write(T.read_chapter(CHAPTER), subs / "reference.ipynb")  # the chapter with its solutions
    before = digest(subs)
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    grades = T.grade_folder(subs, chapter=CHAPTER, checkers=[CHECKERS], out=out, timeout=3, memory_mb=1024, check_timeout=3, jobs=2)
    return grades, out, subs, before


def points(grades):
    total = {}
    for g in grades:
        total[g.submission] = total.get(g.submission, 0) + g.points
    return total


@SLOW
def test_reference_gets_full_marks_and_stub_gets_zero(graded):
    got = points(graded[0])
    assert got["reference.ipynb"] == 3 and got["stub.ipynb"] == 0
    stub = [g for g in graded[0] if g.submission == "stub.ipynb"]
    assert all("not implemented" in g.message for g in stub)


@SLOW
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_submission_gets_its_score(graded, name):
    rows = [g for g in graded[0] if g.submission == f"{name}.ipynb"]
    assert [g.exercise for g in rows] == ["teachfix.double", "teachfix.mean_of"]
    assert sum(g.points for g in rows) == EXPECTED[name], rows


@SLOW
def test_what_went_wrong_is_said(graded):
    msg = {(g.submission, g.exercise): g.message for g in graded[0]}
    assert "stopped after 3 s" in msg["loops.ipynb", "teachfix.mean_of"]
    assert "within 3 s" in msg["loops_inside.ipynb", "teachfix.double"]
    assert "MemoryError" in msg["memory.ipynb", "teachfix.mean_of"]
    assert "ZeroDivisionError" in msg["raises.ipynb", "teachfix.mean_of"]


@SLOW
def test_submissions_and_csv_are_untouched_by_student_code(graded):
    grades, out, subs, before = graded
    assert digest(subs) == before  # the deleter and the liar changed no submission
    tampered = FIX / "TAMPERED"
    if tampered.exists():
        tampered.unlink()
        if "read-only files" in T.isolation_available():
            pytest.fail("a submission wrote beside the grader's checkers")
        pytest.skip("this system allows no mount namespace: the runner cannot make files read-only")
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["submission", "exercise", "passed", "points", "max_points", "message"]
    assert [(r["submission"], r["exercise"], int(r["points"])) for r in rows] == [(g.submission, g.exercise, g.points) for g in grades]
    assert "teachfix.double" in T.summary(grades) and "reference.ipynb" in T.summary(grades)


def test_command_line_grades_the_exercises_a_notebook_checks(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(FIX / "submissions" / "magics.ipynb", subs)
    out = tmp_path / "g.csv"
    assert T.main(["grade", str(subs), "--out", str(out), "--timeout", "20", "--checkers", str(CHECKERS)]) == 0
    assert "magics.ipynb                           3/3" in capsys.readouterr().out
    assert out.read_text().count("True") == 2


# ------------------------------------------------------------ every real chapter
from chapters import BOOK, chapter_sources  # noqa: E402

SOLUTION_BLOCK = r"```\{solution-start\}.*?```\{solution-end\}|(```|:::)\{solution\}.*?^\1\s*$"


def chapter_secrets(md: Path) -> list[str]:
    """Lines only a solution holds: solution code cells and solution prose, minus any line found elsewhere."""
    import re

    nb = jupytext.read(md)
    elsewhere = {line.strip() for c in nb.cells if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])
                 for line in c.source.splitlines()}
    text = md.read_text(encoding="utf-8")
    solution_text = "\n".join(m.group(0) for m in re.finditer(SOLUTION_BLOCK, text, re.S | re.M))
    outside = re.sub(SOLUTION_BLOCK, "", text, flags=re.S | re.M)
    outside_lines = {line.strip() for line in outside.splitlines()}
    code = [line.strip() for c in nb.cells if "solution" in c.metadata.get("tags", []) for line in c.source.splitlines()]
    prose = [line.strip() for line in solution_text.splitlines()]
    return [
        line for line in code + prose
        if len(line) > 12 and line not in outside_lines and line not in elsewhere and not line.startswith(("```", ":::", ":"))
    ]


@pytest.mark.parametrize("md", chapter_sources(), ids=[p.stem for p in chapter_sources()])
def test_no_solution_survives_in_any_chapter(md, tmp_path):
    path = T.student_edition(md, tmp_path, book=BOOK)
    text = path.read_text(encoding="utf-8")
    secrets = chapter_secrets(md)
    assert len(secrets) >= 4, f"{md.name}: found too few solution lines to test ({len(secrets)})"
    for secret in secrets:
        assert json_escaped(secret) not in text, f"{md.name}: the student edition still holds {secret!r}"
    nb = nbformat.read(path, as_version=4)
    assert len(T.exercises_in(nb)) >= 2 and "raise NotImplementedError" in text


def json_escaped(line: str) -> str:
    import json

    return json.dumps(line)[1:-1]


# ------------------------------------------------------------------ fast grading
def _tagged_notebook(*cells) -> nbformat.NotebookNode:
    """A notebook of ``(kind, source, tags)`` cells, as a chapter's edition lays them out."""
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    return nb


SETUP = "from nnbook.exercises import check\nimport teaching_sample_checkers"
EXPERIMENT = "import time\ntime.sleep(20)  # the chapter's experiment: a fast grading skips it"
DOUBLE_OK = 'def double(x):\n    return 2 * x\n\ncheck("teachfix.double", double)'


def test_a_fast_run_keeps_the_setup_and_the_exercise_cells():
    nb = _tagged_notebook(("md", "# Title", ()), ("code", SETUP, ()), ("md", "## 1. A section", ()),
                          ("code", EXPERIMENT, ()), ("code", DOUBLE_OK, ("exercise",)),
                          ("code", "def double(x):\n    return x + x", ("solution",)), ("code", "print(1)", ("timing",)))
    assert T.exercise_cells(nb) == [1, 4, 5]
    untagged = _tagged_notebook(("code", SETUP, ()), ("md", "## A", ()), ("code", DOUBLE_OK, ()))
    assert T.exercise_cells(untagged) is None  # a notebook the tags do not describe runs whole
    with pytest.raises(TypeError, match="nb must be a notebook"):
        T.exercise_cells([])


@SLOW
def test_fast_grading_skips_the_experiments_and_gives_the_full_runs_verdicts(tmp_path):
    """The same submissions graded fast and whole get the same points; a fast grading never waits for the
    experiment, and a function that needs a skipped cell sends its notebook to a full run."""
    import time

    uses_helper = 'def double(x):\n    return twice(x)\n\ncheck("teachfix.double", double)'
    submissions = {
        "right": DOUBLE_OK,
        "wrong": 'def double(x):\n    return x\n\ncheck("teachfix.double", double)',
        "broken": 'def double(x):\n    raise ValueError("no")\n\ncheck("teachfix.double", double)',
        "needs_a_skipped_cell": uses_helper,
    }
    for name, answer in submissions.items():
        helper = "def twice(x):\n    return 2 * x" if name == "needs_a_skipped_cell" else "x = 1"
        nb = _tagged_notebook(("md", "# Title", ()), ("code", SETUP, ()), ("md", "## Section", ()),
                              ("code", EXPERIMENT, ()), ("code", helper, ()), ("md", "## Exercises", ()),
                              ("code", answer, ("exercise",)))
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    kwargs = dict(timeout=60, memory_mb=1024, check_timeout=5)
    fast, whole_run, seconds = {}, {}, {}
    for name in submissions:
        start = time.perf_counter()
        grades, run = T.grade_submission(tmp_path / f"{name}.ipynb", ["teachfix.double"], **kwargs)
        seconds[name] = time.perf_counter() - start
        fast[f"{name}.ipynb"], whole_run[name] = grades[0].points, not run.fast
    full = {g.submission: g.points
            for g in T.grade_folder(tmp_path, exercises=["teachfix.double"], jobs=2, fast=False, **kwargs)}
    assert fast == full == {"right.ipynb": 1, "wrong.ipynb": 0, "broken.ipynb": 0, "needs_a_skipped_cell.ipynb": 1}
    assert whole_run == {"right": False, "wrong": False, "broken": False, "needs_a_skipped_cell": True}
    assert all(seconds[name] < 20 for name in ("right", "wrong", "broken")), seconds  # the 20 s experiment skipped


@SLOW
def test_a_chapter_graded_fast_gets_the_same_verdicts_as_graded_whole(tmp_path):
    """Fabricated submissions of a real chapter (right, wrong, broken, untouched): the same points per
    exercise fast (set-up and exercise cells) as whole (every cell, experiments included)."""
    import bench_grade

    chapter = Path(__file__).resolve().parents[1] / "book" / "part1_static" / "02_mlp_backprop.md"
    kinds = bench_grade.write_class(chapter, tmp_path, 4)
    verdicts = {}
    for fast in (True, False):
        grades = T.grade_folder(tmp_path, chapter=chapter, jobs=2, fast=fast)
        verdicts[fast] = {(g.submission, g.exercise): (g.passed, g.points) for g in grades}
    assert verdicts[True] == verdicts[False]
    by_kind = {kind: sum(p for (sub, _), (_, p) in verdicts[True].items() if sub.endswith(f"_{kind}.ipynb"))
               for kind in kinds}
    assert by_kind["right"] > 0 and by_kind["wrong"] == by_kind["broken"] == by_kind["stub"] == 0, by_kind


PEEK = ("import gc, os, sys, nnbook.exercises as E, teaching_sample_checkers as tc\n"
        "found = [n for n in vars(tc) if not n.startswith('__')]\n"  # the module the chapter imports
        "found += [n for n in E.all_exercises() if n.startswith('teachfix.')]\n"  # the registry
        "found += [d for d in sys.path if os.path.exists(os.path.join(d or '.', 'teaching_sample_checkers.py'))]\n"
        "found += [getattr(o, '__qualname__', '?') for o in gc.get_objects()\n"  # anything in memory
        "          if getattr(o, '__module__', None) == 'teaching_sample_checkers']\n"
        "if found:\n    raise RuntimeError('found: ' + ', '.join(map(str, found)))\n")


@SLOW
def test_the_teachers_checkers_stay_out_of_the_notebooks_reach(tmp_path):
    """At grading time a notebook finds nothing of the teacher's checker file (a secret exam's references):
    the module the chapter imports is empty, the registry, the path and the memory hold none of it. The checks
    still use it. The control, run where the checker file is importable, finds it."""
    from nbformat.v4 import new_code_cell, new_notebook

    from make_submissions import DOUBLE, MEAN, SETUP

    nbformat.write(new_notebook(cells=[new_code_cell(SETUP), new_code_cell(PEEK + DOUBLE), new_code_cell(MEAN)]),
                   tmp_path / "peeks.ipynb")
    grades, _ = T.grade_submission(tmp_path / "peeks.ipynb", chapter=CHAPTER, extra_paths=[CHECKERS], timeout=60)
    assert [(g.exercise, g.points) for g in grades] == [("teachfix.double", 1), ("teachfix.mean_of", 2)], grades
    control = subprocess.run([sys.executable, "-c", SETUP + "\n" + PEEK], cwd=FIX, capture_output=True, text=True)
    assert "RuntimeError: found: " in control.stderr and "teachfix.double" in control.stderr, control.stderr


@SLOW
def test_a_class_of_the_comparison_chapter_is_graded_fast_enough():
    """A class of 200 of the comparison chapter in at most 5 minutes on two cores, measured on 40: right ones get
    every exercise's points, the others none."""
    import bench_grade

    from nnbook import exercises as E

    chapter = bench_grade.heaviest_chapter()
    seconds, points = bench_grade.bench(chapter, 40, jobs=2)
    full = sum(E.get(name).points for name in T.exercise_functions(T.read_chapter(chapter)))
    assert points == {"right": 10 * full, "wrong": 0, "broken": 0, "stub": 0}
    assert 40 / seconds >= 200 / 300, f"{40 / seconds:.2f} submissions per second"


# ------------------------------------------------------------------ one notebook, one command
def test_grade_one_prints_each_verdict_and_exits_0_whatever_the_score(capsys):
    import json

    common = ["--chapter", str(CHAPTER), "--checkers", str(CHECKERS), "--timeout", "20"]
    for name, score in (("magics", 3), ("liar", 0)):
        assert T.main(["grade-one", str(FIX / "submissions" / f"{name}.ipynb"), *common, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert set(report) == {"notebook", "chapter", "exercises", "score", "max_score"}
        assert report["notebook"].endswith(f"{name}.ipynb") and report["chapter"] == str(CHAPTER)
        assert [e["name"] for e in report["exercises"]] == ["teachfix.double", "teachfix.mean_of"]
        assert set(report["exercises"][0]) == {"name", "passed", "points", "max_points", "message"}
        assert (report["score"], report["max_score"]) == (score, 3)
    assert T.main(["grade-one", str(FIX / "submissions" / "liar.ipynb"), *common, "--exercise", "teachfix.mean_of"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("❌ teachfix.mean_of: 0/2 — mean_of([1.0, 2.0, 3.0]): values differ") and "double" not in out


def test_grade_one_fails_only_when_grading_cannot_run(tmp_path, capsys):
    notebook = str(FIX / "submissions" / "magics.ipynb")
    assert T.main(["grade-one", notebook, "--chapter", str(tmp_path / "nope.md")]) == 2
    assert "--chapter" in capsys.readouterr().err
    assert T.main(["grade-one", str(tmp_path / "nope.ipynb"), "--chapter", str(CHAPTER)]) == 2
    assert "notebook=" in capsys.readouterr().err
    assert T.main(["grade-one", notebook, "--chapter", str(CHAPTER), "--exercise", "teachfix.triple"]) == 2
    assert "--exercise teachfix.triple: not an exercise of --chapter" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        T.main(["grade-one", notebook])  # --chapter is required
    assert exit_.value.code == 2


def classroom_workflow() -> dict:
    """The GitHub Classroom workflow of the teacher's guide (book/part0/teaching.md, section 7)."""
    import re

    import yaml

    guide = (Path(__file__).resolve().parents[1] / "book" / "part0" / "teaching.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", guide, re.S) if "autograding-io-grader" in b]
    return yaml.safe_load(block)


@SLOW
def test_the_guides_github_classroom_commands_grade_a_student_repository(tmp_path):
    """Each input/output test of the guide's workflow, run as written in a student's repository: the ✅ line
    it looks for is printed for a filled-in notebook and not for the untouched one."""
    import os
    import subprocess

    root = Path(__file__).resolve().parents[1]
    chapter = root / "book" / "part2_dynamic" / "05_dhnn.md"
    steps = classroom_workflow()["jobs"]["grade"]["steps"]
    tests = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-io-grader")]
    reporter = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-grading-reporter")]
    assert [t["with"]["test-name"] for t in tests] == T.exercises_in(T.read_chapter(chapter))  # every exercise
    assert reporter[0]["with"]["runners"].split(",") == [t["id"] for t in tests]
    repo = tmp_path / "student-repo"
    (repo / ".github" / "classroom").mkdir(parents=True)
    edition = T.student_edition(chapter, tmp_path / "edition", book=root / "book")
    shutil.copy(edition, repo / ".github" / "classroom" / "05_dhnn.ipynb")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for filled in (True, False):
        nbformat.write(T.read_chapter(chapter) if filled else nbformat.read(edition, as_version=4), repo / "05_dhnn.ipynb")
        for test in tests if filled else tests[:1]:
            done = subprocess.run(test["with"]["command"], shell=True, cwd=repo, env=env, capture_output=True, text=True,
                                  timeout=60 * test["with"]["timeout"])
            assert done.returncode == 0, done.stderr
            assert test["with"]["comparison-method"] == "contains"
            assert (test["with"]["expected-output"] in done.stdout) == filled, done.stdout


def test_a_file_that_is_not_a_notebook_gets_a_row_that_says_so(tmp_path):
    (tmp_path / "essay.ipynb").write_text("Dear teacher, here is my homework.")
    (tmp_path / "empty.ipynb").write_text("{}")
    rows = {g.submission: g for g in T.grade_folder(tmp_path)}  # no chapter: nothing to run for either
    assert rows["essay.ipynb"].message.startswith("not a notebook: the file is not valid JSON")
    assert rows["empty.ipynb"].message.startswith("not a notebook: ")
    assert not any(g.points or g.max_points for g in rows.values())


def test_bench_grade_finds_the_comparison_chapter_whatever_its_number():
    import bench_grade

    assert bench_grade.heaviest_chapter().name.endswith("_comparison.md")


def test_clearing_a_sandboxs_tmp_keeps_what_is_bound_there(tmp_path):
    """Between two submissions the worker empties its /tmp, where the grader's folder and even the runtime (a
    repository cloned under /tmp) may be bound: those, and the way to them, stay; all else goes."""
    from nnbook.teaching.sandbox import _empty

    venv, box = tmp_path / "clone" / "repo" / ".venv", tmp_path / "nnbook-worker-x" / "box"
    for path in (venv / "bin" / "python", box / "work" / "submission.ipynb", tmp_path / "left.txt",
                 tmp_path / "clone" / "trap" / "x", tmp_path / "nnbook-worker-x" / "beside.txt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "f").write_text("x")
    (tmp_path / "locked").chmod(0o000)
    assert _empty(tmp_path, [box, venv])
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ["clone", "clone/repo", "clone/repo/.venv", "clone/repo/.venv/bin", "clone/repo/.venv/bin/python",
                    "nnbook-worker-x", "nnbook-worker-x/box", "nnbook-worker-x/box/work",
                    "nnbook-worker-x/box/work/submission.ipynb"]
    (tmp_path / "again.txt").write_text("x")
    assert _empty(tmp_path) and not any(tmp_path.iterdir())
