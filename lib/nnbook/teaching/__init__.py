"""Teaching tools: student editions of the chapters, and a grader for submitted notebooks.

Three commands (also ``make student`` and ``make grade``); the guide is book/part0/teaching.md::

    python -m nnbook.teaching student [CHAPTER ...] [--out student] [--colab OWNER/NAME@BRANCH]
    python -m nnbook.teaching grade SUBMISSIONS_DIR [--out grades.csv] [--chapter CHAPTER]
    python -m nnbook.teaching grade-one NOTEBOOK --chapter CHAPTER [--json]

One module per job:

- :mod:`~nnbook.teaching.editions`  a chapter without its solutions; which cells and functions are exercises
- :mod:`~nnbook.teaching.sandbox`   running a submission, and the checks of its functions, under bubblewrap
- :mod:`~nnbook.teaching.grader`    grading one notebook or a folder of them into CSV rows
- :mod:`~nnbook.teaching.cli`       the command line

This stops mistakes and cheating that reaches outside the student's own code (other submissions, the
teacher's files, the network, the machine's resources); it cannot stop a function that fools the checker
from inside its own process (e.g. by walking the stack). The teacher's guide says what is detected.
"""
from nnbook.teaching.cli import main
from nnbook.teaching.editions import (
    EXERCISE_TAG,
    SOLUTION_TAG,
    chapter_sources,
    exercise_cells,
    exercise_functions,
    exercises_in,
    make_student_editions,
    read_chapter,
    strip_solutions,
    student_edition,
)
from nnbook.teaching.grader import Grade, grade_folder, grade_submission, summary, write_csv
from nnbook.teaching.sandbox import ISOLATION_MODES, IsolationError, RunResult, isolation_available, run_submission

__all__ = [
    "SOLUTION_TAG",
    "read_chapter",
    "chapter_sources",
    "strip_solutions",
    "student_edition",
    "make_student_editions",
    "exercises_in",
    "exercise_functions",
    "exercise_cells",
    "EXERCISE_TAG",
    "ISOLATION_MODES",
    "IsolationError",
    "isolation_available",
    "RunResult",
    "run_submission",
    "Grade",
    "grade_submission",
    "grade_folder",
    "write_csv",
    "summary",
    "main",
]
