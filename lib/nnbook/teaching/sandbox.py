"""Running a submission confined: the *runner* that executes a notebook, and the *check process* that calls
the exercises' checkers on the functions the runner handed back.

Both run under bubblewrap (``bwrap``): offline (a network namespace of their own), in a PID namespace of
their own, in a new session, killed with the grader; they see only their own folder (writable), a private
``/tmp``, ``/dev``, ``/proc``, and read-only: the system's ``/usr``, the Python runtime and its installed
packages (``sys.prefix``, ``sys.base_prefix``), the ``nnbook`` package and copies of the teacher's extra
checker files. Not the teacher's folders, the other submissions, the home directory or the repository.
A grader running as root hands each sandbox a user id of its own (processes cannot signal or count
against each other). Each also has limits (``resource.setrlimit``): address space, CPU time, processes,
file size, no core dumps; and a wall-clock limit.

The check process of a submission starts before its runner (importing the checkers overlaps the run) and
gets the functions once the runner has ended; each is unpickled only in the child that ``run_check`` forks,
where the exercise's reference implementations are guarded: calling one from the student's function
fails the check, naming it.

Without bwrap (or where it cannot run), ``isolation="required"`` refuses to grade, with the command that
installs it; ``isolation="best-effort"`` runs with the limits only and sockets disabled, and says so.
"""
from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from nnbook.teaching.editions import _check_path, exercise_cells

__all__ = ["ISOLATION_MODES", "IsolationError", "isolation_available", "RunResult", "run_submission", "check_functions"]

ISOLATION_MODES = ("required", "best-effort")
STARTUP_S = 60.0  # time allowed to start Python and import nnbook, before the notebook's clock starts
FILE_SIZE = 256 * 1024 * 1024  # the largest file a sandbox may write
TMP_SIZE = 512 * 1024 * 1024  # its private /tmp (memory, so bounded)
PROCESSES = 256  # processes and threads of one sandbox
INSTALL_HINT = ("install it: `sudo apt-get install bubblewrap` (Debian, Ubuntu) or `sudo dnf install bubblewrap` "
                "(Fedora), or `make venv` as root")
# /etc files the runtime reads (the dynamic loader's cache, fonts, time zone, user names); nothing secret
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "passwd", "group", "nsswitch.conf")
_UIDS = itertools.count()


class IsolationError(RuntimeError):
    """Grading was asked to isolate each submission (``isolation="required"``) and this system cannot."""


# ------------------------------------------------------------------ building the sandbox
def _readable_paths() -> list[Path]:
    """The Python runtime, its packages and nnbook: what a sandbox sees read-only besides /usr."""
    import nnbook

    paths = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    paths |= {Path(sys.executable).resolve().parent.parent, Path(nnbook.__file__).resolve().parent}
    paths |= {p.resolve() for p in paths}
    return sorted(paths)


def _bwrap_command(bwrap: str, *, readable: Sequence[Path], writable: Sequence[Path], workdir: Path) -> list[str]:
    cmd = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    if os.geteuid() == 0:  # no user namespace: the runner drops to a user id of its own, so rlimits count
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-user", "--disable-userns"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            cmd += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            cmd += ["--ro-bind", str(top), str(top)]
    cmd += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    made = {Path("/"), Path("/usr"), Path("/tmp"), Path("/dev"), Path("/proc")}
    cmd += ["--perms", "0755", "--dir", "/etc"]
    made.add(Path("/etc"))
    for name in _ETC:
        if (Path("/etc") / name).exists():
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    binds = [(Path(p), "--ro-bind") for p in readable] + [(Path(p), "--bind") for p in writable]
    bound: list[tuple[Path, str]] = []
    for path, how in sorted(binds, key=lambda b: len(b[0].parts)):
        if not path.exists() or any((path == b or b in path.parents) and h == how for b, h in bound):
            continue  # already visible, the same way, through a folder bound before it
        for parent in reversed(path.parents):
            if parent not in made and not any(parent == b or b in parent.parents for b, _ in bound):
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        cmd += [how, str(path), str(path)]
        bound.append((path, how))
    return cmd + ["--chdir", str(workdir)]


