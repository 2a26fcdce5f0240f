"""The rendered notebook editions (`make colab`) against the built website.

Needs `make book` (or `make test-build`), which renders both editions; run with
`make test-editions`. The expectations come from the HTML pages, parsed here, not
from the renderer: a number the page shows must be in the notebook, a link the
notebook gives must land on a page (and anchor) of the site.
"""
from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from urllib.parse import urlsplit

import jupytext
import nbformat
import pytest
from bs4 import BeautifulSoup

import editions
from chapters import ROOT, chapter_sources
from nnbook import quiz

CHAPTERS = chapter_sources()
HTML = ROOT / "_build" / "html"
EDITIONS = {"colab": ROOT / "_build" / "colab", "student": ROOT / "_build" / "student"}
TITLE_LINE = re.compile(r"^# @title .*\n")


def notebook(edition: str, md: Path):
    path = EDITIONS[edition] / editions.rel_of(md).with_suffix(".ipynb")
    if not path.exists():
        pytest.fail(f"no {path.relative_to(ROOT)}: run `make book` (it renders the editions) or `make colab`")
    return nbformat.read(path, as_version=4)


def page(md: Path) -> BeautifulSoup:
    path = editions.page_of(md)
    if not path.exists():
        pytest.fail(f"no built page {path.relative_to(ROOT)}: run `make book`")
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").select_one("article.bd-article")


def markdown_of(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def unescaped(text: str) -> str:
    """Markdown's backslash escapes removed (markdownify escapes _ and * in text)."""
    return re.sub(r"\\([_*\[\]\\`#])", r"\1", text)


ids = lambda md: md.stem  # noqa: E731


# ------------------------------------------------------------------ no MyST source left
@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_no_myst_syntax_remains(edition, md):
    nb = notebook(edition, md)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            assert editions.myst_leftovers(cell.source) == [], f"{edition}/{md.stem} cell {i}"


PLANTED = {
    "{prf:": "as {prf:ref}`thm-dhnn-async` shows",
    "{glue": "So {glue:text}`n_cycles` of the 8",
    "{term}": "a {term}`Associative memory`",
    "{cite": "networks {cite}`hopfield1982neural`",
    "{ref}": "see {ref}`sec-capacity`",
    "{numref}": "in {numref}`fig-basins`",
    "{exercise": "```{exercise-start}\n:label: ch05-x\n```",
    "{solution": "```{solution} ch05-x\n:class: dropdown\n```",
    "```{ fence": "```{note}\ntext\n```",
    ":::{ fence": ":::{admonition} You will learn\n- x\n:::",
    ":label: line": "```text\n```\n:label: def-dhnn",
}


@pytest.mark.parametrize("what", PLANTED)
def test_the_myst_check_finds_each_kind_of_leftover(what):
    """Each kind of MyST source, planted in a copy of a rendered chapter, is found."""
    nb = copy.deepcopy(notebook("colab", CHAPTERS[4]))
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and len(c.source) > 200)
    assert editions.myst_leftovers(cell.source) == []
    cell.source = cell.source[:100] + "\n\n" + PLANTED[what] + "\n\n" + cell.source[100:]
    assert editions.myst_leftovers(cell.source), f"{what} planted and not found"


# ------------------------------------------------------------------ glued values, as on the page
@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_every_glued_value_reads_as_on_the_page(md):
    """Every ``{glue}`` of the source shows on the page; each shown value is in the notebook, in order."""
    article = page(md)
    spans = article.select("span.pasted-text")
    roles = editions.GLUE_ROLE_RE.findall(md.read_text(encoding="utf-8"))
    assert len(spans) == len(roles), f"{md.stem}: {len(roles)} glue roles in the source, {len(spans)} values on the page"
    for edition in EDITIONS:
        text = unescaped(markdown_of(notebook(edition, md)))
        at = 0
        for span, role in zip(spans, roles):
            if edition == "student" and span.find_parent(class_="solution") is not None:
                continue  # the student edition has no solutions
            value = " ".join(span.get_text().split())
            found = text.find(value, at)
            assert found >= 0, f"{edition}/{md.stem}: glued {role!r} = {value!r} (as on the page) missing after " \
                                f"{text[max(0, at - 60):at]!r}"
            at = found + len(value)


