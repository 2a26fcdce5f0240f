"""Hostile submissions of a real chapter (05_dhnn: hebbian_weights, energy, async_sweep), graded together with
a good one: each hostile act costs the exercise whose cell does it, with a message that says what happened;
every other exercise and every other submission is graded; no row is lost; nothing outside the sandbox is
read or changed. Needs bubblewrap (`make bubblewrap`)."""
import os
import re
import shutil
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from nnbook import teaching as T

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "part2_dynamic" / "05_dhnn.md"
OTHER_CHAPTER = ROOT / "book" / "part1_static" / "02_mlp_backprop.md"
EXERCISES = ["hopfield.hebbian_weights", "hopfield.energy", "hopfield.async_sweep"]
ENERGY = "def energy(W, x):\n    x = torch.as_tensor(x, dtype=W.dtype)\n    return -0.5 * x @ W @ x\n"
# the user ids a grader running as root (this process) gives its sandboxes
SANDBOX_UIDS = range(3_000_000_000 + (os.getpid() % 100_000) * 1000, 3_000_000_000 + (os.getpid() % 100_000 + 1) * 1000)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not T.isolation_available().startswith("bubblewrap"),
                                 reason="needs bubblewrap: " + T.isolation_available())]


def with_energy_cell(source: str) -> nbformat.NotebookNode:
    """The chapter with its solutions as a student hands it in: the cell that defines `energy` (the stub gone)
    replaced by ``source``."""
    nb = T.read_chapter(CHAPTER)
    nb.cells = [c for c in nb.cells if not ("exercise" in c.metadata.get("tags", []) and "def energy(" in c.source)]
    (cell,) = [c for c in nb.cells if "solution" in c.metadata.get("tags", []) and "def energy(" in c.source]
    cell.source = source + '\n\ncheck("hopfield.energy", energy)'
    return nb


def hostile(paths: dict) -> dict[str, str]:
    """{name: the energy cell of a hostile submission}; ``paths`` are the host paths it goes after."""
    return {
        "reads_classmate": f"print(open({str(paths['classmate'])!r}).read()[:100])\n" + ENERGY,
        "reads_teacher": f"print(open({str(paths['teacher_file'])!r}).read())\n" + ENERGY,
        "reads_repository": f"print(open({str(CHAPTER)!r}).read()[-2000:])  # the solutions\n" + ENERGY,
        "reads_environment": "import os\nraise RuntimeError('leaked: ' + os.environ.get('GRADER_SECRET', 'nothing'))\n"
                             + ENERGY,
        "writes_outside": f"open({str(paths['classmate'])!r}, 'w').write('overwritten')\n"
                          f"open({str(paths['teacher'] / 'grades.csv')!r}, 'w').write('all full marks')\n" + ENERGY,
        "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {paths['port']}), timeout=3).sendall(b'leak')\n"
                  + ENERGY,
        "fork_bomb": "import os\nwhile True:\n    os.fork()\n" + ENERGY,
        "memory_bomb": "def energy(W, x):\n    chunks = []\n    while True:\n        chunks.append(bytearray(2**27))\n",
        "infinite_loop": "def energy(W, x):\n    while True:\n        pass\n",
        "huge_output": "import sys\nfor _ in range(40):\n    sys.stdout.write('x' * 2**24)\n"
                       "with open('big.txt', 'w') as f:\n    for _ in range(20):\n        f.write('x' * 2**24)\n" + ENERGY,
        # the worker's answer pipe (its stdout) is out of reach: it is not dumpable
        "forges_the_answer": "import os\nopen(f'/proc/{os.getppid()}/fd/1', 'w').write('{\"returncode\": 0}\\n')\n" + ENERGY,
        # a wrong answer that writes a passing verdict on every descriptor it has while it is checked
        "forges_a_verdict": "def energy(W, x):\n    import os\n"
                            "    fake = b'{\"exercise\": \"hopfield.energy\", \"passed\": true, \"message\": \"ok\"}\\n'\n"
                            "    for fd in range(3, 256):\n        try:\n            os.write(fd, fake)\n"
                            "        except OSError:\n            pass\n    return 0.0 * W.sum()\n",
        "deletes_checker": ENERGY.replace("-0.5", "0.5")  # a wrong answer, then it removes what would catch it
                           + "import os, nnbook.hopfield, nnbook.exercises as E\n"
                             "E._REGISTRY.clear()\nnnbook.hopfield._check_energy = lambda f: None\n"
                             "os.remove(nnbook.hopfield.__file__)\n",
    }


