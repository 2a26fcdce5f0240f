"""`make test-injected`: show that the tests catch the defects they are there for.

The repository's working tree is copied to a scratch folder. First the tests below run on that
clean copy and must pass, so that a failure later is the bug's doing. Then each bug (one per kind
of defect) goes alone into a copy of its own, and the tests that should catch it run there (two
bugs at a time): they must FAIL. Exit status 1 if a bug goes undetected (or cannot be injected, or
the clean copy already fails).

    python tools/inject_bugs.py            # every bug
    python tools/inject_bugs.py data pins  # only these
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PYTEST = [PY, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-W", "ignore"]
LINT = [PY, "tools/lint.py"]


@dataclass
class Bug:
    name: str
    what: str
    path: str          # the file the bug goes into, relative to the root
    pattern: str       # a regular expression that must match exactly once
    replacement: str   # what it becomes (re.sub syntax)
    tests: list[str]   # the tests that must fail: pytest files, or ["lint"] for tools/lint.py
    select: str = ""   # pytest -k expression, if only some of those files' tests are relevant

    @property
    def command(self) -> list[str]:
        if self.tests == ["lint"]:
            return LINT
        return PYTEST + self.tests + (["-k", self.select] if self.select else [])

    @property
    def shown(self) -> str:
        return "make lint" if self.tests == ["lint"] else " ".join(self.tests) + (f" -k '{self.select}'" if self.select else "")

    def inject(self, root: Path) -> str:
        """Put the bug into ``root``; returns the file's clean text (to restore it)."""
        path = root / self.path
        clean = path.read_text(encoding="utf-8")
        buggy, n = re.subn(self.pattern, self.replacement, clean, flags=re.M)
        if n != 1:
            raise LookupError(f"{self.path}: the pattern {self.pattern!r} matches {n} times, not once")
        path.write_text(buggy, encoding="utf-8")
        return clean


CHAPTER = "book/part2_dynamic/05_dhnn.md"
BUGS = [
    Bug("gradient", "a wrong sign in the back-propagated delta (mlp.layer_backward)",
        "lib/nnbook/mlp.py", r"return dW, db, \(delta @ W\) \* f_prime\(z_prev\)$",
        "return dW, db, -(delta @ W) * f_prime(z_prev)", ["tests/test_mlp.py"]),
    Bug("energy", "a wrong sign in the continuous Hopfield energy (chnn.chnn_energy)",
        "lib/nnbook/chnn.py", r"quad = -0\.5 \* \(\(v @ W\) \* v\)", "quad = 0.5 * ((v @ W) * v)",
        ["tests/test_chnn.py"]),
    Bug("checker", "an exercise checker that accepts a wrong answer (tolerance 10 in rbf.gaussian_design_matrix)",
        "lib/nnbook/rbf.py", r'(expect_close\(got, _design_reference\(X, C, width\), f"Φ with width \{width\}", atol=)1e-5',
        r"\g<1>10.0", ["tests/test_exercises.py"], "[rbf."),
    Bug("data", "an off-by-one in data.copy_task (the go marker one step late)",
        "lib/nnbook/data.py", r"X\[:, length \+ delay - 1\] = n_symbols \+ 1", "X[:, length + delay] = n_symbols + 1",
        ["tests/test_data.py"]),
    Bug("pair", "a chapter edited without regenerating its notebook (the pair out of sync)",
        CHAPTER, r"^nnbook\.seed_everything\(0\)$", "nnbook.seed_everything(1)",
        ["tests/test_project.py"], "pair_has_identical_cells and 05_dhnn"),
    Bug("glossary", "a glossary entry whose Chinese term is missing (the English term repeated)",
        CHAPTER, r"^(:::\{glossary\}\n)([^\n]+)\n[^\n]+$", r"\1\2\n\2",
        ["tests/test_project.py"], "glossary and 05_dhnn"),
    Bug("solutions", "a student edition that keeps the prose solutions ({solution} blocks)",
        "lib/nnbook/teaching/editions.py", r"^(\s+)drop\.update\(range\(first, end\)\)$", r"\1pass",
        ["tests/test_teaching.py"], "no_solution"),
    Bug("pins", "environment.yml's torch pin drifts from pyproject.toml's dev pin",
        "environment.yml", r"^(\s*- torch)==[\d.]+$", r"\1==2.2.0", ["lint"]),
    Bug("device", "a chapter that puts its tensors on CUDA by hand",
        CHAPTER, r"^device = nnbook\.get_device\(\)$", 'device = "cuda"', ["lint"]),
    Bug("range", "the package pins torch (Colab brings its own)",
        "pyproject.toml", r'^    "torch>=[\d.]+",$', '    "torch==2.13.0",', ["lint"]),
    Bug("ci", "CI runs another command than the README's `make test`",
        ".ci/run", r"^make test$", "make test-lib", ["lint"]),
    Bug("seed", "a chapter whose notebook no longer seeds",
        "notebooks/part2_dynamic/05_dhnn.ipynb", r'^(\s*)"nnbook\.seed_everything\(0\)\\n",$', r'\1"pass\\n",',
        ["lint"]),
    Bug("generator", "an unseeded random generator in nnbook (data.copy_task)",
        "lib/nnbook/data.py", r"default_rng\(seed\)(\n\s+symbols = )", r"default_rng()\1", ["lint"]),
    Bug("reseed", "a library function reseeds torch's global generator (flows.train_flow)",
        "lib/nnbook/flows.py", r"with seeded\(seed\):", r"torch.manual_seed(seed)\n    if True:", ["lint"]),
    Bug("branch", "the Pages workflow pushes another branch than the one the badges open",
        ".github/workflows/pages.yml", r'(git push -f \S+) colab$', r"\1 gh-pages", ["lint"]),
]


