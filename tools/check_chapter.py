"""`make check CHAPTER=book/<part>/<file>.md`: the maintainer's loop for one chapter.

Runs, two at a time on two cores, and prints how long each took:

1. the tests of the `nnbook` modules the chapter uses (``tests/test_<module>.py``, from the
   chapter → module map ``chapters.nnbook_modules``) and the book-level tests of this chapter;
2. the chapter executed once, in a private strict build of its page (``tools/build_chapter.py``),
   and its quiz's numeric answers against the values it glued (``tools/quiz_check.py``);
3. its Colab edition rendered from that page and run the way Colab runs it (``tools/colab_check.py``);
4. the browser checks of its page (``tests/browser``: math, images, animations, dropdowns, links).

1 and 2 run side by side, then 3 and 4. The full suite is still `make test`.

    python tools/check_chapter.py book/part2_dynamic/05_dhnn.md [more.md ...]
    python tools/check_chapter.py --changed [BASE]   # every chapter the diff against BASE (main) touches
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chapters import ROOT, chapter_sources, nnbook_modules

PY = sys.executable


BOOK_LEVEL_TESTS = ["test_project.py", "test_teaching.py", "test_exercises.py"]


def tests_for(md: Path) -> list[str]:
    """The pytest arguments for chapter ``md``: every test of the modules it uses
    (``tests/test_<module>.py``), the book-level tests parametrised by the chapter, and the
    exercise checkers its modules register (``tests/test_exercises.py``). Slow tests are kept:
    none is in these files' selection, and this step runs beside the chapter's build, which
    takes longer."""
    modules = sorted(m for m in nnbook_modules(md) if m != "__init__")
    files = [f"test_{m}.py" for m in modules if (ROOT / "tests" / f"test_{m}.py").exists()]
    # test_exercises.py: the checker machinery, and of the every-checker test only these modules' checkers
    keywords = [f"({f} and not every_checker)" if f == "test_exercises.py" else f for f in files]
    keywords += [md.stem] + [f"[{m}." for m in modules]
    paths = dict.fromkeys(files + BOOK_LEVEL_TESTS)  # in order, each once
    return [str(ROOT / "tests" / f) for f in paths] + ["-k", " or ".join(keywords)]


def run_side_by_side(jobs: dict[str, list[str]], env: dict | None = None) -> dict[str, tuple[int, float, str]]:
    """Start every command at once; ``{name: (status, seconds, output)}``."""
    started, procs = {}, {}
    for name, cmd in jobs.items():
        log = tempfile.TemporaryFile(mode="w+")
        started[name] = time.perf_counter()
        procs[name] = (subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env), log)
    results = {}
    for name, (proc, log) in procs.items():
        status = proc.wait()
        log.seek(0)
        results[name] = (status, time.perf_counter() - started[name], log.read())
        log.close()
    return results


def report(results: dict[str, tuple[int, float, str]]) -> bool:
    ok = True
    for name, (status, seconds, output) in results.items():
        print(f"  {'ok  ' if status == 0 else 'FAIL'} {name} ({seconds:.0f} s)")
        if status != 0:
            ok = False
            print("    " + "\n    ".join(output.strip().splitlines()[-40:]))
    return ok


def check(md: Path) -> bool:
    rel = md.relative_to(ROOT).as_posix()
    print(f"make check: {rel}")
    private = Path(tempfile.gettempdir()) / f"nnbook-build-{md.stem}"
    edition = Path(tempfile.mkdtemp(prefix="nnbook-check-"))
    threads = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = run_side_by_side({
        "tests of its modules": [PY, "-m", "pytest", "-q", *tests_for(md)],
        "executed once, strict page build": [PY, "tools/build_chapter.py", rel],
    }, threads)
    if not report(first):
        return False
    quizzes = subprocess.run([PY, "tools/quiz_check.py", rel, "--executed", str(private / "_build" / "jupyter_execute")],
                             cwd=ROOT, capture_output=True, text=True)
    if quizzes.returncode != 0:
        print("  FAIL its quiz against the executed chapter\n    " + quizzes.stdout.strip().replace("\n", "\n    "))
        return False
    render = subprocess.run([PY, "tools/editions.py", "--site", str(private), "--partial", "--colab-only", "--out", str(edition), rel],
                            cwd=ROOT, capture_output=True, text=True)
    if render.returncode != 0:
        print("  FAIL rendering the Colab edition\n" + render.stderr)
        return False
    notebook = next(edition.rglob("*.ipynb"))
    second = run_side_by_side({
        "Colab edition, run as in Colab": [PY, "tools/colab_check.py", "-n", "1", str(notebook)],
        "browser checks of its page": [PY, "-m", "pytest", "-q", "tests/browser/test_site.py", "-k",
                                       f"test_page and {md.stem}"],
    }, {**threads, "NNBOOK_SITE": str(private / "_build" / "html"),
        "NNBOOK_CHROMIUM": os.environ.get("NNBOOK_CHROMIUM", "/usr/bin/chromium")})
    return report(second)


def changed_chapters(base: str = "main") -> list[Path]:
    """The chapters the working tree's diff against ``base`` touches: their source, or an
    ``nnbook`` module they use (``chapters.nnbook_modules``)."""
    diff = subprocess.run(["git", "diff", "--name-only", base], cwd=ROOT, capture_output=True, text=True, check=True)
    untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
    paths = set(diff.stdout.split()) | set(untracked.stdout.split())
    modules = {Path(p).stem for p in paths if p.startswith("lib/nnbook/") and p.endswith(".py")}
    quizzes = {p.removesuffix(".quiz.json") + ".md" for p in paths if p.endswith(".quiz.json")}
    return [md for md in chapter_sources()
            if md.relative_to(ROOT).as_posix() in paths | quizzes or modules & nnbook_modules(md)]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    if argv[0] == "--changed":
        chosen = changed_chapters(*argv[1:2])
        print(f"make test-changed: {len(chosen)} chapter(s): {[md.stem for md in chosen]}")
        argv = [str(md) for md in chosen]
        if not argv:
            return 0
    known = chapter_sources()
    chosen = [(Path(p) if Path(p).is_absolute() else ROOT / p).resolve() for p in argv]
    unknown = [str(p) for p in chosen if p not in known]
    if unknown:
        print(f"not chapters of the book: {unknown}")
        return 2
    start = time.perf_counter()
    ok = all([check(md) for md in chosen])
    print(f"make check: {'passed' if ok else 'FAILED'} in {time.perf_counter() - start:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