@functools.lru_cache(maxsize=None)
def _probe() -> tuple[bool, str]:
    """Whether bwrap runs this Python here, and what it achieves (or why not)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, f"bubblewrap (bwrap) is not installed; {INSTALL_HINT}"
    with tempfile.TemporaryDirectory(prefix="nnbook-probe-") as tmp:
        cmd = _bwrap_command(bwrap, readable=_readable_paths(), writable=[Path(tmp)], workdir=Path(tmp))
        code = "import os, socket, nnbook; print(len(os.listdir('/')))"
        try:
            done = subprocess.run(cmd + ["--", sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"bubblewrap could not start: {exc}"
    if done.returncode != 0:
        return False, f"bubblewrap refused to run here: {(done.stderr.strip() or done.stdout.strip())[-300:]}"
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip() or "bubblewrap"
    return True, (f"{version}: offline, own PID namespace, sees only its own folder, a private /tmp, the Python "
                  f"runtime and nnbook (read-only)")


def isolation_available() -> str:
    """What the sandbox of each submission achieves on this system, e.g. "bubblewrap 0.8.0: offline, ..." (or
    why there is none: bwrap missing or refused)."""
    ok, detail = _probe()
    return detail if ok else f"none: {detail}"


def _mode(isolation: str) -> str | None:
    """The bwrap executable to use, or None for best-effort; IsolationError where isolation is required but absent."""
    if isolation not in ISOLATION_MODES:
        raise ValueError(f"isolation must be one of {ISOLATION_MODES}, got {isolation!r}")
    ok, detail = _probe()
    if ok:
        return shutil.which("bwrap")
    if isolation == "required":
        raise IsolationError(f"grading isolates each submission with bubblewrap, and {detail} "
                             "(or grade with --isolation best-effort: limits only, not isolated)")
    return None


def _sandbox_user() -> int | None:
    """A user id of its own for a sandbox started by root (none otherwise)."""
    return 3_000_000_000 + (os.getpid() % 100_000) * 1000 + next(_UIDS) % 1000 if os.geteuid() == 0 else None


def _tasks_of(uid: int) -> int:
    """Processes and threads the user ``uid`` runs now (RLIMIT_NPROC counts them all)."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields.get("Threads", "1"))
        except (OSError, ValueError, KeyError):
            pass
    return count


# Started as `python -c _BOOTSTRAP CONFIG`: the limits and the user id are set before anything is imported.
_BOOTSTRAP = """
import json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
for name, value in cfg["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file too large is an OSError, not a killed runner
if cfg["uid"] is not None:
    os.setgroups([])
    os.setgid(cfg["uid"])
    os.setuid(cfg["uid"])
from nnbook.teaching import sandbox
getattr(sandbox, cfg["entry"])(*cfg["args"])
"""


