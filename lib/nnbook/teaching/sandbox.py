"""Running submissions confined: a *worker* sandbox per grading job, which runs each submission's notebook
(the *runner*) and then checks the functions it handed back (the *check*), each in a child it forks.

A worker runs under bubblewrap (``bwrap``): offline (a network namespace of its own), in a PID namespace of its
own, in a new session, killed with the grader; it sees only its own folder (writable), a private ``/tmp``,
``/dev``, ``/proc``, and read-only: the system's ``/usr``, the Python runtime and its installed packages
(``sys.prefix``, ``sys.base_prefix``) and the ``nnbook`` package. Not the teacher's folders, the other submissions, the home directory or the repository. A grader running as
root hands each worker a user id of its own (processes cannot signal or count against each other's). Limits
(``resource.setrlimit``): processes, file size, no core dumps for the worker; address space and CPU time for
each child; and a wall-clock limit.

The worker starts Python and imports the runtime (torch, the checkers, what the chapter's set-up cells
import) once; that is what makes grading a class fast. It serves one submission at a time, and between two it
clears the sandbox: every process the last one left is killed (the worker is alone in its PID namespace but
for bwrap's init), its ``/tmp`` is emptied, and the grader empties its folder; so nothing one submission did
or wrote reaches the next. The worker itself never holds a submission's data: the runner reads the notebook,
the check reads the functions from a file, each in its own child; and the worker is not *dumpable*, so the
children cannot trace it or open its pipes. Each function is unpickled only in the grandchild that
``run_check`` forks, where the exercise's reference implementations are guarded: calling one from the
student's function fails the check, naming it. After a submission that timed out, crashed, or left the
sandbox unclean, the grader starts a fresh worker.

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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from nnbook.teaching.editions import _check_path, exercise_cells

__all__ = ["ISOLATION_MODES", "IsolationError", "isolation_available", "RunResult", "Worker", "run_submission", "check_functions"]

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


def _start(entry: str, args: list, *, root: Path, workdir: Path, limits: dict, bwrap: str | None, uid: int | None,
           **popen) -> subprocess.Popen:
    """Start ``sandbox.<entry>(*args, sandboxed)`` confined to ``root`` (writable; handed to ``uid``), working in ``workdir``."""
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
               OMP_NUM_THREADS="1")
    config = json.dumps({"limits": limits, "uid": uid, "entry": entry, "args": [*args, bool(bwrap)]})
    cmd = [sys.executable, "-c", _BOOTSTRAP, config]
    if bwrap:
        cmd = _bwrap_command(bwrap, readable=_readable_paths(), writable=[root], workdir=workdir) + ["--", *cmd]
    return subprocess.Popen(cmd, cwd=workdir, env=env, start_new_session=True, **popen)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # bwrap (its PID namespace goes with it) or the runner and its children
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _teacher_sources(paths: Sequence) -> list[tuple[str, str]]:
    """``(module name, source)`` of the teacher's checker files (``.py``, or the ``.py`` files of a folder). They
    never lie in a sandbox: only the check child gets their source, after the runner has ended."""
    sources = {}
    for p in paths:
        p = Path(p).resolve()
        for f in sorted(p.glob("*.py")) if p.is_dir() else [p]:
            sources[f.stem] = f.read_text(encoding="utf-8")
    return sorted(sources.items())


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


def _run_notebook(notebook: str, export: str, names: list[str], fast: bool, sandboxed: bool, stubs: Sequence[str] = ()) -> None:
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
    for stub in stubs:  # the teacher's checker modules: importable, and empty (their references stay secret)
        sys.modules[stub] = types.ModuleType(stub)
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


# ------------------------------------------------------------------ the check (inside the sandbox)
_GUARD: dict = {"inside": False, "called": None}
_REPLY: dict = {"fd": None}  # where a check child writes its verdicts; closed where student code runs


def _guard_references(exercise) -> None:
    """Replace the reference implementations of ``exercise`` (its reference solution, also as the registry
    hands it out, and the nnbook function of the same name in its module) with guards that report a call made
    from the student's function. Only in the grandchild that calls the student's function: the checker keeps
    the originals."""
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
    """A submitted function, unpickled only inside the grandchild that ``run_check`` forks.

    On the first call this wrapper closes the check's verdict pipe and silences stdin and stdout, sets the
    memory limit, guards the exercise's reference implementations, and only then loads the student's code,
    so the check process itself never runs it.
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

            if _REPLY["fd"] is not None:
                os.close(_REPLY["fd"])
                _REPLY["fd"] = None
            os.chdir(tempfile.mkdtemp(prefix="check-"))
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
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


