"""Book-level checks: pairing, badges, install cells, pins, table of contents, glossary, exercises, citations."""
import re
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from chapters import BOOK, NOTEBOOKS, ROOT, badge, chapter_sources, install_line, notebook_for
import exercise_index
import glossary

CHAPTERS = chapter_sources()
IDS = [md.relative_to(BOOK).as_posix() for md in CHAPTERS]


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


def test_there_are_chapters():
    assert len(CHAPTERS) >= 2


def test_every_notebook_has_its_source_and_every_source_its_notebook():
    expected = {notebook_for(md) for md in CHAPTERS}
    present = {p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert present == expected, "run `make notebooks` (orphans or missing pairs)"


def cell_view(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_pair_has_identical_cells(md):
    nb_path = notebook_for(md)
    assert nb_path.exists(), f"{nb_path} missing: run `make notebooks`"
    ipynb = nbformat.read(nb_path, as_version=4)
    assert cell_view(jupytext.read(md)) == cell_view(ipynb), f"{md.name} and its notebook differ: run `make notebooks`"
    assert all(not c.get("outputs") for c in ipynb.cells if c.cell_type == "code"), "notebooks are stored without outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_badge_and_install_cell_point_at_config_repository(md):
    text = md.read_text(encoding="utf-8")
    assert text.count("colab-badge.svg") == 1 and badge(md) in text, f"{md.name}: badge stale, run `make notebooks`"
    first_code = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert install_line() in first_code.source, f"{md.name}: first code cell must install nnbook from _config.yml's URL"
    assert 'if "google.colab" in sys.modules:' in first_code.source


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    files = toc_files()
    for md in CHAPTERS:
        assert md.relative_to(ROOT).with_suffix("").as_posix() in files, f"{md} is not in _toc.yml"
    for f in files:
        assert (ROOT / f"{f}.md").exists(), f"_toc.yml names {f}, which does not exist"


def dev_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project, sorted(project["optional-dependencies"]["dev"])


def test_environment_yml_pins_match_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(p for p in pip if "==" in p) == dev_pins()[1]


def test_package_takes_torch_as_a_range_and_dev_pins_it():
    project, pins = dev_pins()
    torch_req = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert "==" not in torch_req and ">=" in torch_req
    assert "torch==2.13.0" in pins  # the CPU wheel on disk, see FACTS.md
    names = {re.split("[<>=]", d)[0] for d in project["dependencies"]}
    assert names <= {re.split("[<>=]", p)[0] for p in pins}, "every runtime dependency is pinned for the local setup"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_glossary_page_is_generated_from_the_chapters():
    page = (BOOK / "appendix" / "glossary.md").read_text(encoding="utf-8")
    assert page == glossary.render(), "glossary.md is stale: run `make notebooks`"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_glossary_term_has_english_and_chinese(md):
    terms = glossary.chapter_terms(md)
    assert terms, f"{md.name} has no Key terms glossary block"
    for en, zh in terms:
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{md.name}: term {en!r} lacks its Chinese form (got {zh!r})"


EX_BLOCK = re.compile(r"```\{exercise-start\}.*?```\{exercise-end\}", re.S)
SOL_BLOCK = re.compile(r"```\{solution-start\}.*?```\{solution-end\}", re.S)


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_chapter_has_enough_exercises(md):
    text = md.read_text(encoding="utf-8")
    coding = [b for b in EX_BLOCK.findall(text) if re.search(r'check\("[\w.]+"', b)]
    conceptual = re.findall(r"```\{exercise\}", text)
    assert len(coding) >= 2, f"{md.name}: needs >= 2 coding exercises with a checker"
    assert len(coding) + len(conceptual) >= 4, f"{md.name}: needs >= 4 exercises"
    assert len(SOL_BLOCK.findall(text)) >= len(coding), f"{md.name}: every coding exercise needs a solution"
    for block in SOL_BLOCK.findall(text):
        for cell in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", block, re.S):
            assert re.search(r":tags: \[.*solution.*\]", cell), f"{md.name}: a solution code cell is not tagged `solution`"


def test_every_citation_resolves():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for md in BOOK.rglob("*.md"):
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", md.read_text(encoding="utf-8")):
            for key in group.split(","):
                assert key.strip() in keys, f"{md.name} cites {key!r}, which is not in references.bib"


def test_exercise_index_is_generated_from_the_chapters():
    page = exercise_index.INDEX_PAGE.read_text(encoding="utf-8")
    assert page == exercise_index.render(), "book/part0/exercise_index.md is stale: run `make notebooks`"
    for md in CHAPTERS:
        kinds = [k for k, _, _ in exercise_index.chapter_exercises(md)]
        assert kinds.count("coding") >= 2 and len(kinds) >= 4, f"{md.name}: the index sees too few exercises"


HAND_PLACED_DEVICE = re.compile(r"\.cuda\(|\.to\(\s*['\"]cuda|device\s*=\s*['\"]cuda")


@pytest.mark.parametrize("path", CHAPTERS + sorted((ROOT / "lib" / "nnbook").glob("*.py")), ids=lambda p: p.name)
def test_no_device_is_hard_coded(path):
    """Chapters run unchanged on CPU and GPU: the device comes from nnbook.get_device()."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert not HAND_PLACED_DEVICE.search(line), f"{path.name}:{n} places a tensor on CUDA by hand: {line.strip()}"


def test_pages_workflow_builds_the_book_and_deploys_the_html():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    assert wf[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as True
    steps = wf["jobs"]["build"]["steps"]
    assert any(s.get("run") == "make book" for s in steps)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert wf["jobs"]["deploy"]["needs"] == "build"


def test_every_term_is_defined_once_and_listed_with_its_chinese_and_chapter():
    page = (BOOK / "appendix" / "glossary.md").read_text(encoding="utf-8")
    seen = {}
    for md in CHAPTERS:
        doc = "/" + md.relative_to(ROOT).with_suffix("").as_posix()
        for en, zh in glossary.chapter_terms(md):
            assert en.lower() not in seen, f"{en!r} is defined in {seen.get(en.lower())} and again in {md.name}"
            seen[en.lower()] = md.name
            assert f"| {{term}}`{en}` | {zh} | " in page and f"<{doc}>`" in page, f"{en!r} missing from the glossary page"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_display_math_stands_apart_from_text(md):
    """`$$` glued to a line of text makes MyST pair the dollars wrongly: the formula shows as raw TeX."""
    lines = md.read_text(encoding="utf-8").split("\n")
    opening, in_code = True, False
    for n, ln in enumerate(lines):
        s = ln.strip()
        if s.startswith("```{code-cell") or (s == "```" and in_code):
            in_code = not in_code
        if in_code or s != "$$":
            continue
        other = lines[n - 1] if opening else (lines[n + 1] if n + 1 < len(lines) else "")
        fine = not other.strip() or other.strip().startswith((":::", "```", ":label:"))
        assert fine, f"{md.name}:{n + 1}: put a blank line {'before' if opening else 'after'} this `$$`"
        opening = not opening


def test_the_pages_workflow_publishes_the_branch_the_badges_open():
    """Badges open blob/EDITION_BRANCH/...: the workflow must write that branch from the rendered edition."""
    from chapters import EDITION_BRANCH

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    steps = wf["jobs"]["build"]["steps"]
    built = next(i for i, s in enumerate(steps) if s.get("run") == "make book")
    publish = next(i for i, s in enumerate(steps) if f"git init -q -b {EDITION_BRANCH}" in s.get("run", ""))
    run = steps[publish]["run"]
    assert built < publish and "cd _build/colab" in run and "cp -r _build/student _build/colab/student" in run
    assert re.search(rf"git push -f \S+ {EDITION_BRANCH}$", run.strip(), re.M)
    assert wf["permissions"]["contents"] == "write"
    for md in chapter_sources():
        assert f"/blob/{EDITION_BRANCH}/{md.relative_to(BOOK).with_suffix('.ipynb').as_posix()})" in badge(md)
