"""Run every chapter the way a student in Colab does, minus the network.

1. Installs the package alone — built and installed non-editable from this
   checkout, as `pip install "nnbook @ git+URL"` does — into a clean virtual
   environment, with only the runtime dependencies it declares (versions
   constrained to the dev pins so runs are reproducible) plus the test harness
   (pytest, nbval, xdist, ipykernel).
2. Copies each notebook into its own folder in a temporary directory outside
   the repository, with HOME pointing into that directory too.
3. Executes them all top to bottom with nbval (each kernel starts in its
   notebook's folder), then fails if a notebook
   - errored (it read a file from the repository, or imported a package the
     package does not declare), or
   - wrote anywhere but its own folder: into the repository, next to another
     notebook, or into HOME beyond the caches of matplotlib/IPython/Jupyter.

    python3 tools/colab_check.py [-n JOBS] [_build/colab | _build/student | NOTEBOOK.ipynb ...]

By default it runs the Colab edition (`make colab` renders it from the built book):
the notebooks a chapter's badge opens.

The virtual environment is kept in $COLAB_VENV (default /tmp/nnbook-colab-venv)
and rebuilt when pyproject.toml changes.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("COLAB_VENV", Path(tempfile.gettempdir()) / "nnbook-colab-venv"))
HARNESS = ["pytest", "nbval", "pytest-xdist", "ipykernel"]
# what Python, IPython, Jupyter and matplotlib write for themselves under HOME
TOOL_CACHES = (".cache", ".config/matplotlib", ".ipython", ".local/share/jupyter", ".jupyter")


def dev_pins() -> dict[str, str]:
    """name -> 'name==version' for every pin of pyproject's dev extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = project["project"]["optional-dependencies"]["dev"]
    return {re.split("[<>=]", p)[0].lower(): p for p in pins if "==" in p}


def ensure_venv() -> Path:
    """A venv holding torch (Colab has its own), the harness and the package alone. Checks that run at
    the same time (several `make check`) take turns: one builds or updates it while the others wait."""
    # one lock for every venv: building the package also writes the repository's build/ folder
    with open(Path(tempfile.gettempdir()) / "nnbook-colab-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_venv_locked()


def _ensure_venv_locked() -> Path:
    py = VENV / "bin" / "python"
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    stamp = VENV / ".pyproject-sha"
    digest = hashlib.sha256(pyproject).hexdigest()
    if not py.exists() or not stamp.exists() or stamp.read_text() != digest:
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        constraints = VENV / "constraints.txt"
        constraints.write_text("\n".join(dev_pins().values()) + "\n")
        pins = dev_pins()
        harness = [pins.get(h, h) for h in HARNESS]
        # torch first: the CPU wheel on disk (see FACTS.md); Colab brings its own torch
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", pins["torch"], *harness, "-c", str(constraints)])
        stamp.write_text(digest)
    # the package exactly as a user gets it: built and installed, not editable
    constraints = VENV / "constraints.txt"
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(ROOT)])
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", str(ROOT), "-c", str(constraints)])
    subprocess.check_call([str(py), "-m", "pip", "check"])
    return py


def snapshot(folder: Path) -> dict[str, float]:
    """path -> mtime of every file under folder."""
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


def repo_state() -> str:
    """git's view of the working tree (tracked changes and untracked, non-ignored files)."""
    r = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else ""


def stray_writes(sandbox: Path, before: dict[str, float], folders: list[Path]) -> list[str]:
    """Files created or changed in the sandbox outside every notebook's own folder."""
    home = sandbox / "home"
    allowed = [f.relative_to(sandbox).as_posix() + "/" for f in folders]
    allowed += [(home / c).relative_to(sandbox).as_posix() + "/" for c in TOOL_CACHES]
    stray = []
    for path, mtime in snapshot(sandbox).items():
        if before.get(path) == mtime:
            continue
        posix = Path(path).as_posix()
        if not any(posix.startswith(a) for a in allowed):
            stray.append(posix)
    return stray


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--jobs", type=int, default=2, help="notebooks run at once (pytest-xdist)")
    parser.add_argument("notebooks", nargs="*",
                        help="notebooks or folders of them (default: the Colab edition, _build/colab; `make colab` writes it)")
    args = parser.parse_args(argv)
    notebooks = []
    for arg in args.notebooks or [str(ROOT / "_build" / "colab")]:
        path = Path(arg).resolve()
        notebooks += sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
    if not notebooks:
        print(f"no notebooks in {args.notebooks or ['_build/colab']}: run `make colab` (after `make book`) first")
        return 1
    base = Path(os.path.commonpath([nb.parent for nb in notebooks]))
    py = ensure_venv()

    sandbox = Path(tempfile.mkdtemp(prefix="nnbook-colab-"))
    try:
        (sandbox / "home").mkdir()
        folders = []
        for nb in notebooks:
            folder = sandbox / "notebooks" / nb.relative_to(base).with_suffix("")
            folder.mkdir(parents=True)
            shutil.copy(nb, folder / nb.name)
            folders.append(folder)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH")}
        env.update(HOME=str(sandbox / "home"), PATH=f"{VENV / 'bin'}:{env.get('PATH', '')}", OMP_NUM_THREADS="1",
                   MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        before, repo_before = snapshot(sandbox), repo_state()
        cmd = [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "notebooks"]
        if args.jobs > 1:
            cmd += ["-n", str(args.jobs), "--dist", "loadscope"]
        print(f"Colab situation: {len(notebooks)} notebook(s) in {sandbox}, package from a clean venv {VENV}", flush=True)
        status = subprocess.run(cmd, cwd=sandbox, env=env).returncode

        problems = []
        if status != 0:
            problems.append("a notebook failed to run outside the repository (see the pytest report above)")
        stray = stray_writes(sandbox, before, folders)
        if stray:
            problems.append("notebooks wrote outside their own folder:\n  " + "\n  ".join(sorted(stray)[:20]))
        if repo_state() != repo_before:
            problems.append("the repository changed while notebooks ran (a notebook wrote into it)")
        for p in problems:
            print("FAIL:", p)
        if not problems:
            print(f"Colab situation: all {len(notebooks)} notebook(s) ran outside the repository and wrote only in their own folders")
        return 1 if problems else 0
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
