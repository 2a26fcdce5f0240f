"""Teaching tools: student editions of the chapters, and a grader for submitted notebooks.

Two commands (also ``make student`` and ``make grade``)::

    python -m nnbook.teaching student [CHAPTER ...] [--out student] [--colab OWNER/NAME@BRANCH]
    python -m nnbook.teaching grade SUBMISSIONS_DIR [--out grades.csv] [--chapter CHAPTER]

**Student edition.** A chapter (``book/**/*.md``, the single source, or its
``.ipynb``) is copied as a notebook without its solutions: every code cell
tagged ``solution``, every ``{solution}`` directive, and everything between
``{solution-start}`` and ``{solution-end}`` (the gated directives span several
cells once the chapter is a notebook). The exercise stubs and their
``check("topic.name", func)`` calls stay, so "Run all" runs and students get
the checker's feedback.

**Grading.** Each submission runs in its own process (the *runner*), in a fresh
temporary directory, with a wall-clock limit, a memory limit and a CPU-time
limit (``resource.setrlimit``). On Linux it is also isolated with namespaces:
offline (a network namespace of its own) and with every file system read-only
except its temporary directory, locked so that even root cannot remount them;
where the system refuses namespaces, sockets are disabled and files stay
writable. IPython magics and shell lines (``%pip``, ``!ls``) are neutralised.
The runner hands back, serialised with cloudpickle, the function each exercise
checks: the one its ``check("name", func)`` call names, else one named like the
reference solution. The grader — a process in which no student code ever ran —
then calls :func:`nnbook.exercises.run_check` on each; the function is only
unpickled inside the checker's forked child, under the same limits. Nothing
the notebook printed is read.

This stops mistakes and naive cheating; it is not a hardened sandbox (a
determined student can still fool the checker from inside its own child
process, e.g. by walking the stack). Grade high-stakes work inside a container.
"""
from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

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


# ------------------------------------------------------------------ the runner (untrusted side)
# Started as `python -c _BOOTSTRAP ...`, which loads this file without the
# `nnbook` package (whose import loads torch), so that the limits and the network
# namespace are in place before anything else is imported (unshare needs a
# single-threaded process).
_BOOTSTRAP = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_nnbook_teaching_runner", sys.argv[1])
runner = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
runner._confine_runner(int(sys.argv[5]), float(sys.argv[6]), sys.argv[7:])
runner._run_notebook(sys.argv[2], sys.argv[3], sys.argv[4].split(",") if sys.argv[4] else [])
"""
_CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_NEWNS = 0x10000000, 0x40000000, 0x00020000


def _set_memory_limit(memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _vm_size() -> int:
    """Current virtual memory size of this process in bytes (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


_MS = {"ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21, "strictatime": 1 << 24}
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18


def _isolate(writable: Sequence[Path]) -> str:
    """Cut this (single-threaded) process off the network and make the file system read-only but for ``writable``.

    Uses Linux namespaces (a new network namespace and a new mount namespace, in
    a new user namespace when not root). Best effort: where the system refuses,
    sockets are disabled instead and files stay writable. Returns what was done.
    """
    done = []
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        base = _CLONE_NEWNET | _CLONE_NEWNS
        uid, gid = os.geteuid(), os.getegid()
        if libc.unshare(base) != 0:  # not root: in a user namespace of our own
            if libc.unshare(base | _CLONE_NEWUSER) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
            # keep our own uid mapped, or no nested namespace (below) can be made
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        done.append("network namespace")
        done.append(_read_only_mounts(libc, writable))
        # A nested user namespace locks the read-only mounts: code running after
        # this cannot remount them writable, even as root.
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS) != 0:
            done.append("mounts not locked")
    except (OSError, AttributeError) as exc:
        if not done:
            _disable_sockets()
            done.append(f"sockets disabled ({exc})")
    return ", ".join(done)


def _read_only_mounts(libc, writable: Sequence[Path]) -> str:
    """Remount every mount read-only (this mount namespace only), except ``writable``, /proc, /sys and /dev."""
    import ctypes

    def mount(src, target, flags):
        if libc.mount(src, str(target).encode(), None, ctypes.c_ulong(flags), None) != 0:
            raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")

    try:
        mount(b"none", "/", _MS_REC | _MS_PRIVATE)  # nothing we do here reaches the real system
        keep = [Path(w).resolve() for w in writable]
        for w in keep:
            mount(str(w).encode(), w, _MS_BIND | _MS_REC)  # its own mount, so it stays writable
        os.chdir(os.getcwd())  # the working directory, seen through the new mount
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            target = Path(fields[4].encode().decode("unicode_escape"))
            if any(target == w or w in target.parents for w in keep) or target.parts[1:2] in (("proc",), ("sys",), ("dev",)):
                continue
            flags = _MS_REMOUNT | _MS_BIND | _MS["ro"]
            for opt in fields[5].split(","):
                flags |= _MS.get(opt, 0)  # keep the flags a user namespace may not drop
            try:
                mount(None, target, flags)
            except OSError:
                pass  # e.g. a mount hidden under another: its parent is read-only anyway
        probe = Path(__file__).resolve().parent / ".nnbook-write-probe"
        try:
            probe.touch()
        except OSError:
            return "read-only files"
        probe.unlink()
        return "files writable (remount had no effect)"
    except OSError as exc:
        return f"files writable ({exc})"


def isolation_available() -> str:
    """What the runner's isolation achieves on this system, probed in a fresh process (e.g. "network namespace, read-only files")."""
    code = ("import importlib.util, pathlib, sys; spec = importlib.util.spec_from_file_location('_probe', sys.argv[1]); "
            "m = sys.modules['_probe'] = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(m._isolate([pathlib.Path(sys.argv[2])]))")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve()), tmp],
                              capture_output=True, text=True, timeout=60)
    return done.stdout.strip() or f"unknown ({done.stderr.strip()[-200:]})"


