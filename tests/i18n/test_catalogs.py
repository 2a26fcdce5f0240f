"""The Chinese edition after `make test-build-zh`: its catalogs against the English pages, and its site.

Run by `make test-build-zh` (it extracts the English messages into _build/i18n and builds the Chinese site
into _build/zh/_build/html, to be published as _build/html/zh) after the English build; `pytest tests`
leaves this folder out."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import i18n  # noqa: E402

POT = ROOT / "_build" / "i18n" / "_build" / "gettext"
EN = ROOT / "_build" / "html"
ZH = ROOT / "_build" / "zh" / "_build" / "html"
PUBLISHED = EN / "zh"  # where the Chinese pages will lie, beside the English ones


def test_every_english_message_has_its_entry_in_the_catalogs():
    """An English page edited without `make po` (and its translation) fails here, naming the messages."""
    pots = sorted(POT.rglob("*.pot"))
    assert pots, f"no message templates in {POT}: run `make pot`"
    lacking = {}
    for pot in pots:
        po = i18n.CATALOGS / pot.relative_to(POT).with_suffix(".po")
        if gone := i18n.missing(pot, po):
            lacking[po.relative_to(ROOT).as_posix()] = [m[:80] for m in gone[:5]] + ([f"... {len(gone)} in all"] if len(gone) > 5 else [])
    assert not lacking, f"run `make po` and translate the new messages: {lacking}"


def zh_pages() -> list[Path]:
    pages = sorted((ZH / "book").rglob("*.html"))  # the book's pages (not the generated indexes, not the redirect)
    assert pages, f"no Chinese edition in {ZH}: run `make test-build-zh`"
    return pages


def test_each_chinese_page_is_chinese_and_links_to_itself_in_english():
    for page in zh_pages():
        html = page.read_text(encoding="utf-8")
        assert '<html lang="zh-CN"' in html, page
        m = re.search(r'<div class="nnbook-language-switch"><a href="([^"]+)" hreflang="en"', html)
        assert m, f"{page}: no language switch"
        target = ((PUBLISHED / page.relative_to(ZH)).parent / m.group(1)).resolve()
        assert target == (EN / page.relative_to(ZH)).resolve() and target.is_file(), (page, m.group(1))


def test_chinese_search_finds_chinese_words():
    """Sphinx's Chinese search splits the text into words with jieba: 玻尔兹曼 and 扩散 are words of its index.
    The English index keeps each Chinese phrase whole (受限玻尔兹曼机), as it splits at spaces only."""
    import json

    def terms(site):
        text = (site / "searchindex.js").read_text(encoding="utf-8")
        return json.loads(text[text.index("(") + 1: text.rindex(")")])["terms"]

    zh, en = terms(ZH), terms(EN)
    for word in ("玻尔兹曼", "扩散"):
        assert word in zh, word
        assert word not in en and any(word in t for t in en), word


def test_the_numbers_on_a_chinese_page_are_those_of_its_english_page():
    """Glued numbers in translated paragraphs come from the same executed notebooks (one cache, both editions)."""
    from collections import Counter

    from bs4 import BeautifulSoup

    differ = {}
    for page in zh_pages():
        english = EN / page.relative_to(ZH)
        zh = Counter(s.get_text() for s in BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select("span.pasted-text"))
        en = Counter(s.get_text() for s in BeautifulSoup(english.read_text(encoding="utf-8"), "html.parser").select("span.pasted-text"))
        if zh != en:
            differ[page.name] = (dict(zh - en), dict(en - zh))
    assert not differ, differ


def test_no_markup_shows_on_a_chinese_page():
    """No literal ** (bold that CommonMark did not take, next to full-width punctuation) and no role text."""
    from bs4 import BeautifulSoup

    shown = []
    for page in zh_pages():
        main = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("main")
        for el in main.find_all(["p", "li", "td", "th", "dt", "dd", "h1", "h2", "h3", "h4"]):
            text = el.get_text()
            if not el.find_parent(["pre", "code"]) and ("**" in text or re.search(r"\{(term|doc|ref|glue:text)\}`", text)):
                shown.append(f"{page.relative_to(ZH)}: {text[:100]}")
    assert not shown, "\n".join(shown[:20])


def test_the_tables_of_the_model_answers_are_translated_too():
    """Table cells inside a dropdown inside an exam box (chapter 7's LSTM/GRU answer) reach the catalogs."""
    from bs4 import BeautifulSoup

    def tables(site):
        html = (site / "book" / "part3_deep" / "07_rnn_bptt.html").read_text(encoding="utf-8")
        return " ".join(t.get_text(" ") for t in BeautifulSoup(html, "html.parser").find_all("table"))

    assert "weight blocks" in tables(EN) and "weight blocks" not in tables(ZH)


def test_the_sidebar_and_the_quiz_are_chinese_and_the_badge_opens_the_chinese_notebook():
    """What does not come from a page's own text: the parts' captions (from _toc.yml), the quiz (an executed
    output) and the Colab badge's address."""
    import json

    from bs4 import BeautifulSoup

    from nnbook import quiz

    catalog = i18n.translations(i18n.CATALOGS / "book" / "index.po")
    for page in zh_pages():
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        captions = [c.get_text() for c in soup.select("nav p.caption span.caption-text")]
        assert captions and all(c in catalog.values() for c in captions), (page.name, captions)
        source = ROOT / page.relative_to(ZH).with_suffix(".md")
        quiz_file = source.with_suffix(".quiz.json")
        if not quiz_file.is_file():
            continue
        translated = i18n.translated_quiz(quiz_file)
        assert json.dumps(quiz.to_jupyterquiz(translated)) in page.read_text(encoding="utf-8"), page.name
        badges = [a["href"] for a in soup.select("article a[href^='https://colab.research.google.com/']")]
        assert badges and all("/blob/colab/zh/" in b for b in badges), (page.name, badges)


def test_the_chinese_glossary_is_in_pinyin_order_chinese_first():
    from bs4 import BeautifulSoup
    from pypinyin import Style, lazy_pinyin

    def rows(site):
        table = BeautifulSoup((site / "book" / "appendix" / "glossary.html").read_text(encoding="utf-8"),
                              "html.parser").select_one("article table")
        return [[td.get_text().strip() for td in tr.select("td")] for tr in table.select("tbody tr")]

    zh, en = rows(ZH), rows(EN)
    assert len(zh) == len(en) > 100
    assert sorted(r[1] for r in zh) == sorted(r[0] for r in en)  # the same terms, the columns swapped
    initials = ["".join(lazy_pinyin(r[0], style=Style.FIRST_LETTER)).lower()[:1] for r in zh]
    assert initials == sorted(initials), initials
    assert initials[0] < initials[-1]  # not all under one letter