def copy_tree(dest: Path) -> None:
    """The working tree as git sees it: tracked files that exist, and untracked files not ignored."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def run(command: list[str], root: Path) -> tuple[int, str, float]:
    # The scratch copy's package comes first on the path (the .venv's editable install points at ROOT/lib).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "lib"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start


def tail(output: str, n: int = 20) -> str:
    return "      " + "\n      ".join(output.strip().splitlines()[-n:])


def baseline(bugs: list[Bug], root: Path) -> dict[str, str]:
    """Every bug's tests on the clean copy (one pytest run, and lint); where that fails, each
    bug's tests alone. ``{bug name: output}`` for the bugs whose tests fail without the bug."""
    files = list(dict.fromkeys(f for b in bugs if b.tests != ["lint"] for f in b.tests))
    selection = " or ".join(f"({b.select})" if b.select else " or ".join(Path(f).name for f in b.tests)
                            for b in bugs if b.tests != ["lint"])
    together = [PYTEST + files + ["-k", selection]] if files else []
    if any(b.tests == ["lint"] for b in bugs):
        together.append(LINT)
    if all(run(command, root)[0] == 0 for command in together):
        return {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        alone = list(pool.map(lambda b: run(b.command, root), bugs))
    return {b.name: output for b, (status, output, _) in zip(bugs, alone) if status != 0}


def try_bug(bug: Bug, clean: Path) -> tuple[bool, str]:
    """Inject ``bug`` into a fresh copy of ``clean`` and run its tests: (caught, report lines)."""
    with tempfile.TemporaryDirectory(prefix=f"nnbook-{bug.name}-") as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(clean, root)
        try:
            bug.inject(root)
        except LookupError as e:
            return False, f"  ????     {bug.name}: could not inject the bug ({e})"
        status, output, seconds = run(bug.command, root)
    if status == 0:
        return False, f"  MISSED   {bug.name}: {bug.what}\n           `{bug.shown}` still passes ({seconds:.0f} s)"
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.M) or re.findall(r"^ {7}(\S.*)$", output, re.M)[:1]
    return True, (f"  CAUGHT   {bug.name}: {bug.what}\n           `{bug.shown}` fails ({seconds:.0f} s): "
                  f"{', '.join(failed)[:200]}")


def main(argv: list[str]) -> int:
    bugs = [b for b in BUGS if not argv or b.name in argv]
    unknown = set(argv) - {b.name for b in BUGS}
    if unknown:
        print(f"no such bug: {sorted(unknown)}; known: {[b.name for b in BUGS]}")
        return 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nnbook-injected-") as tmp:
        clean = Path(tmp)
        copy_tree(clean)
        print(f"make test-injected: {len(bugs)} bug(s), each alone in a scratch copy of the working tree")
        broken = baseline(bugs, clean)
        for name, output in broken.items():
            print(f"  ????     {name}: its tests already fail on the clean copy, so this bug cannot be judged:\n{tail(output)}")
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda b: try_bug(b, clean), [b for b in bugs if b.name not in broken]))
        results += [(False, "")] * len(broken)
    for _, lines in results:
        if lines:
            print(lines)
    caught = sum(ok for ok, _ in results)
    print(f"make test-injected: {caught}/{len(bugs)} injected bugs caught in {time.perf_counter() - start:.0f} s")
    return 0 if caught == len(bugs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