def sandbox_processes() -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(re.search(r"^Uid:\s+(\d+)", status.read_text(), re.M).group(1))
        except (OSError, AttributeError):
            continue
        if uid in SANDBOX_UIDS:
            found.append(int(status.parent.name))
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    teacher, subs = tmp / "teacher", tmp / "submissions"
    teacher.mkdir()
    subs.mkdir()
    shutil.copy(CHAPTER, teacher / CHAPTER.name)
    (teacher / "answers.txt").write_text("the teacher's notes")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received = []

    def listen():
        while not stop.is_set():
            try:
                received.append(server.accept())
            except OSError:
                pass

    stop = threading.Event()
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    paths = {"classmate": subs / "good.ipynb", "teacher": teacher, "teacher_file": teacher / "answers.txt",
             "port": server.getsockname()[1]}
    nbformat.write(T.read_chapter(CHAPTER), subs / "good.ipynb")
    for name, source in hostile(paths).items():
        nbformat.write(with_energy_cell(source), subs / f"{name}.ipynb")
    (subs / "not_json.ipynb").write_text("def energy(W, x):\n    return 0\n")
    nbformat.write(T.read_chapter(OTHER_CHAPTER), subs / "other_chapter.ipynb")
    before = {p.name: p.read_bytes() for p in [*subs.iterdir(), *teacher.iterdir()]}
    os.environ["GRADER_SECRET"] = "s3cret"  # e.g. a token in the teacher's shell
    try:
        grades = T.grade_folder(subs, chapter=teacher / CHAPTER.name, out=teacher / "grades.csv", timeout=60,
                                memory_mb=1024, check_timeout=10, jobs=2)
    finally:
        del os.environ["GRADER_SECRET"]
        stop.set()
        thread.join()
        server.close()
    after = {p.name: p.read_bytes() for p in [*subs.iterdir(), *teacher.iterdir()] if p.name != "grades.csv"}
    rows = {(g.submission.removesuffix(".ipynb"), g.exercise): g for g in grades}
    return {"grades": grades, "rows": rows, "received": received, "before": before, "after": after}


def row(graded, name, exercise="hopfield.energy"):
    return graded["rows"][name, exercise]


def test_every_submission_gets_every_row_and_the_good_one_full_marks(graded):
    names = {g.submission.removesuffix(".ipynb") for g in graded["grades"]}
    assert names == {"good", "not_json", "other_chapter", *hostile({"classmate": "", "teacher": Path(), "teacher_file": "", "port": 0})}
    for name in names:
        assert [g.exercise for g in graded["grades"] if g.submission == f"{name}.ipynb"] == EXERCISES, name
    good = [g for g in graded["grades"] if g.submission == "good.ipynb"]
    assert all(g.passed and g.points == g.max_points > 0 for g in good), good


@pytest.mark.parametrize("name", ["reads_classmate", "reads_teacher", "reads_repository", "reads_environment",
                                  "writes_outside", "socket",
                                  "fork_bomb", "memory_bomb", "infinite_loop", "huge_output", "forges_the_answer",
                                  "forges_a_verdict", "deletes_checker"])
def test_a_hostile_exercise_costs_only_itself(graded, name):
    energy = row(graded, name)
    assert not energy.passed and energy.points == 0, energy
    others = [row(graded, name, ex) for ex in EXERCISES if ex != "hopfield.energy"]
    assert all(g.passed and g.points == g.max_points for g in others), others


@pytest.mark.parametrize("name, said", [
    ("reads_classmate", r"FileNotFoundError: .*good\.ipynb"),
    ("reads_teacher", r"FileNotFoundError: .*answers\.txt"),
    ("reads_repository", r"FileNotFoundError: .*05_dhnn\.md"),
    ("reads_environment", r"RuntimeError: leaked: nothing"),
    ("writes_outside", r"FileNotFoundError: .*good\.ipynb"),
    ("socket", r"ConnectionRefusedError|Network is unreachable"),
    ("fork_bomb", r"BlockingIOError: \[Errno 11\] Resource temporarily unavailable"),
    ("memory_bomb", r"your function raised MemoryError"),
    ("infinite_loop", r"no answer within 10 s"),
    ("huge_output", r"OSError: \[Errno 27\] File too large"),
    ("forges_the_answer", r"PermissionError: \[Errno 13\] Permission denied: '/proc/\d+/fd/1'"),
    ("forges_a_verdict", r"the checker could not read its verdict: did your function write on its channel\?"),
    ("deletes_checker", r"values differ"),
])
def test_the_message_says_what_happened(graded, name, said):
    assert re.search(said, row(graded, name).message), row(graded, name).message