# ------------------------------------------------------------------ solutions
@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_solutions_are_folded_in_the_colab_edition_and_gone_from_the_student_one(md):
    solutions = page(md).select("div.solution")
    assert solutions, f"{md.stem}: the page has no solutions"
    nb = notebook("colab", md)
    folded = [c for c in nb.cells if c.cell_type == "markdown" and "<summary><b>Solution to" in c.source]
    code_only = [c for c in nb.cells if c.cell_type == "markdown" and re.search(r"^\*\*Solution to .*folded", c.source, re.M)]
    first_parts = [c for c in folded if "(continued)" not in c.source.split("</summary>")[0]]
    assert len(first_parts) + len(code_only) == len(solutions)
    for cell in folded:
        assert "<details open" not in cell.source and cell.source.count("<details>") == cell.source.count("</details>")
    for cell in nb.cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            assert cell.metadata["jupyter"]["source_hidden"] is True and cell.source.startswith("# @title Solution to")
    student = notebook("student", md)
    assert "Solution to" not in markdown_of(student) and "<summary><b>Solution" not in markdown_of(student)
    assert not [c for c in student.cells if "solution" in c.metadata.get("tags", [])]
    # every exercise stub stays: the checks the student edition calls are the colab edition's minus its solutions'
    checks = lambda cells: [m for c in cells if c.cell_type == "code" for m in re.findall(r'check\("([\w.]+)"', c.source)]  # noqa: E731
    stubs = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    assert checks(student.cells) == checks(stubs) and checks(stubs)


# ------------------------------------------------------------------ code cells
@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_code_cells_are_the_sources_in_order_without_outputs(md):
    source = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
    cells = [c for c in notebook("colab", md).cells if c.cell_type == "code"]
    is_quiz = ["quiz" in c.metadata.get("tags", []) for c in source]
    assert [TITLE_LINE.sub("", c.source, count=1) for c, q in zip(cells, is_quiz) if not q] == \
        [c.source for c, q in zip(source, is_quiz) if not q]
    for cell, q in zip(cells, is_quiz):  # the quiz cell carries its questions: Colab has no quiz file
        if q:
            assert cell.source.startswith("# @title Self-check quiz") and cell.metadata["cellView"] == "form"
            written = ast.literal_eval(re.search(r"^QUESTIONS = (.*)^quiz\.show\(QUESTIONS\)$", cell.source,
                                                 re.M | re.S).group(1))
            assert written == quiz.load(md.with_name(md.stem + ".quiz.json"))
    assert all(c.outputs == [] and c.execution_count is None for c in cells)
    assert 'if "google.colab" in sys.modules:' in cells[0].source and "%pip install" in cells[0].source
    for cell, src in zip(cells, source):
        tags = src.metadata.get("tags", [])
        if {"remove-input", "hide-input"} & set(tags):
            assert cell.metadata["jupyter"]["source_hidden"] is True
        assert cell.metadata.get("tags", []) == tags


# ------------------------------------------------------------------ links and numbers
@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_links_land_on_the_website(md):
    """Every link into the website names a built page, and its #anchor exists on that page."""
    site = editions.site_url()
    text = markdown_of(notebook("colab", md))
    links = re.findall(r"\]\((https?://[^)\s]+)\)", text)
    internal = [u for u in links if u.startswith(site)]
    assert internal, f"{md.stem}: no link to the website"
    pages: dict[Path, set] = {}
    for url in internal:
        parts = urlsplit(url)
        target = HTML / parts.path[len(urlsplit(site).path):]
        assert target.is_file(), f"{md.stem}: {url} is not a page of the site"
        if parts.fragment:
            if target not in pages:
                soup = BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser")
                pages[target] = {t["id"] for t in soup.find_all(id=True)}
            assert parts.fragment in pages[target], f"{md.stem}: {url}: no anchor #{parts.fragment}"


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_boxes_carry_the_website_numbers_and_titles(md):
    """Each theorem/definition/exercise title of the page opens a box in the notebook, numbered as there."""
    article = page(md)
    text = markdown_of(notebook("colab", md))
    for title in article.select("div.proof > p.admonition-title, div.exercise > p.admonition-title"):
        number = title.find(class_="caption-number")
        if number is None:
            continue
        head = " ".join(number.get_text().split())
        assert re.search(rf"^> \*\*{re.escape(head)}\*\*", text, re.M), f"{md.stem}: no box '**{head}**'"
    assert "> **You will learn**" in text


