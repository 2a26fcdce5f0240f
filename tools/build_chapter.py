"""Build the website with only some chapters, strictly (-W -n), into a private folder.

    .venv/bin/python tools/build_chapter.py book/part1_static/01_principles.md [more.md ...]

Prints the HTML folder. Lets several people work on chapters at once without
sharing `_build/` or executing every chapter.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    files = [Path(p).resolve().relative_to(ROOT).with_suffix("").as_posix() for p in paths]
    toc = {
        "format": "jb-book",
        "root": "book/index",
        "options": {"numbered": True},
        "parts": [
            {"caption": "Start", "chapters": [{"file": "book/part0/00_preface"}]},
            {"caption": "Chapters", "chapters": [{"file": f} for f in files]},
            {"caption": "Appendix", "chapters": [{"file": "book/appendix/references"}]},
        ],
    }
    slug = Path(files[0]).name
    out = Path(tempfile.gettempdir()) / f"nnbook-build-{slug}"
    toc_path = out / "_toc.yml"
    out.mkdir(parents=True, exist_ok=True)
    toc_path.write_text(yaml.safe_dump(toc, allow_unicode=True), encoding="utf-8")
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb), "build", str(ROOT), "--toc", str(toc_path), "--path-output", str(out), "-W", "-n", "--keep-going"]
    rc = subprocess.call(cmd, cwd=ROOT)
    print(f"\nHTML: {out / '_build' / 'html'}  (exit {rc})")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