def test_nothing_outside_the_sandbox_was_read_or_changed(graded):
    assert graded["after"] == {k: v for k, v in graded["before"].items() if k != "grades.csv"}
    assert graded["received"] == []  # no connection reached the grader's machine
    assert (ROOT / "lib" / "nnbook" / "hopfield.py").is_file()
    if os.geteuid() == 0:  # (a grader that is not root runs its sandboxes under its own user id)
        assert sandbox_processes() == []  # the fork bomb's processes went with their sandbox


def test_a_file_that_is_not_a_notebook_or_of_another_chapter_is_said_so(graded):
    for ex in EXERCISES:
        assert row(graded, "not_json", ex).message.startswith("not a notebook: the file is not valid JSON")
        assert "crashed" not in row(graded, "not_json", ex).message
        assert "another chapter? It checks mlp." in row(graded, "other_chapter", ex).message


def test_required_isolation_refuses_without_bubblewrap(tmp_path, monkeypatch):
    from nnbook.teaching import sandbox

    monkeypatch.setattr(sandbox, "_probe", lambda: (False, "bubblewrap (bwrap) is not installed; " + sandbox.INSTALL_HINT))
    nbformat.write(T.read_chapter(CHAPTER), tmp_path / "good.ipynb")
    with pytest.raises(T.IsolationError, match="apt-get install bubblewrap.*dnf install bubblewrap"):
        T.grade_folder(tmp_path, chapter=CHAPTER)
    assert T.main(["grade-one", str(tmp_path / "good.ipynb"), "--chapter", str(CHAPTER)]) == 2
    with pytest.raises(ValueError, match="isolation"):
        T.grade_folder(tmp_path, chapter=CHAPTER, isolation="none")
    grades, run = T.grade_submission(tmp_path / "good.ipynb", chapter=CHAPTER, isolation="best-effort", timeout=60)
    assert run.isolation.startswith("best-effort (limits only, sockets disabled")
    assert "bubblewrap (bwrap) is not installed; install it: `sudo apt-get install bubblewrap`" in run.isolation
    assert all(g.passed for g in grades), grades


def test_best_effort_still_disables_sockets(tmp_path, monkeypatch):
    from nnbook.teaching import sandbox

    monkeypatch.setattr(sandbox, "_probe", lambda: (False, "bubblewrap refused to run here"))
    nbformat.write(with_energy_cell("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=3)\n" + ENERGY),
                   tmp_path / "socket.ipynb")
    grades, _ = T.grade_submission(tmp_path / "socket.ipynb", chapter=CHAPTER, isolation="best-effort", timeout=60)
    assert "the network is disabled while grading" in {g.exercise: g.message for g in grades}["hopfield.energy"]


def with_cell(function: str, source: str) -> nbformat.NotebookNode:
    """The chapter as a student hands it in, the cell that defines ``function`` replaced by ``source``."""
    nb = T.read_chapter(CHAPTER)
    stub = f"def {function}("
    nb.cells = [c for c in nb.cells if not ("exercise" in c.metadata.get("tags", []) and stub in c.source)]
    (cell,) = [c for c in nb.cells if "solution" in c.metadata.get("tags", []) and stub in c.source]
    cell.source = source + f'\n\ncheck("hopfield.{function}", {function})'
    return nb


COPIES = {  # each hands in the reference instead of its own code
    "imports_it": "from nnbook.hopfield import hebbian_weights as theirs\n\n"
                  "def hebbian_weights(patterns):\n    return theirs(patterns)",
    "module_attribute": "import nnbook.hopfield\n\n"
                        "def hebbian_weights(patterns):\n    return nnbook.hopfield.hebbian_weights(patterns)",
    "hides_the_error": "import nnbook.hopfield\n\ndef hebbian_weights(patterns):\n    try:\n"
                       "        return nnbook.hopfield.hebbian_weights(patterns)\n    except BaseException:\n"
                       "        return nnbook.hopfield.hebbian_weights(patterns)",
    "reference_solution": "from nnbook import exercises\n\ndef hebbian_weights(patterns):\n"
                          "    return exercises.get('hopfield.hebbian_weights').reference(patterns)",
}