def _import_checkers(modules: Sequence[str], sources: Sequence) -> None:
    """Import the checker modules, and run the teacher's checker files (``[module name, source]``) as modules."""
    import importlib
    import types

    for name in modules:
        importlib.import_module(name)
    for name, source in sources:
        module = sys.modules[name] = types.ModuleType(name)
        module.__file__ = f"<checkers {name}>"
        exec(compile(source, f"<checkers {name}>", "exec"), module.__dict__)


def _check_items(items_file: str, modules: list[str], memory_mb: int, sandboxed: bool) -> None:
    """Check one submission's functions. ``items_file`` (removed once read) is JSON: ``{"items": [{"exercise",
    "function", "blob", "timeout"}], "sources": the teacher's checker files}``. Each verdict, a JSON line, goes
    to the verdict pipe as soon as it is known."""
    from nnbook import exercises as E

    path = Path(items_file)
    plan = json.loads(path.read_text())
    path.unlink()
    _import_checkers(modules, plan["sources"])
    items = plan["items"]
    keep = {1, os.getppid(), os.getpid()}
    clear = sandboxed and _own_pid_namespace()
    for item in items:
        ex = E.get(item["exercise"])
        func = _Submitted(base64.b64decode(item["blob"]), item["function"], ex, memory_mb, os.getpid())
        result = E.run_check(ex.name, func, timeout=item["timeout"])
        line = json.dumps({"exercise": ex.name, "passed": result.passed, "message": result.message}) + "\n"
        with open(_REPLY["fd"], "wb", closefd=False) as reply:
            reply.write(line.encode())
        if clear:  # whatever the student's function left running goes before the next check
            _kill_all_but(keep)


# ------------------------------------------------------------------ the worker (inside the sandbox)
def _set_dumpable(flag: bool) -> None:
    """``prctl(PR_SET_DUMPABLE)``: a process that is not dumpable cannot be traced by the other processes of
    its user, nor its ``/proc/<pid>/fd`` or memory opened. Children inherit it."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, int(flag), 0, 0, 0)  # 4: PR_SET_DUMPABLE
    except (OSError, AttributeError):  # not Linux: nothing to protect against here
        pass


def _own_pid_namespace() -> bool:
    """Whether this process runs in bwrap's PID namespace (its init, PID 1, is bwrap)."""
    try:
        return Path("/proc/1/comm").read_text().strip() == "bwrap"
    except OSError:
        return False


