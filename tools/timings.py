"""`make timings`: execute each chapter on its own, in a fresh kernel, and record
its wall time and peak memory in book/appendix/timings.csv (the Performance page).

On a machine with a CUDA GPU the GPU columns are filled; otherwise the CPU ones.
The other columns keep what an earlier run on the other kind of machine measured.

    python tools/timings.py                 # every chapter
    python tools/timings.py book/x/y.md     # some chapters
"""
from __future__ import annotations

import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chapters import BOOK, ROOT, chapter_sources, chapter_title_of, notebook_for  # noqa: E402

CSV = BOOK / "appendix" / "timings.csv"
FIELDS = ["Chapter", "CPU wall (s)", "CPU peak memory (MiB)", "GPU wall (s)", "GPU peak memory (MiB)", "GPU"]
BUDGET_S, BUDGET_MIB = 90, 2048


def run_one(nb_path: str) -> None:
    """Child mode: execute one notebook and print JSON with seconds and the kernel's peak RSS."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(Path(nb_path).parent)}}).execute()
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, reaped at shutdown
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024}))


def gpu_name() -> str:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    except Exception:
        return ""


def main(only: list[str]) -> int:
    rows = {}
    if CSV.exists():
        with CSV.open(encoding="utf-8") as f:
            rows = {r["Chapter"]: r for r in csv.DictReader(f) if "Chapter" in r}
    gpu = gpu_name()
    chosen = [(Path(p) if Path(p).is_absolute() else ROOT / p).resolve() for p in only]
    over = []
    for md in chapter_sources():
        if chosen and md not in chosen:
            continue
        title = chapter_title_of(md)
        out = subprocess.run([sys.executable, __file__, "--one", str(notebook_for(md))], capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{md.name} failed to execute")
        m = json.loads(out.stdout.strip().splitlines()[-1])
        row = rows.get(title, {k: "–" for k in FIELDS})
        row["Chapter"] = title
        if gpu:
            row["GPU wall (s)"], row["GPU peak memory (MiB)"], row["GPU"] = f"{m['seconds']:.1f}", f"{m['peak_mib']:.0f}", gpu
        else:
            row["CPU wall (s)"], row["CPU peak memory (MiB)"] = f"{m['seconds']:.1f}", f"{m['peak_mib']:.0f}"
        rows[title] = row
        flag = "" if m["seconds"] <= BUDGET_S and m["peak_mib"] <= BUDGET_MIB else "   <-- over budget"
        over += [title] if flag else []
        print(f"{m['seconds']:7.1f} s {m['peak_mib']:7.0f} MiB  {title}{flag}", flush=True)
    order = [chapter_title_of(md) for md in chapter_sources()]
    with CSV.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for title in order:
            if title in rows:
                w.writerow({k: rows[title].get(k, "–") for k in FIELDS})
    print(f"wrote {CSV.relative_to(ROOT)}")
    return 1 if over else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        run_one(sys.argv[2])
    else:
        sys.exit(main(sys.argv[1:]))