@pytest.mark.parametrize("md", CHAPTERS, ids=ids)
def test_exam_points_keep_their_title_question_and_folded_answer(md):
    """Each exam-point box of the page is a quoted box in the notebook: its title, its question, and its
    model answer folded in <details> inside the box."""
    boxes = page(md).select("div.exam-point")
    assert boxes, f"{md.stem}: the page has no exam-point box"
    cells = [c.source for c in notebook("colab", md).cells if c.cell_type == "markdown"]
    for box in boxes:
        title = " ".join(box.select_one("p.admonition-title").get_text().split())
        cell = next((c for c in cells if f"> **{title}**" in unescaped(c)), None)
        assert cell is not None, f"{md.stem}: no box '> **{title}**' in the Colab edition"
        assert "> **Question.**" in cell, f"{md.stem}: {title}: no question"
        assert re.search(r"^> <details>\n> <summary><b>Model answer</b></summary>$", cell, re.M), \
            f"{md.stem}: {title}: the model answer is not folded inside the box"
        assert cell.count("<details>") == cell.count("</details>")


# ------------------------------------------------------------------ bad input
def _glue_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if "{glue:text}`" in line)


@pytest.mark.parametrize("plant, message", [
    ("```{mystery}\nbody\n```", "unknown directive {mystery}"),
    ("The value is {glue:text}`no_such_value`.", "glued name 'no_such_value' has no value"),
    ("See {doc}`the missing chapter <../part9/99_missing>`.", "link to a missing page '../part9/99_missing'"),
    ("See [this page](../part9/99_missing.md).", "link to a missing page '../part9/99_missing.md'"),
])
def test_a_bad_chapter_stops_with_chapter_line_and_reason(plant, message):
    md = CHAPTERS[4]
    lines = md.read_text(encoding="utf-8").splitlines()
    at = _glue_line("\n".join(lines)) + 1  # after a paragraph, outside code
    planted = "\n".join(lines[:at] + ["", plant, ""] + lines[at:])
    with pytest.raises(editions.EditionError) as err:
        editions.render_chapter(md, text=planted)
    assert f"{md.relative_to(ROOT).as_posix()}:{at + 2}: {message}" in str(err.value)


def test_a_page_built_from_another_source_is_refused(monkeypatch):
    md = CHAPTERS[4]
    real = jupytext.read

    def edited(path, *a, **k):
        nb = real(path, *a, **k)
        code = [c for c in nb.cells if c.cell_type == "code"]
        code[3].source += "\nprint('edited after the build')"
        return nb

    monkeypatch.setattr(editions.jupytext, "read", edited)
    with pytest.raises(editions.EditionError, match="differs from the page.*rebuild"):
        editions.render_chapter(md)


def test_make_colab_is_fast_enough():
    """Both editions of the whole book from a built book: well inside a minute on two cores."""
    import time

    start = time.perf_counter()
    for md in CHAPTERS:
        editions.render_chapter(md)
        editions.render_chapter(md, student=True)
    assert time.perf_counter() - start < 60


def test_make_grade_accepts_the_rendered_editions(tmp_path):
    """A student edition handed in untouched scores 0 with "not implemented yet"; the Colab
    edition (its solutions run after the stubs) scores full marks."""
    from nnbook.teaching import grade_folder

    md = CHAPTERS[4]
    rel = editions.rel_of(md).with_suffix(".ipynb")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "stub.ipynb").write_bytes((EDITIONS["student"] / rel).read_bytes())
    (tmp_path / "subs" / "solved.ipynb").write_bytes((EDITIONS["colab"] / rel).read_bytes())
    grades = grade_folder(tmp_path / "subs", chapter=md, timeout=120)
    by = {(g.submission, g.exercise): g for g in grades}
    names = {g.exercise for g in grades}
    assert len(names) >= 2
    for name in names:
        assert not by["stub.ipynb", name].passed and "not implemented yet" in by["stub.ipynb", name].message
        assert by["solved.ipynb", name].passed, by["solved.ipynb", name].message
