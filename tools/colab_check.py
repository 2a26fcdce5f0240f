"""Run chapters the way a student in Colab does, minus the network.

Installs the package alone (non-editable, from this checkout, as `pip install
git+URL` would) into a clean virtual environment, copies each notebook to a
temporary directory outside the repository, and executes it top to bottom
there. Fails if a notebook needs a file from the repository or a package the
package does not declare.

    python3 tools/colab_check.py [notebooks/part1_static/01_principles.ipynb ...]
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("COLAB_VENV", Path(tempfile.gettempdir()) / "nnbook-colab-venv"))
RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=900, kernel_name="python3").execute()
print("executed", len(nb.cells), "cells")
"""


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        # Colab already has torch; locally we take the CPU wheel (see FACTS.md).
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", "torch==2.13.0", "ipykernel", "nbclient", "nbformat"])
    # the package exactly as a user gets it: built and installed, not editable
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(ROOT)])
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", str(ROOT)])
    return py


def main(paths: list[str]) -> int:
    notebooks = [Path(p).resolve() for p in paths] or sorted((ROOT / "notebooks").rglob("*.ipynb"))
    py = ensure_venv()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    failed = []
    for nb in notebooks:
        with tempfile.TemporaryDirectory(prefix="colab-") as tmp:
            target = Path(tmp) / nb.name
            shutil.copy(nb, target)
            r = subprocess.run([str(py), "-c", RUNNER, str(target)], cwd=tmp, env=env, capture_output=True, text=True)
            ok = r.returncode == 0
            print(("PASS " if ok else "FAIL ") + str(nb.relative_to(ROOT)), flush=True)
            if not ok:
                print(r.stderr[-4000:])
                failed.append(nb)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
