"""The Chinese notebook editions (`make book-zh`: _build/colab/zh, _build/student/zh) against the Chinese site
(_build/html/zh) and the English editions: the same code, the text and the quiz in Chinese, links and badge
to the Chinese pages and notebooks."""
from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

import editions
import i18n
from chapters import ROOT, chapter_sources
from nnbook import quiz

CHAPTERS = chapter_sources()
ZH_SITE = ROOT / "_build" / "html" / "zh"
EDITIONS = {"colab": ROOT / "_build" / "colab", "student": ROOT / "_build" / "student"}
CJK = re.compile(r"[\u4e00-\u9fff]")
TITLE_LINE = re.compile(r"^# @title .*\n")  # a folded cell's title, in the edition's language


def notebook(edition: str, md: Path, zh: bool = True):
    path = EDITIONS[edition] / ("zh" if zh else "") / editions.rel_of(md).with_suffix(".ipynb")
    if not path.exists():
        pytest.fail(f"no {path.relative_to(ROOT)}: run `make book` (or `make book-zh`)")
    return nbformat.read(path, as_version=4)


def markdown_of(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def quiz_cell(nb):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "quiz" in c.metadata.get("tags", [])]
    return cell


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("md", CHAPTERS, ids=lambda md: md.stem)
def test_the_chinese_edition_has_the_english_code_and_chinese_text(edition, md):
    zh, en = notebook(edition, md), notebook(edition, md, zh=False)
    code = lambda nb: [TITLE_LINE.sub("", c.source, count=1) for c in nb.cells  # noqa: E731
                       if c.cell_type == "code" and "quiz" not in c.metadata.get("tags", [])]
    assert code(zh) == code(en)
    text = markdown_of(zh)
    assert len(CJK.findall(text)) > 0.5 * len(re.findall(r"[A-Za-z]", text)), f"{md.stem}: hardly any Chinese"
    for i, cell in enumerate(zh.cells):
        if cell.cell_type == "markdown":
            assert editions.myst_leftovers(cell.source) == [], f"{edition}/zh/{md.stem} cell {i}"
    assert "Solution" not in text and "Self-check quiz" not in text
    assert zh.metadata["nnbook"]["page"].startswith(editions.site_url() + "zh/")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda md: md.stem)
def test_the_quiz_cell_asks_the_translated_questions(md):
    cell = quiz_cell(notebook("colab", md))
    assert cell.source.startswith("# @title 自测题")
    written = ast.literal_eval(re.search(r"^QUESTIONS = (.*)^quiz\.show\(QUESTIONS, lang=\"zh\"\)$", cell.source, re.M | re.S).group(1))
    quiz_file = md.with_name(md.stem + ".quiz.json")
    assert written == i18n.translated_quiz(quiz_file)
    english = quiz.load(quiz_file)
    assert [q.get("value") for q in written] == [q.get("value") for q in english]  # the same answers
    assert all(CJK.search(q["question"]) for q in written)


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda md: md.stem)
def test_links_and_badge_lead_to_the_chinese_pages_and_notebooks(md):
    site = editions.site_url() + "zh/"
    text = markdown_of(notebook("colab", md))
    internal = [u for u in re.findall(r"\]\((https?://[^)\s]+)\)", text) if u.startswith(editions.site_url())]
    assert internal, f"{md.stem}: no link to the website"
    for url in internal:
        assert url.startswith(site), f"{md.stem}: {url} leads to the English site"
        target = ZH_SITE / urlsplit(url).path[len(urlsplit(site).path):]
        assert target.is_file(), f"{md.stem}: {url} is not a page of the Chinese site"
    badges = re.findall(r"colab\.research\.google\.com/github/[^)]+/blob/colab/([^)]+)\)", text)
    assert badges == [f"zh/{editions.rel_of(md).as_posix()}.ipynb"], badges
