"""The maintainer's tools: the chapter -> module map, the cache guard (tools/cache_guard.py) and `make test-changed`."""
from __future__ import annotations

import shutil

import nbformat
import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn

import cache_guard
from chapters import LIB, ROOT, chapter_sources, nnbook_modules

CHAPTERS = chapter_sources()


@pytest.fixture
def scratch(tmp_path):
    """A copy of the package sources and a cache holding one (fake) execution per chapter."""
    lib = tmp_path / "nnbook"
    shutil.copytree(LIB, lib)
    cache = get_cache(str(tmp_path / "cache"))
    for i, md in enumerate(CHAPTERS):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = {i}")])
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(md.resolve())), check_validity=False)
    return lib, tmp_path / "cache"


def users_of(module: str) -> set[str]:
    return {md.relative_to(ROOT).as_posix() for md in CHAPTERS if module in nnbook_modules(md)}


def test_the_chapter_module_map_follows_imports():
    by_name = {md.stem: nnbook_modules(md) for md in CHAPTERS}
    assert "hopfield" in by_name["05_dhnn"] and "gan" not in by_name["05_dhnn"]
    assert "validate" in by_name["05_dhnn"]          # imported by hopfield, not by the chapter
    assert {"gan", "rbm", "flows", "diffusion"} <= by_name["18_comparison"]
    assert all("__init__" in mods for mods in by_name.values())


@pytest.mark.parametrize("module", ["gan", "validate"])  # used by some chapters; by every chapter, through other modules
def test_an_edited_module_drops_exactly_the_chapters_that_use_it(scratch, module):
    lib, cache = scratch
    cache_guard.record(cache, lib)
    assert cache_guard.drop(cache, lib) == []                           # nothing changed: all kept
    with open(lib / f"{module}.py", "a") as f:
        f.write("\n# an edit\n")
    expected = users_of(module)
    assert expected and (module == "validate" or len(expected) < len(CHAPTERS))
    assert set(cache_guard.drop(cache, lib)) == expected
    left = {r.uri for r in get_cache(str(cache)).list_cache_records()}
    assert len(left) == len(CHAPTERS) - len(expected)
    assert cache_guard.drop(cache, lib) == []                           # dropped once, not again


def test_an_execution_it_never_recorded_is_dropped(scratch):
    lib, cache = scratch
    assert len(cache_guard.drop(cache, lib)) == len(CHAPTERS)


def test_test_changed_picks_the_chapters_a_diff_touches(monkeypatch):
    import subprocess

    import check_chapter

    def fake_git(cmd, **kwargs):
        out = "lib/nnbook/gan.py\nbook/part2_dynamic/05_dhnn.md\nREADME.md\n" if cmd[1] == "diff" else ""
        return subprocess.CompletedProcess(cmd, 0, out, "")

    monkeypatch.setattr(check_chapter.subprocess, "run", fake_git)
    chosen = {md.stem for md in check_chapter.changed_chapters()}
    assert chosen == {"05_dhnn"} | {md.stem for md in CHAPTERS if "gan" in nnbook_modules(md)}
    assert {"15_gans", "18_comparison"} <= chosen and "14_vae" not in chosen


@pytest.mark.slow  # collects the chapter's tests in a pytest of its own: about 6 s
def test_make_check_selects_the_chapters_module_tests_and_checkers():
    """`make check`'s test step: every test of the chapter's modules (not only those naming the
    chapter), the book-level tests of this chapter only, and its modules' exercise checkers."""
    import subprocess
    import sys

    import check_chapter

    md = next(md for md in CHAPTERS if md.stem == "05_dhnn")
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *check_chapter.tests_for(md)],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    ids = [line for line in listed if "::" in line]
    assert "tests/test_hopfield.py::test_notes_worked_example_exactly" in ids
    assert any(i.startswith("tests/test_exercises.py::") and i.endswith("[hopfield.energy]") for i in ids)
    assert any(i.startswith("tests/test_project.py::") and "05_dhnn" in i for i in ids)
    assert not any(i.startswith(("tests/test_project.py::", "tests/test_teaching.py::")) and "04_lyapunov" in i for i in ids)
    assert not any("[gan." in i or "[chnn." in i for i in ids)


def test_the_exercise_cells_are_tagged_and_only_they():
    from chapters import tag_exercise_cells

    text = ("```{code-cell} ipython3\nsetup\n```\n```{exercise-start}\n:label: x\n```\nDo it.\n"
            "```{code-cell} ipython3\ndef f():\n    pass\n```\n```{code-cell} ipython3\n:tags: [raises-exception]\nf()\n```\n"
            "```{exercise-end}\n```\n```{code-cell} ipython3\n:tags: [solution]\ndef f():\n    return 1\n```\n")
    tagged = tag_exercise_cells(text)
    assert tagged.count(":tags: [exercise]") == 1 and ":tags: [raises-exception, exercise]" in tagged
    assert "```{code-cell} ipython3\nsetup" in tagged and ":tags: [solution]\n" in tagged
    assert tag_exercise_cells(tagged) == tagged