def _disable_sockets() -> None:
    import socket

    def refuse(*args, **kwargs):
        raise OSError("the network is disabled while grading")

    socket.socket.connect = socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = socket.create_connection = refuse  # type: ignore[assignment]


def _confine_runner(memory_mb: int, timeout: float, writable: Sequence[str]) -> None:
    """Limits of the runner process: memory, CPU time, file size, no core dumps, offline, read-only files but ``writable``."""
    import resource

    _set_memory_limit(memory_mb)
    cpu = int(2 * (timeout + STARTUP_S))  # two threads use up to 2 s of CPU a second; the wall clock is the real limit
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.environ["NNBOOK_ISOLATION"] = _isolate([Path(w) for w in writable])
    print(f"(grading runner: {os.environ['NNBOOK_ISOLATION']})", flush=True)


class _FakeIPython:
    """Stands in for ``get_ipython()``: line magics and shell commands do nothing; ``%%time``-like cell magics run their body."""

    _RUN_BODY = {"time", "capture", "timeit", "prun"}

    def __init__(self, namespace: dict):
        self._ns = namespace
        self.user_ns = namespace

    def run_line_magic(self, name, line, *args, **kwargs):
        return None

    def run_cell_magic(self, name, line, body, *args, **kwargs):
        if name.lstrip("%") in self._RUN_BODY:
            _exec_cell(body, f"<magic {name}>", self._ns)
        return None

    def system(self, *args, **kwargs):
        return None

    getoutput = system

    def __getattr__(self, name):  # any other IPython API: a harmless no-op
        return lambda *args, **kwargs: None


def _exec_cell(source: str, filename: str, namespace: dict) -> None:
    import linecache

    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(source)
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    exec(compile(code, filename, "exec"), namespace)


