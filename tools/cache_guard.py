"""Keep the execution cache honest: a chapter's cached outputs are dropped once an
``nnbook`` module it imports (directly or through other modules) has changed.

jupyter-cache keys a notebook on its code cells and kernel only, so after an edit to
``lib/nnbook/gan.py`` a build would serve the GAN chapter's old numbers. This records,
with every cached execution, a hash of the sources of the modules the chapter uses
(see ``chapters.nnbook_modules``), of its quiz file and of the pinned environment (``pyproject.toml``),
and forgets the executions whose inputs changed (touching their sources, so that Sphinx
reads those pages again), so that the next build re-executes exactly those chapters.

    python tools/cache_guard.py drop     # before a build: forget stale executions (says which, and why)
    python tools/cache_guard.py record   # after a build: remember what each execution was made from

An execution the guard has no record of (made by a build that did not record, e.g. an
older checkout) is dropped too: the guard never vouches for what it did not see.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from chapters import LIB, ROOT, chapter_sources, nnbook_modules

STATE_NAME = "nnbook-inputs.json"


def module_hashes(md: Path, lib: Path = LIB) -> dict[str, str]:
    """``{input: sha256}`` of what chapter ``md``'s outputs depend on besides its own code."""
    inputs = {f"nnbook/{m}.py": lib / f"{m}.py" for m in sorted(nnbook_modules(md, lib))}
    inputs["pyproject.toml"] = ROOT / "pyproject.toml"
    quiz = md.with_name(md.stem + ".quiz.json")  # the quiz cell draws this file's questions
    if quiz.exists():
        inputs[quiz.name] = quiz
    return {name: hashlib.sha256(path.read_bytes()).hexdigest()[:16] for name, path in inputs.items()}


def _cache(cache_dir: Path):
    from jupyter_cache import get_cache

    return get_cache(str(cache_dir))


def _chapters() -> dict[str, Path]:
    return {str(md.resolve()): md for md in chapter_sources()}


def drop(cache_dir: Path, lib: Path = LIB) -> list[str]:
    """Remove the cached executions whose inputs changed since they were recorded; their chapters' names."""
    state_file = cache_dir / STATE_NAME
    if not (cache_dir / "global.db").exists():
        return []
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    chapters, cache, dropped = _chapters(), _cache(cache_dir), []
    for record in cache.list_cache_records():
        md = chapters.get(str(Path(record.uri).resolve()))
        if md is None:
            continue
        seen = state.get(record.uri)
        if seen is None or seen["hashkey"] != record.hashkey:
            why = "no record of what it was executed with"
        else:
            now = module_hashes(md, lib)
            changed = sorted(k for k in set(now) | set(seen["inputs"]) if now.get(k) != seen["inputs"].get(k))
            if not changed:
                continue
            why = "changed since it was executed: " + ", ".join(changed)
        cache.remove_cache(record.pk)
        md.touch()  # and Sphinx re-reads the page (it skips sources older than its last build)
        state.pop(record.uri, None)
        dropped.append(md.relative_to(ROOT).as_posix())
        print(f"cache: {md.relative_to(ROOT)} will re-execute ({why})")
    state_file.write_text(json.dumps(state, indent=1, sort_keys=True))
    return dropped


def record(cache_dir: Path, lib: Path = LIB) -> int:
    """Remember the inputs of every cached chapter execution not yet recorded; how many were new."""
    if not (cache_dir / "global.db").exists():
        return 0
    state_file = cache_dir / STATE_NAME
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    chapters, new = _chapters(), 0
    for rec in _cache(cache_dir).list_cache_records():
        md = chapters.get(str(Path(rec.uri).resolve()))
        if md is None or state.get(rec.uri, {}).get("hashkey") == rec.hashkey:
            continue
        state[rec.uri] = {"hashkey": rec.hashkey, "inputs": module_hashes(md, lib)}
        new += 1
    state_file.write_text(json.dumps(state, indent=1, sort_keys=True))
    return new


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["drop", "record"])
    parser.add_argument("--cache", default=str(ROOT / "_build" / ".jupyter_cache"), help="the jupyter-cache folder")
    args = parser.parse_args(argv)
    cache_dir = Path(args.cache)
    if args.action == "drop":
        drop(cache_dir)
    else:
        record(cache_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
