"""The teacher's package as a teacher installs it: the built wheel with its `teach` extra, in a clean virtual
environment outside the repository (like tools/colab_check.py's Colab situation), then the three commands
(`student`, `grade`, `grade-one`) on a real chapter and a fabricated class, run from a folder outside the
repository. The venv is kept in $TEACH_VENV (default /tmp/teach-wheel-venv) and rebuilt when pyproject.toml
changes; the wheel is rebuilt and reinstalled on every run."""
import csv
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

import colab_check
from nnbook import teaching as T

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = Path("book") / "part2_dynamic" / "05_dhnn.md"
VENV = Path(os.environ.get("TEACH_VENV", Path(tempfile.gettempdir()) / "teach-wheel-venv"))


def teach_venv(wheels: Path) -> Path:
    """The venv with torch (the pinned wheel, from pip's find-links as in colab_check) and the package's wheel
    installed non-editable with its `teach` extra."""
    py = VENV / "bin" / "python"
    # colab_check's lock: building the wheel writes the repository's build/ folder
    with open(Path(tempfile.gettempdir()) / "nnbook-colab-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
        stamp = VENV / ".pyproject-sha"
        constraints = VENV / "constraints.txt"
        if not py.exists() or not stamp.exists() or stamp.read_text() != digest:
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
            constraints.write_text("\n".join(colab_check.dev_pins().values()) + "\n")
            subprocess.check_call([str(py), "-m", "pip", "install", "-q", colab_check.dev_pins()["torch"], "-c", str(constraints)])
            stamp.write_text(digest)
        subprocess.check_call([str(py), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)])
    (wheel,) = wheels.glob("nnbook-*.whl")
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(wheel)])
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", f"{wheel}[teach]", "-c", str(constraints)])
    subprocess.check_call([str(py), "-m", "pip", "check"])
    return py


@pytest.mark.slow
def test_the_installed_wheel_runs_the_teachers_commands(tmp_path):
    py = teach_venv(tmp_path / "wheels")
    where = subprocess.run([str(py), "-c", "import nnbook.teaching as t; print(t.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(VENV)), where  # the installed package, not the checkout
    course = tmp_path / "course"
    (course / CHAPTER).parent.mkdir(parents=True)
    shutil.copy(ROOT / CHAPTER, course / CHAPTER)
    subs = course / "submissions"
    subs.mkdir()
    nbformat.write(T.read_chapter(ROOT / CHAPTER), subs / "right.ipynb")  # the chapter with its solutions
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1", MPLBACKEND="Agg")

    def teaching(*args):
        return subprocess.run([str(py), "-m", "nnbook.teaching", *args], cwd=course, env=env, capture_output=True,
                              text=True, timeout=600)

    done = teaching("student", str(CHAPTER), "--out", "student")
    assert done.returncode == 0, done.stderr
    student = course / "student" / "part2_dynamic" / "05_dhnn.ipynb"
    assert "raise NotImplementedError" in student.read_text() and "(X.T @ X - M * torch.eye(N)) / N" not in student.read_text()
    shutil.copy(student, subs / "stub.ipynb")

    done = teaching("grade", "submissions", "--chapter", str(CHAPTER), "--out", "grades.csv", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "isolation of each notebook: bubblewrap" in done.stdout
    with open(course / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    points = {}
    for r in rows:
        points[r["submission"]] = points.get(r["submission"], 0) + int(r["points"])
    full = sum(int(r["max_points"]) for r in rows if r["submission"] == "right.ipynb")
    assert full >= 3 and points == {"right.ipynb": full, "stub.ipynb": 0}, rows

    done = teaching("grade-one", "submissions/right.ipynb", "--chapter", str(CHAPTER), "--json", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["score"] == report["max_score"] == full
    assert [e["name"] for e in report["exercises"]] == [r["exercise"] for r in rows if r["submission"] == "right.ipynb"]