def _run_notebook(notebook: str, export: str, names: list[str]) -> None:
    """Execute ``notebook``'s code cells and export the functions ``names`` to ``export`` (JSON).

    With ``NNBOOK_GRADE_CELLS=exercises`` in the environment, only :func:`exercise_cells` run.

    Every cell runs even if an earlier one raised (so one broken exercise does not
    zero the next). The export is rewritten after each cell that changed one of
    the functions, so the grader still gets them if a later cell never finishes.
    """
    import traceback
    import types

    import cloudpickle
    import nbformat

    import nnbook.exercises

    def quiet_check(name, func, **kwargs):
        print(f"(check of {name} skipped: the grader checks it)")

    nnbook.exercises.check = quiet_check  # the notebook's own checks are not needed, the grader runs them
    main = types.ModuleType("__main__")  # functions from __main__ are pickled by value
    sys.modules["__main__"] = main
    ns = main.__dict__
    ns["get_ipython"] = lambda: fake
    fake = _FakeIPython(ns)
    state: dict = {"functions": {}, "problems": {}, "cell_errors": [], "finished": False}
    seen: dict[str, int] = {}
    export_path = Path(export)

    def save():
        export_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = export_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, export_path)

    def collect():
        changed = False
        for name in names:
            obj = ns.get(name)
            if id(obj) == seen.get(name):
                continue
            seen[name] = id(obj)
            changed = True
            state["functions"].pop(name, None)
            state["problems"].pop(name, None)
            if obj is None:
                continue
            if not callable(obj):
                state["problems"][name] = f"`{name}` is a {type(obj).__name__}, not a function"
                continue
            try:
                state["functions"][name] = base64.b64encode(cloudpickle.dumps(obj)).decode()
            except Exception as exc:  # e.g. it closes over an open file
                state["problems"][name] = f"`{name}` could not be handed to the grader: {type(exc).__name__}: {exc}"
        return changed

    nb = nbformat.read(notebook, as_version=4)
    export_path.parent.mkdir(parents=True, exist_ok=True)
    (export_path.parent / "started").touch()  # the grader's clock starts now, after Python and nnbook loaded
    chosen = exercise_cells(nb) if os.environ.get("NNBOOK_GRADE_CELLS") == "exercises" else None
    state["fast"] = chosen is not None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or (chosen is not None and i not in chosen):
            continue
        try:
            _exec_cell(cell.source, f"<cell {i}>", ns)
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything, SystemExit included
            if isinstance(exc, KeyboardInterrupt):
                raise
            tb = traceback.extract_tb(exc.__traceback__)
            state["cell_errors"].append(f"cell {i} raised {type(exc).__name__}: {exc}"[:300] + (f" (line {tb[-1].lineno})" if tb else ""))
        try:
            if collect() or state["cell_errors"]:
                save()
        except BaseException as exc:  # noqa: BLE001 - e.g. the student deleted our folder; try again after the next cell
            print(f"(could not save the export: {exc})", file=sys.stderr)
    state["finished"] = True
    collect()
    save()


# ------------------------------------------------------------------ the grader (trusted side)
@dataclass
class RunResult:
    """What the runner handed back for one submission."""

    functions: dict[str, bytes] = field(default_factory=dict, repr=False)
    problems: dict[str, str] = field(default_factory=dict)
    cell_errors: list[str] = field(default_factory=list)
    finished: bool = False
    timed_out: bool = False
    returncode: int | None = None
    fast: bool = False  # only the set-up and exercise cells ran


def _read_export(path: Path) -> RunResult:
    """Parse the runner's export defensively: it was written by a process that ran student code."""
    res = RunResult()
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    for name, blob in (data.get("functions") or {}).items() if isinstance(data.get("functions"), dict) else ():
        if isinstance(name, str) and isinstance(blob, str):
            try:
                res.functions[name] = base64.b64decode(blob)
            except ValueError:
                pass
    if isinstance(data.get("problems"), dict):
        res.problems = {str(k): str(v)[:300] for k, v in data["problems"].items()}
    if isinstance(data.get("cell_errors"), list):
        res.cell_errors = [str(e)[:300] for e in data["cell_errors"][:50]]
    res.finished = data.get("finished") is True
    res.fast = data.get("fast") is True
    return res


