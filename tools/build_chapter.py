"""Build the website with only some chapters into a private folder, and fail on
any warning that concerns those chapters.

    .venv/bin/python tools/build_chapter.py book/part1_static/01_principles.md [more.md ...]

Lets several people work on chapters at once without sharing `_build/` or
executing every chapter. Pages outside the chosen chapters (the glossary, the
preface) may warn about chapters left out of this build, and so may a chosen
chapter's links to other chapters; those warnings are shown but ignored (a link
to a page that does not exist is still an error). The full strict build is `make test`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

import cache_guard
from chapters import chapter_sources
from glossary import chapter_terms
from i18n import write_config

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["book/part0/00_preface", "book/appendix/glossary", "book/appendix/references", "book/appendix/performance"]


def points_outside(warning: str, files: list[str]) -> bool:
    """Whether ``warning`` is only about a link to a page, or a glossary term, that a chapter left out of
    this build holds (it exists in the book)."""
    term = re.search(r"term not in glossary: '([^']+)'", warning)
    if term:
        outside = [md for md in chapter_sources() if md.relative_to(ROOT).with_suffix("").as_posix() not in files]
        return term.group(1).lower() in {en.lower() for md in outside for en, _ in chapter_terms(md)}
    m = re.search(r"unknown document: '([^']+)'", warning)
    if not m:
        return False
    target = m.group(1)
    source = next(f for f in files if f in warning)
    path = target.lstrip("/") if target.startswith("/") else (Path(source).parent / target).as_posix()
    path = os.path.normpath(path)
    return path not in files and (ROOT / f"{path}.md").exists()


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    files = [(Path(p) if Path(p).is_absolute() else ROOT / p).resolve().relative_to(ROOT).with_suffix("").as_posix() for p in paths]
    toc = {
        "format": "jb-book",
        "root": "book/index",
        "options": {"numbered": True},
        "parts": [
            {"caption": "Chapters", "chapters": [{"file": f} for f in files]},
            {"caption": "Other pages", "chapters": [{"file": f} for f in PAGES if (ROOT / f"{f}.md").exists()]},
        ],
    }
    out = Path(tempfile.gettempdir()) / f"nnbook-build-{Path(files[0]).name}"
    out.mkdir(parents=True, exist_ok=True)
    toc_path = out / "_toc.yml"
    toc_path.write_text(yaml.safe_dump(toc, allow_unicode=True), encoding="utf-8")
    config = write_config(out / "_config.yml", chinese=False, switch=False)  # no Chinese edition beside this one
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb), "build", str(ROOT), "--all", "--toc", str(toc_path), "--config", str(config), "--path-output", str(out),
           "-n", "--keep-going"]
    cache = out / "_build" / ".jupyter_cache"
    cache_guard.drop(cache)  # this private cache must not serve numbers the code no longer produces either
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    finally:
        cache_guard.record(cache)
    log = proc.stdout + proc.stderr
    warnings = [ln for ln in log.splitlines() if "WARNING" in ln or "ERROR" in ln]
    mine = [ln for ln in warnings if any(f in ln for f in files) and "Kernel is running over TCP" not in ln
            and not points_outside(ln, files)]
    for ln in warnings:
        print(("  MINE  " if ln in mine else "  other ") + ln)
    ok = proc.returncode == 0 and not mine
    if proc.returncode != 0:
        print(log[-3000:])
    print(f"\nHTML: {out / '_build' / 'html'}  ({'OK' if ok else 'FAILED'}: {len(mine)} warning(s) in the chosen chapters)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
