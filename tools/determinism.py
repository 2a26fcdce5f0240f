"""`make test-determinism`: execute every chapter twice and compare its text outputs.

A chapter is seeded (``nnbook.seed_everything(0)`` once), so two runs in fresh
kernels must print the same text: stdout, ``text/plain`` results, the values glued
into the page text (myst-nb's ``application/papermill.record`` outputs) and error messages. What is compared, and what
is not:

- cells tagged ``timing`` (their output holds wall-clock measurements) are skipped;
- tqdm progress bars are dropped and memory addresses (``0x7f3a...``) masked;
- other stderr (warnings) is compared after the same clean-up;
- images and HTML are not compared (they embed random ids and rendering bytes).

    python tools/determinism.py                  # every chapter with a notebook
    python tools/determinism.py book/x/y.md ...  # some chapters
    JOBS=2 (default) runs that many kernels at once, each with OMP_NUM_THREADS=1.

Exit status 1 if any chapter differs between its two runs (or fails to run).
"""
from __future__ import annotations

import difflib
import json
import os
import re
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chapters import ROOT, chapter_sources, notebook_for  # noqa: E402

EXEMPT_TAG = "timing"
GLUE_MIME = "application/papermill.record/text/plain"
ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{6,}")
# A tqdm bar: "42%|████▏     | 21/50 [00:01<00:02, 12.3it/s, loss=0.1]"; each redraw ends in "\r".
TQDM_RE = re.compile(r"\|\s*\d+/\d+\s*\[\d+:\d+(?::\d+)?<[^\]]*\]")


def clean_text(text: str) -> str:
    """Mask what legitimately changes between runs: progress bars and memory addresses."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        last = line.split("\r")[-1]  # a carriage return redraws the line: keep what stays visible
        if TQDM_RE.search(last):
            continue
        lines.append(ADDRESS_RE.sub("0x…", last))
    return "\n".join(lines)


def text_outputs(nb: dict) -> list[tuple[int, str]]:
    """``[(code cell number, its cleaned text output)]`` for every code cell not tagged ``timing``.

    Code cells are numbered from 1 in the order they appear, so a report can name them.
    """
    rows, number = [], 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        number += 1
        if EXEMPT_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        parts = []
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "stream":  # one print may arrive in several chunks: join consecutive ones
                label = f"[{out['name']}] "
                if parts and parts[-1].startswith(label):
                    parts[-1] += _joined(out["text"])
                else:
                    parts.append(label + _joined(out["text"]))
            elif kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                if "text/plain" in data:
                    parts.append("[text/plain] " + _joined(data["text/plain"]))
                if GLUE_MIME in data:  # a value glued into the page text (myst-nb, display=False)
                    parts.append("[glue] " + _joined(data[GLUE_MIME]))
            elif kind == "error":
                parts.append(f"[error] {out['ename']}: {out['evalue']}")
        rows.append((number, clean_text("\n".join(parts))))
    return rows


def _joined(text) -> str:
    return "".join(text) if isinstance(text, list) else text


def compare(first: dict, second: dict, context: int = 1) -> list[str]:
    """Differences between two executions of the same notebook, one message per cell (empty: same)."""
    a, b = text_outputs(first), text_outputs(second)
    if [n for n, _ in a] != [n for n, _ in b]:
        return ["the two runs have different code cells (was the notebook edited in between?)"]
    problems = []
    for (number, x), (_, y) in zip(a, b):
        if x != y:
            diff = difflib.unified_diff(x.splitlines(), y.splitlines(), "run 1", "run 2", n=context, lineterm="")
            lines = list(diff)[2:]
            shown = "\n".join(lines[:12]) + ("\n    …" if len(lines) > 12 else "")
            problems.append(f"code cell {number}:\n{shown}")
    return problems


def execute(nb_path: Path) -> tuple[dict, float]:
    """Run ``nb_path`` in a fresh process and kernel; return the executed notebook and its CPU seconds."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    out = subprocess.run([sys.executable, __file__, "--one", str(nb_path)], capture_output=True, text=True, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{nb_path.name} failed to execute:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout)  # the child reports its own and its kernel's CPU time
    return result["notebook"], result["cpu_s"]


def _run_one(nb_path: str) -> None:
    """Child mode: execute one notebook, print JSON with the result and the CPU time it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(Path(nb_path).parent)}}).execute()
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    print(json.dumps({"notebook": nb, "cpu_s": cpu}))


def check(chapters: list[Path], jobs: int = 2) -> int:
    """Execute each chapter's notebook twice (``jobs`` at a time), compare, print a report."""
    notebooks = [notebook_for(md) for md in chapters if notebook_for(md).exists()]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {(nb, run): pool.submit(execute, nb) for nb in notebooks for run in (1, 2)}
    failed, total_cpu = [], 0.0
    for nb in notebooks:
        name = nb.relative_to(ROOT).as_posix()
        try:
            (one, cpu1), (two, cpu2) = futures[nb, 1].result(), futures[nb, 2].result()
        except RuntimeError as exc:
            failed.append(name)
            print(f"FAILED  {name}\n{exc}", flush=True)
            continue
        total_cpu += cpu1 + cpu2
        problems = compare(one, two)
        status = "same   " if not problems else "DIFFERS"
        print(f"{status} {name}  (CPU {cpu1:.0f} s + {cpu2:.0f} s)", flush=True)
        for p in problems:
            print("    " + p.replace("\n", "\n    "))
        failed += [name] if problems else []
    wall = time.perf_counter() - start
    print(f"\n{len(notebooks)} chapters, each run twice: {wall:.0f} s wall, {total_cpu:.0f} s CPU, {jobs} at a time")
    if failed:
        print("Not deterministic (or failed): " + ", ".join(failed))
        print(f"A cell whose output holds wall-clock measurements should carry the tag `{EXEMPT_TAG}`.")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        _run_one(argv[1])
        return 0
    chosen = {(Path(p) if Path(p).is_absolute() else ROOT / p).resolve() for p in argv}
    chapters = [md for md in chapter_sources() if not chosen or md in chosen]
    if chosen and len(chapters) != len(chosen):
        raise SystemExit(f"not chapters: {sorted(str(p) for p in chosen - set(chapters))}")
    return check(chapters, jobs=int(os.environ.get("JOBS", "2")))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