def run_submission(notebook, names: Sequence[str], *, timeout: float = 300.0, memory_mb: int = 4096,
                   extra_paths: Sequence = (), workdir=None, fast: bool = False) -> RunResult:
    """Execute ``notebook`` in a confined runner process and collect the functions ``names``.

    ``fast``: run only the set-up and exercise cells (:func:`exercise_cells`), not the chapter's experiments.

    The runner works in ``workdir/work`` (a fresh temporary directory when
    ``workdir`` is None) on a copy of the notebook, and is killed, with every
    process it started, after its cells have run for ``timeout`` seconds of
    wall-clock time (starting Python and importing ``nnbook`` are allowed another
    ``STARTUP_S`` seconds).
    ``extra_paths`` are added to the runner's ``PYTHONPATH`` (e.g. the folder of
    a checkers file the notebook imports).
    """
    from nnbook.validate import check_float, check_int

    notebook = _check_path("notebook", notebook)
    timeout = check_float("timeout", timeout, min_value=0.0, min_inclusive=False)
    memory_mb = check_int("memory_mb", memory_mb, min_value=256)
    if isinstance(names, str) or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise ValueError(f"names must be a list of Python identifiers, got {names!r}")
    own_tmp = workdir is None
    root = Path(tempfile.mkdtemp(prefix="nnbook-grade-")) if own_tmp else _check_path("workdir", workdir)
    try:
        work, box = root / "work", root / "export"
        work.mkdir(parents=True, exist_ok=True)
        box.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, work / "submission.ipynb")
        export = box / "export.json"
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(HOME=str(work), TMPDIR=str(work), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
                   NNBOOK_GRADE_CELLS="exercises" if fast else "all")
        paths = [str(Path(p).resolve()) for p in extra_paths] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        cmd = [sys.executable, "-c", _BOOTSTRAP, str(Path(__file__).resolve()), "submission.ipynb", str(export), ",".join(names), str(memory_mb), str(timeout), str(root)]
        with open(box / "output.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            timed_out = _wait(proc, box / "started", timeout)
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the runner and anything it left behind
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        res = _read_export(export)
        res.timed_out, res.returncode = timed_out, proc.returncode
        return res
    finally:
        if own_tmp:
            shutil.rmtree(root, ignore_errors=True)


STARTUP_S = 60.0  # time allowed to start Python and import nnbook, before the notebook's clock starts


def _wait(proc: subprocess.Popen, started: Path, timeout: float) -> bool:
    """Wait for ``proc``; True if it ran more than ``timeout`` s after writing ``started`` (and was stopped)."""
    import time

    begin = time.monotonic()
    clock = None
    while True:
        try:
            proc.wait(0.05)
            return False
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if clock is None and started.exists():
            clock = now
        if (clock is not None and now - clock > timeout) or now - begin > timeout + STARTUP_S:
            return True


class _Submitted:
    """A submitted function, unpickled only inside the checker's forked child.

    ``run_check`` forks before calling the function; on the first call this
    wrapper confines the child (memory limit, offline, read-only files but its
    working directory) and only then loads the student's code, so the grading
    process itself never runs it.
    """

    def __init__(self, blob: bytes, name: str, workdir: Path, memory_mb: int):
        self._blob, self._workdir, self._memory_mb = blob, workdir, memory_mb
        self._parent = os.getpid()
        self._func = None
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        if self._func is None:
            if os.getpid() == self._parent:
                raise RuntimeError("grading needs a platform where the checker can fork (Linux or macOS)")
            import cloudpickle

            self._workdir.mkdir(parents=True, exist_ok=True)
            os.chdir(self._workdir)
            _isolate([self._workdir])  # offline, read-only files but the working directory
            _set_memory_limit(self._memory_mb + _vm_size() // 2**20)
            self._func = cloudpickle.loads(self._blob)
        return self._func(*args, **kwargs)

    def __repr__(self):
        return f"<submitted function {self.__name__}>"


@dataclass(frozen=True)
class Grade:
    """One row of the grades CSV."""

    submission: str
    exercise: str
    passed: bool
    points: int
    max_points: int
    message: str


def _exercises_for(notebook: Path, exercises) -> list[tuple]:
    """``[(Exercise, function name)]`` to grade ``notebook`` on.

    ``exercises``: ``None`` (those the notebook checks; unknown names are
    skipped), names, or ``{name: function name or None}``. A missing function
    name is taken from the notebook's ``check`` call, else from the reference.
    """
    from nnbook import exercises as E

    try:
        own = exercise_functions(read_chapter(notebook))
    except Exception:  # noqa: BLE001 - an unreadable submission gets zero later
        own = {}
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


def _needs_full_run(registered, run: RunResult, grades: list) -> bool:
    """Whether a fast run's verdicts may differ from a full run's: a function it did not define (made in a
    cell the fast run skipped), or a failure that names a missing name (a helper or variable of such a cell)."""
    if not run.fast:
        return False
    missing = any(fname not in run.functions for _, fname in registered)
    text = " ".join(run.cell_errors + [g.message for g in grades if not g.passed])
    return missing or "NameError" in text or "is not defined" in text


def _check_or_run_whole(notebook: Path, registered, root: Path, run: RunResult, *, timeout: float, memory_mb: int,
                        check_timeout: float | None, extra_paths: Sequence = ()) -> tuple[list[Grade], RunResult]:
    """Check what ``run`` (in ``root / "run"``) handed back; where a fast run cannot decide, run the whole
    notebook and check that instead."""
    grades = _check_run(notebook, registered, run, root, timeout=timeout, memory_mb=memory_mb, check_timeout=check_timeout)
    if _needs_full_run(registered, run, grades):
        shutil.rmtree(root / "run", ignore_errors=True)
        run = _run_safely(notebook, registered, root / "run", fast=False, timeout=timeout, memory_mb=memory_mb,
                          extra_paths=extra_paths)
        grades = _check_run(notebook, registered, run, root, timeout=timeout, memory_mb=memory_mb, check_timeout=check_timeout)
    return grades, run


def _run_safely(notebook: Path, registered, workdir: Path, **kwargs) -> RunResult:
    try:
        read_chapter(notebook)
    except Exception as exc:  # noqa: BLE001 - not a notebook at all
        return RunResult(cell_errors=[f"the submission could not be read: {type(exc).__name__}: {exc}"])
    names = sorted({fname for _, fname in registered})
    return run_submission(notebook, names, workdir=workdir, **kwargs)


def _check_run(notebook: Path, registered, run: RunResult, workdir: Path, *, timeout: float,
               memory_mb: int, check_timeout: float | None) -> list[Grade]:
    from nnbook import exercises as E

    note = ""
    if run.timed_out:
        note = f" (the notebook was stopped after {timeout:g} s; only functions defined before that were graded)"
    elif not run.finished:
        note = " (the notebook crashed — out of memory? — before it finished; only functions defined before that were graded)"
    grades = []
    for ex, fname in registered:
        if fname in run.functions:
            func = _Submitted(run.functions[fname], fname, workdir / "check", memory_mb)
            result = E.run_check(ex.name, func, timeout=check_timeout)
            passed, message = result.passed, result.message
        else:
            passed = False
            message = run.problems.get(fname, f"the notebook does not define a function `{fname}`") + note
        grades.append(Grade(notebook.name, ex.name, passed, ex.points if passed else 0, ex.points, message))
    return grades


def grade_submission(notebook, exercises: Sequence[str] | dict | None = None, *, timeout: float = 300.0,
                     memory_mb: int = 4096, check_timeout: float | None = None,
                     extra_paths: Sequence = (), fast: bool = True) -> tuple[list[Grade], RunResult]:
    """Grade one submitted notebook on ``exercises`` (default: those it calls ``check`` on).

    ``fast`` (the default): run only its set-up and exercise cells (:func:`exercise_cells`); where that run
    cannot decide (a function or name defined in a skipped cell), the whole notebook runs, as with ``fast=False``.

    ``exercises`` are names, or ``{name: function name}`` (as :func:`exercise_functions`
    reads them from the teacher's chapter); the function graded for an exercise is
    the one its ``check`` call passes, else one named like the reference solution.

    Returns the grades, one per exercise, and what the runner reported.
    """
    notebook = _check_path("notebook", notebook)
    registered = _exercises_for(notebook, exercises)
    tmp = Path(tempfile.mkdtemp(prefix="nnbook-grade-"))
    try:
        run = _run_safely(notebook, registered, tmp / "run", fast=fast, timeout=timeout, memory_mb=memory_mb,
                          extra_paths=extra_paths)
        return _check_or_run_whole(notebook, registered, tmp, run, timeout=timeout, memory_mb=memory_mb,
                                   check_timeout=check_timeout, extra_paths=extra_paths)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_checkers(paths: Iterable) -> list[Path]:
    """Import extra checker files (``.py`` registering exercises); returns their folders for the runner's path."""
    import importlib.util

    folders = []
    for p in paths:
        p = _check_path("checkers", p)
        if p.suffix != ".py" or not p.is_file():
            raise ValueError(f"checkers must name existing .py files, got {str(p)!r}")
        if p.stem not in sys.modules:
            spec = importlib.util.spec_from_file_location(p.stem, p)
            module = importlib.util.module_from_spec(spec)
            sys.modules[p.stem] = module
            spec.loader.exec_module(module)
        folders.append(p.resolve().parent)
    return folders


def grade_folder(submissions, *, chapter=None, exercises: Sequence[str] | dict | None = None, out=None,
                 timeout: float = 300.0, memory_mb: int = 4096, check_timeout: float | None = None,
                 checkers: Sequence = (), jobs: int = 1, verbose: bool = False, fast: bool = True) -> list[Grade]:
    """Grade every ``*.ipynb`` in the folder ``submissions`` (searched recursively) and return the grades.

    Exercises: ``exercises`` if given, else those checked in ``chapter`` (the
    teacher's copy, so a deleted ``check`` call still counts), else those each
    submission checks. ``checkers`` are extra ``.py`` files registering
    exercises. With ``out``, the grades are also written there as CSV.
    ``jobs`` notebooks run at the same time (the checks always run one by one);
    keep 1 for untrusted work, so no submission runs beside another. ``fast``: as in :func:`grade_submission`.
    """
    from concurrent.futures import ThreadPoolExecutor

    from nnbook import exercises as E
    from nnbook.validate import check_int

    jobs = check_int("jobs", jobs, min_value=1)

    submissions = _check_path("submissions", submissions)
    if not submissions.is_dir():
        raise ValueError(f"submissions={str(submissions)!r} is not a directory")
    extra = _load_checkers(checkers)
    E.all_exercises()  # import every checker before any student code runs
    if exercises is None and chapter is not None:
        exercises = exercise_functions(read_chapter(_check_path("chapter", chapter)))
        if not exercises:
            raise ValueError(f"chapter={str(chapter)!r} has no check(\"name\", ...) calls")
    if exercises is not None:
        for name in exercises:
            E.get(name)
    # Read every submission first: no submission can touch another's file while it runs.
    files = sorted(p for p in submissions.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    sources = [(p.relative_to(submissions).as_posix().replace("/", "__"), p.read_bytes()) for p in files]
    kwargs = dict(timeout=timeout, memory_mb=memory_mb, extra_paths=extra)
    roots: list[Path] = []

    def run_one(source):
        name, data = source
        root = Path(tempfile.mkdtemp(prefix="nnbook-grade-"))  # a fresh folder, made just before the run
        roots.append(root)
        notebook = root / "in" / name
        notebook.parent.mkdir()
        notebook.write_bytes(data)
        registered = _exercises_for(notebook, exercises)
        return notebook, registered, root, _run_safely(notebook, registered, root / "run", fast=fast, **kwargs)

    if verbose:
        print(f"isolation of each notebook: {isolation_available()}", flush=True)
    grades: list[Grade] = []
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # the runners only; nothing forks in these threads
            runs = list(pool.map(run_one, sources))
        for notebook, registered, root, run in runs:
            rows, run = _check_or_run_whole(notebook, registered, root, run, check_timeout=check_timeout, **kwargs)
            if not rows:
                rows = [Grade(notebook.name, "", False, 0, 0, "no exercises found (no check(\"name\", ...) call)")]
            grades += rows
            if verbose:
                got = sum(g.points for g in rows)
                extra_note = f", {len(run.cell_errors)} cell(s) raised" if run.cell_errors else ""
                extra_note += ", stopped at the time limit" if run.timed_out else ""
                print(f"graded {notebook.name}: {got}/{sum(g.max_points for g in rows)}{extra_note}", flush=True)
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
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


# ------------------------------------------------------------------ command line
def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m nnbook.teaching`` command line."""
    parser = argparse.ArgumentParser(prog="python -m nnbook.teaching", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("student", help="write student editions (no solutions) of chapters")
    st.add_argument("chapters", nargs="*", help="chapter .md (or .ipynb) files; default: every chapter in --book")
    st.add_argument("--out", default="student", help="output folder (default: student)")
    st.add_argument("--book", default="book", help="the book's source folder (default: book)")
    st.add_argument("--colab", default=None, metavar="OWNER/NAME@BRANCH",
                    help="point the Colab badges at the student notebooks in this GitHub repository; default: remove the badges")
    gr = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    gr.add_argument("submissions", help="folder of submitted .ipynb files (searched recursively)")
    gr.add_argument("--out", default="grades/grades.csv", help="CSV to write (default: grades/grades.csv)")
    gr.add_argument("--chapter", default=None, help="grade the exercises checked in this chapter (default: those each notebook checks)")
    gr.add_argument("--exercise", action="append", default=None, help="grade this exercise (repeatable)")
    gr.add_argument("--timeout", type=float, default=300.0, help="wall-clock seconds for the cells of one notebook (default 300; starting Python is allowed 60 s more)")
    gr.add_argument("--memory", type=int, default=4096, help="memory limit in MiB (address space) per notebook (default 4096)")
    gr.add_argument("--check-timeout", type=float, default=None, help="seconds per checker (default: the exercise's own)")
    gr.add_argument("--checkers", action="append", default=[], help="extra .py file registering exercises (repeatable)")
    gr.add_argument("--jobs", type=int, default=1, help="notebooks run at the same time (default 1, the safe choice)")
    gr.add_argument("--full", action="store_true",
                    help="run every cell of each notebook (default: only its set-up and exercise cells, "
                         "the whole notebook where that cannot decide)")
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
    grades = grade_folder(args.submissions, chapter=args.chapter, exercises=args.exercise, out=args.out,
                          timeout=args.timeout, memory_mb=args.memory, check_timeout=args.check_timeout,
                          checkers=args.checkers, jobs=args.jobs, verbose=True, fast=not args.full)
    print()
    print(summary(grades))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
