"""`make test-gpu`: every chapter runs unchanged on an NVIDIA GPU.

Executes each notebook top to bottom in a fresh kernel, exactly as written, then
asks that kernel which device `nnbook` chose and how much GPU memory the
chapter used. Fails if a notebook errors or `nnbook.get_device()` is not CUDA.
A chapter that never touches the GPU (e.g. scikit-learn only) is listed, not failed.

With no CUDA device it prints that the check was SKIPPED and exits with 77
(the conventional "skipped" status); the Makefile reports it as skipped, never
as passed.

    python tools/gpu_check.py [notebooks/part3_deep/06_cnn.ipynb ...]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = 77
PROBE = """
import json, torch, nnbook
print(json.dumps({"device": str(nnbook.get_device()),
                  "gpu_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0}))
"""


def probe_result(nb) -> dict:
    """The JSON the probe cell printed (the last cell of an executed notebook)."""
    outputs = nb.cells[-1].get("outputs", [])
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    return json.loads(text.strip().splitlines()[-1])


def run(nb_path: Path) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    start = time.perf_counter()
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(nb_path.parent)}}).execute()
    result = probe_result(nb)
    result["seconds"] = time.perf_counter() - start
    return result


def main(paths: list[str]) -> int:
    import torch

    if not torch.cuda.is_available():
        print("GPU check: SKIPPED - no CUDA device on this machine (not counted as passed)")
        return SKIPPED
    notebooks = [Path(p).resolve() for p in paths] or sorted((ROOT / "notebooks").rglob("*.ipynb"))
    print(f"GPU check on {torch.cuda.get_device_name(0)}: {len(notebooks)} notebook(s)")
    failed = []
    for nb in notebooks:
        name = nb.relative_to(ROOT).as_posix()
        try:
            r = run(nb)
        except Exception as exc:  # the notebook's own error, reported and counted
            print(f"FAIL {name}: {type(exc).__name__}: {str(exc)[-2000:]}")
            failed.append(name)
            continue
        ok = r["device"].startswith("cuda")
        note = "" if r["gpu_peak_mib"] > 0 else "  (this chapter put nothing on the GPU)"
        print(f"{'PASS' if ok else 'FAIL'} {name}: {r['seconds']:.1f} s, device {r['device']}, "
              f"GPU peak {r['gpu_peak_mib']:.0f} MiB{note}", flush=True)
        if not ok:
            failed.append(name)
    print("GPU check:", "all passed" if not failed else f"{len(failed)} failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