def test_a_function_that_calls_the_reference_scores_zero_and_is_named(tmp_path):
    for name, source in COPIES.items():
        nbformat.write(with_cell("hebbian_weights", source), tmp_path / f"{name}.ipynb")
    nbformat.write(T.read_chapter(CHAPTER), tmp_path / "own_code.ipynb")
    grades = T.grade_folder(tmp_path, chapter=CHAPTER, timeout=60, memory_mb=1024, check_timeout=10, jobs=2)
    rows = {(g.submission.removesuffix(".ipynb"), g.exercise): g for g in grades}
    for name in COPIES:
        copied = rows[name, "hopfield.hebbian_weights"]
        assert not copied.passed and copied.points == 0, copied
        wanted = "nnbook.hopfield._ref_hebbian" if name == "reference_solution" else "nnbook.hopfield.hebbian_weights"
        assert f"calls the reference {wanted}" in copied.message, copied.message
        assert rows[name, "hopfield.energy"].passed and rows[name, "hopfield.async_sweep"].passed
    assert all(rows["own_code", ex].passed for ex in EXERCISES)  # the checkers still use the references themselves


TRAP = ("import subprocess, sys\n"  # a process that stays, and files where the next submission would look
        "subprocess.Popen([sys.executable, '-c', 'import time\\nwhile True:\\n    open(\"/tmp/trap.txt\", \"w\")"
        ".write(\"x\")\\n    time.sleep(0.01)'], start_new_session=True)\n"
        "for path in ('/tmp/left.txt', 'left.txt', '/dev/shm/left.txt'):\n    try:\n"
        "        open(path, 'w').write('my answers')\n    except OSError:\n        pass\n")
FINDS = ("import os, time\ntime.sleep(0.2)\n"
         "found = [p for p in ('/tmp/left.txt', '/tmp/trap.txt', 'left.txt', '/dev/shm/left.txt') if os.path.exists(p)]\n"
         "found += [f'process {pid}' for pid in os.listdir('/proc')\n"
         "          if pid.isdigit() and int(pid) not in (1, os.getpid(), os.getppid())]\n"
         "if found:\n    raise RuntimeError('found: ' + ', '.join(found))\n")


def test_one_worker_grades_one_submission_after_another_and_nothing_of_one_reaches_the_next(tmp_path, monkeypatch):
    """One job: its worker sandbox grades all five. A submission that leaves a process and files behind costs
    the next nothing (the control, which looks for what it left itself, finds it); one that kills the worker
    costs at most itself (what it handed back before is graded), and the next gets a fresh worker."""
    from nnbook.teaching import sandbox

    starts = []
    start = sandbox._start
    monkeypatch.setattr(sandbox, "_start", lambda *a, **k: starts.append(a[0]) or start(*a, **k))
    cells = {"a_leaves_a_trap": TRAP + ENERGY, "b_looks_for_it": FINDS + ENERGY, "c_control": TRAP + FINDS + ENERGY,
             "d_kills_the_worker": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + ENERGY,
             "e_after_it": ENERGY}
    for name, source in cells.items():
        nbformat.write(with_energy_cell(source), tmp_path / f"{name}.ipynb")
    grades = T.grade_folder(tmp_path, chapter=CHAPTER, timeout=60, memory_mb=1024, check_timeout=10, jobs=1)
    rows = {(g.submission.removesuffix(".ipynb"), g.exercise): g for g in grades}
    for name in ("a_leaves_a_trap", "b_looks_for_it", "e_after_it"):
        assert all(rows[name, ex].passed for ex in EXERCISES), [rows[name, ex] for ex in EXERCISES]
    control = rows["c_control", "hopfield.energy"]
    assert not control.passed and re.search(r"RuntimeError: found: /tmp/left\.txt, /tmp/trap\.txt, left\.txt, "
                                            r"(/dev/shm/left\.txt, )?process \d+", control.message), control.message
    assert ("d_kills_the_worker", "hopfield.hebbian_weights") in rows, [g for g in grades if g.submission.startswith("d_")]
    assert rows["d_kills_the_worker", "hopfield.hebbian_weights"].passed  # handed back before it killed the worker
    assert starts == ["_serve", "_serve"]  # the first worker served a, b, c and d; a fresh one e