def _start(entry: str, args: list, *, root: Path, workdir: Path, limits: dict, bwrap: str | None, extra: Sequence[Path],
           env_extra: dict, **popen) -> subprocess.Popen:
    """Start ``sandbox.<entry>(*args)`` confined to ``root`` (writable) with ``workdir`` as its working folder."""
    uid = _sandbox_user() if bwrap else None
    limits = dict(limits, RLIMIT_CORE=0, RLIMIT_FSIZE=FILE_SIZE)
    if uid is not None:
        for path in [root, *root.rglob("*")]:  # its own (the grader's temporary folder above it stays private)
            os.chown(path, uid, uid)
            if path.is_dir():
                path.chmod(0o755)  # bwrap enters it before it drops root's rights
        limits["RLIMIT_NPROC"] = PROCESSES
    elif os.geteuid() != 0:
        limits["RLIMIT_NPROC"] = _tasks_of(os.geteuid()) + PROCESSES  # counts all of this user's processes
    # only what Python needs: none of the grader's variables (tokens, keys) can end up in a message
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LANGUAGE", "TZ") or k.startswith("LC_")}
    env.update(HOME=str(workdir), TMPDIR="/tmp" if bwrap else str(workdir), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(str(p) for p in extra), **env_extra)
    config = json.dumps({"limits": limits, "uid": uid, "entry": entry, "args": [*args, bool(bwrap)]})
    cmd = [sys.executable, "-c", _BOOTSTRAP, config]
    if bwrap:
        cmd = _bwrap_command(bwrap, readable=[*_readable_paths(), *extra], writable=[root], workdir=workdir) + ["--", *cmd]
    return subprocess.Popen(cmd, cwd=workdir, env=env, start_new_session=True, **popen)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # bwrap (its PID namespace goes with it) or the runner and its children
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _copy_extra(extra_paths: Sequence, into: Path) -> list[Path]:
    """Copies of the teacher's extra checker files (``.py``) or folders, read-only to the sandbox, so it sees no
    file beside them (the teacher's folder)."""
    folders = []
    into.chmod(0o755)
    for i, p in enumerate(extra_paths):
        p = Path(p).resolve()
        target = into / f"extra{i}"
        if p.is_dir():
            shutil.copytree(p, target, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__", ".*"))
        else:
            target.mkdir(parents=True)
            shutil.copy(p, target / p.name)
        folders.append(target)
    return folders


# ------------------------------------------------------------------ the runner (inside the sandbox)
def _disable_sockets() -> None:
    import socket

    def refuse(*args, **kwargs):
        raise OSError("the network is disabled while grading")

    socket.socket.connect = socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = socket.create_connection = refuse  # type: ignore[assignment]


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


def _run_notebook(notebook: str, export: str, names: list[str], fast: bool, sandboxed: bool) -> None:
    """Execute ``notebook``'s code cells (``fast``: only :func:`exercise_cells`) and export the functions ``names``
    to ``export`` (JSON).

    Every cell runs even if an earlier one raised (so one broken exercise does not zero the next). The export
    is rewritten after each cell that changed one of the functions, so the grader still gets them if a later
    cell never finishes.
    """
    import traceback
    import types

    import cloudpickle
    import nbformat

    import nnbook.exercises

    if not sandboxed:
        _disable_sockets()

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
        tmp = export_path.with_suffix(f".{os.getpid()}.tmp")
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
    chosen = exercise_cells(nb) if fast else None
    state["fast"] = chosen is not None
    runner = os.getpid()
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
        if os.getpid() != runner:  # a process the cell forked (a fork bomb's child): only the runner goes on
            os._exit(0)
        try:
            if collect() or state["cell_errors"]:
                save()
        except BaseException as exc:  # noqa: BLE001 - e.g. the student deleted our folder; try again after the next cell
            print(f"(could not save the export: {exc})", file=sys.stderr)
    state["finished"] = True
    collect()
    save()


# ------------------------------------------------------------------ the runner (grader's side)
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
    error: str = ""  # why nothing ran (e.g. the file is not a notebook)
    isolation: str = ""  # "bubblewrap" or what best-effort did


def _read_export(path: Path) -> RunResult:
    """Parse the runner's export defensively: it was written by a process that ran student code."""
    res = RunResult()
    try:
        data = json.loads(path.read_text()) if path.is_file() and path.stat().st_size < FILE_SIZE else {}
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
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


def _isolation_note(bwrap: str | None) -> str:
    if bwrap:
        return "bubblewrap"
    root = ", no limit on processes (root is exempt)" if os.geteuid() == 0 else ""
    return f"best-effort (limits only, sockets disabled{root}; {_probe()[1]})"


def run_submission(notebook, names: Sequence[str], *, timeout: float = 300.0, memory_mb: int = 4096,
                   extra_paths: Sequence = (), workdir=None, fast: bool = False, isolation: str = "required") -> RunResult:
    """Execute ``notebook`` in a confined runner (see the module docstring) and collect the functions ``names``.

    ``fast``: run only the set-up and exercise cells (:func:`exercise_cells`), not the chapter's experiments.

    The runner works in a fresh folder under ``workdir`` (a temporary directory when ``workdir`` is None) on a
    copy of the notebook, and is killed, with every process it started, after its cells have run for ``timeout``
    seconds of wall-clock time (starting Python and importing ``nnbook`` are allowed another ``STARTUP_S``
    seconds). ``extra_paths`` (a checkers file or its folder) are copied, read-only, onto the runner's
    ``PYTHONPATH``. ``isolation``: ``"required"`` (raise :class:`IsolationError` without bubblewrap) or
    ``"best-effort"``.
    """
    from nnbook.validate import check_float, check_int

    notebook = _check_path("notebook", notebook)
    timeout = check_float("timeout", timeout, min_value=0.0, min_inclusive=False)
    memory_mb = check_int("memory_mb", memory_mb, min_value=256)
    if isinstance(names, str) or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise ValueError(f"names must be a list of Python identifiers, got {names!r}")
    bwrap = _mode(isolation)
    own_tmp = workdir is None
    root = Path(tempfile.mkdtemp(prefix="nnbook-grade-")) if own_tmp else _check_path("workdir", workdir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        box = Path(tempfile.mkdtemp(prefix="run-", dir=root))
        work, export = box / "work", box / "export"
        work.mkdir()
        export.mkdir()
        shutil.copyfile(notebook, work / "submission.ipynb")
        folders = _copy_extra(extra_paths, Path(tempfile.mkdtemp(prefix="extra-", dir=root)))
        limits = {"RLIMIT_AS": memory_mb * 2**20,
                  "RLIMIT_CPU": int(2 * (timeout + STARTUP_S))}  # 2 threads: 2 s of CPU a second; the wall clock is the limit
        with open(box / "runner.log", "wb") as log:
            proc = _start("_run_notebook", [str(work / "submission.ipynb"), str(export / "export.json"), list(names), fast],
                          root=box, workdir=work, limits=limits, bwrap=bwrap, extra=folders, env_extra={},
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
            timed_out = _wait(proc, export / "started", timeout)
            _kill(proc)
        res = _read_export(export / "export.json")
        res.timed_out, res.returncode, res.isolation = timed_out, proc.returncode, _isolation_note(bwrap)
        return res
    finally:
        if own_tmp:
            shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------ the check process (inside the sandbox)
_GUARD: dict = {"inside": False, "called": None}


def _guard_references(exercise) -> None:
    """Replace the reference implementations of ``exercise`` (its reference solution, also as the registry
    hands it out, and the nnbook function of the same name in its module) with guards that report a call made
    from the student's function. Only in the checker's child: the checker itself keeps the originals."""
    import dataclasses
    import importlib

    from nnbook import exercises as E

    topic, _, name = exercise.name.rpartition(".")
    targets = []
    ref = exercise.reference
    if getattr(ref, "__module__", None) and ref.__name__ != "<lambda>":
        targets.append((ref.__module__, ref.__name__))
    targets.append((f"nnbook.{topic}", name))
    for module_name, attr in targets:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        original = getattr(module, attr, None)
        if not callable(original) or getattr(original, "_nnbook_guarded", False):
            continue
        shown = f"{module_name}.{attr}"

        def guard(*args, _original=original, _shown=shown, **kwargs):
            if _GUARD["inside"]:
                from nnbook.exercises import CheckFailed

                _GUARD["called"] = _shown
                raise CheckFailed(f"calls the reference {_shown}: write your own code")
            return _original(*args, **kwargs)

        guard._nnbook_guarded = True
        setattr(module, attr, guard)
        if original is exercise.reference:
            E._REGISTRY[exercise.name] = dataclasses.replace(exercise, reference=guard)


class _Submitted:
    """A submitted function, unpickled only inside the checker's forked child.

    ``run_check`` forks before calling the function; on the first call this wrapper silences the child's
    stdout (the check process's report), sets the memory limit, guards the exercise's reference
    implementations, and only then loads the student's code, so the check process itself never runs it.
    """

    def __init__(self, blob: bytes, name: str, exercise, memory_mb: int, parent: int):
        self._blob, self._exercise, self._memory_mb, self._parent = blob, exercise, memory_mb, parent
        self._func = None
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        if self._func is None:
            if os.getpid() == self._parent:
                raise RuntimeError("grading needs a platform where the checker can fork (Linux)")
            import resource

            import cloudpickle

            os.chdir(tempfile.mkdtemp(prefix="check-"))
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)  # only the check process writes the report
            limit = (self._memory_mb + _vm_size() // 2**20) * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            _guard_references(self._exercise)
            self._func = cloudpickle.loads(self._blob)
        from nnbook.exercises import CheckFailed

        _GUARD["inside"] = True
        try:
            out = self._func(*args, **kwargs)
        finally:
            _GUARD["inside"] = False
        if _GUARD["called"]:  # caught by the student's code: still a copy
            raise CheckFailed(f"calls the reference {_GUARD['called']}: write your own code")
        return out

    def __repr__(self):
        return f"<submitted function {self.__name__}>"


def _vm_size() -> int:
    """Current virtual memory size of this process in bytes (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _run_checks(modules: list[str], checkers: list[str], memory_mb: int, sandboxed: bool) -> None:
    """Import the checkers (``modules`` and the files ``checkers``), then read the functions to check (JSON on
    stdin: ``[{"exercise", "function", "blob", "timeout"}]``), run each check, print the verdicts (JSON)."""
    import importlib
    import importlib.util

    from nnbook import exercises as E

    sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # nothing importable from a writable folder
    for name in modules:
        importlib.import_module(name)
    for path in map(Path, checkers):
        if path.stem not in sys.modules:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = sys.modules[path.stem] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    items = json.loads(sys.stdin.read())  # the grader sends them once the runner has handed them back
    report = sys.stdout
    in_own_pid_namespace = sandboxed and Path("/proc/1/comm").read_text().strip() == "bwrap"
    verdicts = []
    for item in items:
        ex = E.get(item["exercise"])
        func = _Submitted(base64.b64decode(item["blob"]), item["function"], ex, memory_mb, os.getpid())
        result = E.run_check(ex.name, func, timeout=item["timeout"])
        verdicts.append({"exercise": ex.name, "passed": result.passed, "message": result.message})
        if in_own_pid_namespace:
            try:  # whatever the student's function left running (every process here but bwrap's init and this one)
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
    report.write(json.dumps(verdicts))
    report.flush()


class _Checker:
    """A check process for one submission, started before its runner so that importing the checkers overlaps
    the run; :meth:`check` hands it the functions once, then it ends."""

    def __init__(self, exercises: Sequence, *, memory_mb: int, check_timeout: float | None, extra_paths: Sequence,
                 root: Path, bwrap: str | None):
        self.box = Path(tempfile.mkdtemp(prefix="check-", dir=root))
        (self.box / "work").mkdir()
        own = {Path(sys.modules[ex.checker.__module__].__file__).resolve() for ex in exercises
               if not ex.checker.__module__.startswith("nnbook.")}  # a teacher's checkers file: imported there too
        folders = _copy_extra(sorted({Path(p).resolve() for p in extra_paths} | own),
                              Path(tempfile.mkdtemp(prefix="extra-", dir=root)))
        checkers = [str(p) for f in folders for p in sorted(f.glob("*.py"))]
        modules = sorted({ex.checker.__module__ for ex in exercises if ex.checker.__module__.startswith("nnbook.")})
        self.timeouts = {ex.name: ex.timeout if check_timeout is None else check_timeout for ex in exercises}
        limits = {"RLIMIT_CPU": int(2 * (sum(self.timeouts.values()) + STARTUP_S))}
        self.log = open(self.box / "check.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = _start("_run_checks", [modules, checkers, memory_mb], root=self.box, workdir=self.box / "work",
                           limits=limits, bwrap=bwrap, extra=folders, env_extra={}, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=self.log)

    def check(self, items: Sequence[tuple]) -> list[tuple[bool, str]]:
        """``(passed, message)`` for each ``(exercise, function name, pickled function[, timeout])`` of ``items``."""
        timeouts = [item[3] if len(item) > 3 and item[3] is not None else self.timeouts.get(item[0].name, item[0].timeout)
                    for item in items]
        plan = [{"exercise": ex.name, "function": fname, "blob": base64.b64encode(blob).decode(), "timeout": t}
                for (ex, fname, blob, *_), t in zip(items, timeouts, strict=True)]
        try:
            out, _ = self.proc.communicate(json.dumps(plan).encode(), timeout=STARTUP_S + sum(t + 5 for t in timeouts))
        except (subprocess.TimeoutExpired, BrokenPipeError):
            out = b""
        finally:
            self.close()
        try:
            verdicts = json.loads(out.decode())
        except (ValueError, UnicodeDecodeError):
            verdicts = []
        results = []
        for i, (ex, *_) in enumerate(items):
            v = verdicts[i] if isinstance(verdicts, list) and i < len(verdicts) and isinstance(verdicts[i], dict) else {}
            if v.get("exercise") == ex.name and isinstance(v.get("passed"), bool):
                results.append((v["passed"], str(v.get("message", ""))[:2000]))
            else:
                tail = (self.box / "check.log").read_text(errors="replace").strip().splitlines()[-1:]
                results.append((False, "the checker process stopped before it reported (out of memory, or killed?)"
                                + (f": {tail[0][:200]}" if tail else "")))
        return results

    def close(self) -> None:
        if not self.log.closed:
            _kill(self.proc)
            self.log.close()


def check_functions(items: Sequence[tuple], *, memory_mb: int = 4096, extra_paths: Sequence = (), workdir=None,
                    isolation: str = "required") -> list[tuple[bool, str]]:
    """Run checkers on submitted functions in a confined check process; ``(passed, message)`` per item.

    ``items``: ``(exercise, function name, pickled function, timeout or None)``. The process imports the
    checkers once; each function is unpickled only in the forked child that ``run_check`` calls it in.
    """
    bwrap = _mode(isolation)
    own_tmp = workdir is None
    root = Path(tempfile.mkdtemp(prefix="nnbook-grade-")) if own_tmp else _check_path("workdir", workdir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        longest = max((t for *_, t in items if t is not None), default=None)
        checker = _Checker([item[0] for item in items], memory_mb=memory_mb, check_timeout=longest,
                           extra_paths=extra_paths, root=root, bwrap=bwrap)
        return checker.check(items)
    finally:
        if own_tmp:
            shutil.rmtree(root, ignore_errors=True)