def _others(keep: set) -> list[int]:
    """The live processes of this PID namespace but ``keep`` (zombies left out: they only wait to be reaped)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in keep:
            try:
                state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):
                found.append(int(name))
    return found


def _kill_all_but(keep: set) -> bool:
    """SIGKILL every process of the namespace but ``keep``, again until none is left; whether that happened."""
    for _ in range(200):
        others = _others(keep)
        if not others:
            return True
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        import time

        time.sleep(0.005)
    return False


def _empty(folder: Path, keep: Sequence[Path] = ()) -> bool:
    """Remove everything in ``folder`` (whatever its permissions) but the folders ``keep`` and the way to them
    (what the sandbox binds: its own folder, the runtime; inside ``/tmp`` when the grader's temporary folder, or
    the repository, is there); whether that is all that is left."""
    def kept(entry: Path) -> bool:
        return any(entry == k or entry in k.parents for k in keep)

    def retry(func, path, _exc):
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass

    try:
        entries = list(folder.iterdir())
    except OSError:
        return True  # none here, or not ours to write: nothing a submission could leave
    for entry in entries:
        if entry in keep:
            continue
        if kept(entry):
            _empty(entry, keep)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, onerror=retry)
        else:
            try:
                entry.unlink()
            except OSError:
                pass
    try:
        return all(kept(entry) for entry in folder.iterdir())
    except OSError:
        return False


def _kill_rest(child: int, own_namespace: bool) -> bool:
    """Kill ``child`` and everything it started; whether all of it is gone."""
    if not own_namespace:  # best-effort: its process group (what left it is out of reach)
        try:
            os.killpg(child, signal.SIGKILL)
        except OSError:
            pass
        return True
    try:
        os.kill(-1, signal.SIGKILL)  # all of this namespace but its init and this worker, at once
    except OSError:
        pass
    return _kill_all_but({1, os.getpid()})


def _clear(child: int, own_namespace: bool, keep: Sequence[Path]) -> bool:
    """After a child: kill everything it left running, empty ``/tmp`` and ``/dev/shm`` (but the folders bound
    there, ``keep``: the worker's own, which the grader empties, and the runtime's); whether all of it went."""
    gone = _kill_rest(child, own_namespace)
    return not own_namespace or (gone and _empty(Path("/tmp"), keep) and _empty(Path("/dev/shm"), keep))


def _await(pid: int, timeout: float, reply_fd: int | None, own_namespace: bool) -> tuple[int, bool, bytes]:
    """Wait for the child ``pid`` (killing it after ``timeout`` s), reading what it writes to ``reply_fd``;
    ``(exit status, timed out, what it wrote)``."""
    import select
    import time

    deadline = time.monotonic() + timeout
    data, timed_out, status = b"", False, None
    while status is None:
        if reply_fd is not None:
            if select.select([reply_fd], [], [], 0.02)[0]:
                chunk = os.read(reply_fd, 1 << 16)
                data += chunk[: max(0, (1 << 20) - len(data))]
                if not chunk:
                    reply_fd = None
        else:
            time.sleep(0.02)
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status = code
        elif time.monotonic() > deadline:
            timed_out = True
            _kill_rest(pid, own_namespace)
            status = os.waitpid(pid, 0)[1]
    if reply_fd is not None:  # what it wrote just before it ended
        os.set_blocking(reply_fd, False)
        try:
            while chunk := os.read(reply_fd, 1 << 16):
                data += chunk[: max(0, (1 << 20) - len(data))]
        except (BlockingIOError, OSError):
            pass
    return os.waitstatus_to_exitcode(status), timed_out, data


def _child(command: dict, reply_fd: int | None, sandboxed: bool) -> None:
    """A child of the worker: one notebook run or one submission's checks. It never returns."""
    import resource

    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # the worker's command and answer pipes are out of its reach
        log = os.open(command["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 2)  # its own log: nothing of an earlier submission's
        os.chdir(command["workdir"])
        cpu = int(command["cpu"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        if command["do"] == "run":
            limit = command["memory_mb"] * 2**20 + _vm_size()  # beyond the runtime imported already
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            _set_dumpable(True)  # its own processes may look at each other; the worker stays out of reach
            sys.path.insert(0, "")
            _run_notebook(command["notebook"], command["export"], command["names"], command["fast"], sandboxed,
                          command["stubs"])
        else:
            _REPLY["fd"] = reply_fd
            _check_items(command["items"], command["modules"], command["memory_mb"], sandboxed)
    except BaseException:  # noqa: BLE001 - reported in its log; the grader sees what is missing
        import traceback

        traceback.print_exc()
    finally:
        os._exit(0)


def _serve(preload: list[str], bound: list[str], sandboxed: bool) -> None:
    """The worker: import the runtime once, then carry out the grader's commands (JSON lines on stdin), each
    in a child, and answer each (a JSON line on stdout) once the child and all it started are gone."""
    import importlib

    _set_dumpable(False)
    sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # nothing importable from a writable folder
    for name in ("cloudpickle", "nbformat", "IPython.core.inputtransformer2", "nnbook.exercises", *preload):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a notebook that needs it imports it, and says why it fails
            print(f"(could not import {name} ahead: {exc})", file=sys.stderr, flush=True)
    own_namespace = sandboxed and _own_pid_namespace()
    keep = [Path(p) for p in bound]  # what the sandbox binds (its folder, the runtime): not to be emptied
    answers = sys.stdout
    for line in sys.stdin.buffer:
        command = json.loads(line)
        reply_fd = write_fd = None
        if command["do"] == "check":
            reply_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            if reply_fd is not None:
                os.close(reply_fd)
            _child(command, write_fd, sandboxed)
        if write_fd is not None:
            os.close(write_fd)
        code, timed_out, reply = _await(pid, float(command["timeout"]), reply_fd, own_namespace)
        if reply_fd is not None:
            os.close(reply_fd)
        clean = _clear(pid, own_namespace, keep)
        answers.write(json.dumps({"returncode": code, "timed_out": timed_out, "clean": clean,
                                  "reply": reply.decode(errors="replace")}) + "\n")
        answers.flush()


# ------------------------------------------------------------------ the grader's side
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


def _isolation_note(bwrap: str | None) -> str:
    if bwrap:
        return "bubblewrap"
    root = ", no limit on processes (root is exempt)" if os.geteuid() == 0 else ""
    return f"best-effort (limits only, sockets disabled{root}; {_probe()[1]})"


def _exercise_files() -> list[Path]:
    """The teacher's files that registered exercises (checkers outside nnbook): the checks need them too."""
    from nnbook import exercises as E

    return sorted({Path(sys.modules[ex.checker.__module__].__file__).resolve() for ex in E.all_exercises().values()
                   if not ex.checker.__module__.startswith("nnbook.") and getattr(sys.modules.get(ex.checker.__module__),
                                                                                  "__file__", None)})


class Worker:
    """A worker sandbox (see the module docstring) that grades submissions one after another.

    It starts on first use and again after a submission that timed out, crashed, or left the sandbox unclean.
    ``preload``: modules to import once (what the chapter's set-up cells import); ``extra_paths``: the teacher's
    checker files or folders; their source reaches only the checks (to the notebook, importing one gives an empty
    module). Not thread-safe: one per grading job.
    """

    _FOLDERS = ("work", "export", "check")

    def __init__(self, *, isolation: str = "required", preload: Sequence[str] = (), extra_paths: Sequence = ()):
        self.bwrap = _mode(isolation)
        self.isolation = _isolation_note(self.bwrap)
        self.root = Path(tempfile.mkdtemp(prefix="nnbook-worker-"))
        self.box = self.root / "box"
        self.box.mkdir()
        self.sources = _teacher_sources([*extra_paths, *_exercise_files()])
        self.preload = ["numpy", "torch", "matplotlib.pyplot", *preload]
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.uid: int | None = None

    # -- the sandbox
    def _ensure(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.close(keep_folder=True)
            self.uid = _sandbox_user() if self.bwrap else None
            self._reset(self._FOLDERS)
            self.log = open(self.root / "worker.log", "wb")  # noqa: SIM115 - closed in close()
            bound = [str(p) for p in [self.box, *_readable_paths()]]
            self.proc = _start("_serve", [self.preload, bound], root=self.box, workdir=self.box / "work",
                               limits={}, bwrap=self.bwrap, uid=self.uid, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=self.log)
        return self.proc

    def _reset(self, folders: Sequence[str]) -> None:
        """Empty ``folders`` of the box (what the last submission left there), made again for the sandbox's user."""
        for name in folders:
            folder = self.box / name
            for _ in range(30):  # a sandbox just killed may still be dying, its last writes landing
                if not folder.exists() or _empty(folder):
                    break
                time.sleep(0.1)
            else:
                raise OSError(f"could not empty the grading folder {folder}")
            folder.mkdir(exist_ok=True)
            self._own(folder)

    def _own(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)
        path.chmod(0o755 if path.is_dir() else 0o644)

    def _ask(self, command: dict, wait: float) -> dict:
        """Send one command and return the worker's answer. If it ended, or did not answer within ``wait``
        seconds (it is stopped then), the answer says so: ``{"returncode": its exit status, "timed_out": ...}``.
        After an answer that was not clean, the next command starts a fresh worker."""
        import select

        proc = self._ensure()
        answer = None
        try:
            proc.stdin.write((json.dumps(command) + "\n").encode())
            proc.stdin.flush()
            if select.select([proc.stdout], [], [], wait)[0]:
                answer = json.loads(proc.stdout.readline())
        except (OSError, ValueError):
            pass
        if not isinstance(answer, dict):
            ended = proc.poll() is not None
            self.close(keep_folder=True)
            return {"returncode": proc.returncode, "timed_out": not ended, "clean": False, "reply": ""}
        if answer.get("timed_out") or answer.get("clean") is not True or answer.get("returncode") != 0:
            self.close(keep_folder=True)  # a fresh sandbox for the next submission
        return answer

    def close(self, keep_folder: bool = False) -> None:
        """Stop the worker (and with it everything in its sandbox); remove its folder unless ``keep_folder``."""
        if self.proc is not None:
            _kill(self.proc)
            # SIGKILL reaches the sandbox's processes at once, but under load they take a moment to die; its own
            # user id tells them (root's sandboxes): wait for them, so that none writes in the next one's folders
            for _ in range(100 if self.uid is not None else 0):
                if not _tasks_of(self.uid):
                    break
                time.sleep(0.05)
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None
        if not keep_folder:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- the commands
    def run(self, notebook, names: Sequence[str], *, timeout: float, memory_mb: int, fast: bool) -> RunResult:
        """Run a copy of ``notebook`` (all cells, or with ``fast`` the set-up and exercise cells) and collect the
        functions ``names``; the notebook is stopped after ``timeout`` s."""
        self._ensure()
        self._reset(self._FOLDERS)
        work, export = self.box / "work", self.box / "export"
        shutil.copyfile(notebook, work / "submission.ipynb")
        self._own(work / "submission.ipynb")
        answer = self._ask({"do": "run", "workdir": str(work), "notebook": str(work / "submission.ipynb"),
                            "export": str(export / "export.json"), "log": str(export / "runner.log"),
                            "names": list(names), "fast": fast, "stubs": [name for name, _ in self.sources], "timeout": timeout, "memory_mb": memory_mb,
                            "cpu": int(2 * timeout) + 10},  # 2 threads: 2 s of CPU a second; the wall clock is the limit
                           timeout + STARTUP_S)
        res = _read_export(export / "export.json")
        res.timed_out, res.returncode = answer.get("timed_out") is True, answer.get("returncode")
        res.isolation = self.isolation
        return res

    def check(self, items: Sequence[tuple], *, memory_mb: int, check_timeout: float | None = None) -> list[tuple[bool, str]]:
        """``(passed, message)`` for each ``(exercise, function name, pickled function[, timeout])`` of ``items``."""
        self._ensure()
        self._reset(("check",))
        timeouts = [item[3] if len(item) > 3 and item[3] is not None else
                    item[0].timeout if check_timeout is None else check_timeout for item in items]
        plan = [{"exercise": ex.name, "function": fname, "blob": base64.b64encode(blob).decode(), "timeout": t}
                for (ex, fname, blob, *_), t in zip(items, timeouts, strict=True)]
        folder = self.box / "check"
        (folder / "items.json").write_text(json.dumps({"items": plan, "sources": self.sources}))
        self._own(folder / "items.json")
        budget = sum(t + 5 for t in timeouts) + 10
        modules = sorted({ex.checker.__module__ for ex, *_ in items if ex.checker.__module__.startswith("nnbook.")})
        answer = self._ask({"do": "check", "workdir": str(folder), "items": str(folder / "items.json"),
                            "log": str(folder / "check.log"), "modules": modules,
                            "memory_mb": memory_mb, "timeout": budget, "cpu": int(2 * budget) + 10},
                           budget + STARTUP_S)
        said = {}
        for line in str(answer.get("reply", "")).splitlines():
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if isinstance(v, dict) and isinstance(v.get("passed"), bool) and v.get("exercise") not in said:
                said[v.get("exercise")] = (v["passed"], str(v.get("message", ""))[:2000])
        results = []
        for ex, *_ in items:
            if ex.name in said:
                results.append(said[ex.name])
            else:
                try:
                    tail = (folder / "check.log").read_text(errors="replace").strip().splitlines()[-1:]
                except OSError:
                    tail = []
                results.append((False, "the checker process stopped before it reported (out of memory, or killed?)"
                                + (f": {tail[0][:200]}" if tail else "")))
        return results


def run_submission(notebook, names: Sequence[str], *, timeout: float = 300.0, memory_mb: int = 4096,
                   extra_paths: Sequence = (), fast: bool = False, isolation: str = "required") -> RunResult:
    """Execute ``notebook`` in a worker sandbox (see the module docstring) and collect the functions ``names``.

    ``fast``: run only the set-up and exercise cells (:func:`exercise_cells`), not the chapter's experiments.
    The runner works on a copy of the notebook and is killed, with every process it started, after its cells
    have run for ``timeout`` seconds of wall-clock time; ``memory_mb`` is the address space it may use beyond
    the runtime. ``extra_paths`` (a checkers file or its folder): importing one of them gives an empty module.
    ``isolation``: ``"required"`` (raise :class:`IsolationError` without bubblewrap) or ``"best-effort"``.
    """
    from nnbook.validate import check_float, check_int

    notebook = _check_path("notebook", notebook)
    timeout = check_float("timeout", timeout, min_value=0.0, min_inclusive=False)
    memory_mb = check_int("memory_mb", memory_mb, min_value=256)
    if isinstance(names, str) or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise ValueError(f"names must be a list of Python identifiers, got {names!r}")
    worker = Worker(isolation=isolation, extra_paths=extra_paths)
    try:
        return worker.run(notebook, names, timeout=timeout, memory_mb=memory_mb, fast=fast)
    finally:
        worker.close()


def check_functions(items: Sequence[tuple], *, memory_mb: int = 4096, extra_paths: Sequence = (),
                    isolation: str = "required") -> list[tuple[bool, str]]:
    """Run checkers on submitted functions in a worker sandbox; ``(passed, message)`` per item.

    ``items``: ``(exercise, function name, pickled function, timeout or None)``. Each function is unpickled only
    in the forked grandchild that ``run_check`` calls it in.
    """
    worker = Worker(isolation=isolation, extra_paths=extra_paths)
    try:
        return worker.check(items, memory_mb=memory_mb)
    finally:
        worker.close()
