"""The Chinese edition's catalogs and tools (tools/i18n.py, _ext/nnbook_i18n.py), without a build."""
import csv
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "_ext"))
import i18n  # noqa: E402
import nnbook_i18n  # noqa: E402


def test_every_translation_keeps_the_markup_of_its_message():
    assert i18n.catalogs(), "no catalogs under locales/zh_CN/LC_MESSAGES"
    found = [line for po in i18n.catalogs() for line in i18n.problems(po)]
    assert not found, "\n".join(found[:20])


def test_every_catalog_is_translated_whole():
    """0 untranslated and 0 fuzzy messages in every catalog: after an English edit and `make po`, the new
    messages must be translated before the change lands."""
    open_ = {po.relative_to(ROOT).as_posix(): i18n.stat(po) for po in i18n.catalogs()}
    open_ = {name: f"{u} untranslated, {fz} fuzzy" for name, (_, fz, u) in open_.items() if fz or u}
    assert not open_, open_


@pytest.mark.parametrize("msgid, msgstr, ok", [
    ("weights of a {term}`Discrete Hopfield network` with $W = W^\\top$",
     "{term}`离散 Hopfield 网络 <Discrete Hopfield network>`的权重 $W = W^\\top$", True),
    ("see {doc}`Diffusion models (扩散模型) </book/part4_generative/17_diffusion>`",
     "见 {doc}`扩散模型 </book/part4_generative/17_diffusion>`", True),
    ("it reaches {glue:text}`ll:.2f` nats", "它达到 {glue:text}`ll:.3f` 奈特", False),  # a changed format
    ("the energy $E(x)$ falls", "能量 $E(y)$ 下降", False),  # changed math
    ("call `hebbian_weights`", "调用 hebbian_weights", False),  # lost code
    ("a {term}`Boltzmann machine`", "{term}`玻尔兹曼机`", False),  # a term that points elsewhere
    ("[the notes](https://a.example/x)", "[讲义](https://a.example/y)", False),
])
def test_the_markup_check_tells_a_kept_markup_from_a_broken_one(msgid, msgstr, ok):
    assert (i18n.markup(msgid) == i18n.markup(msgstr)) is ok


def test_apply_refuses_a_batch_that_breaks_markup_and_writes_nothing(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "The energy $E$"\nmsgstr ""\n\nmsgid "Summary"\nmsgstr ""\n', encoding="utf-8")
    before = po.read_bytes()
    assert i18n.apply(po, {"The energy $E$": "能量", "Summary": "小结"})  # lost the math
    assert po.read_bytes() == before
    assert i18n.apply(po, {"The energy $E$": "能量 $E$", "Summary": "小结"}) == []
    assert i18n.stat(po) == (2, 0, 0)
    assert i18n.apply(po, {"Not a message": "不是"}) == ["not a message of page.po: 'Not a message'"]


def test_an_english_edit_shows_as_a_missing_translation(tmp_path):
    """The check `make test-build-zh` runs on fresh catalogs: one English sentence changed in a scratch copy
    of a page's messages, and the catalog lacks it."""
    po = ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "book" / "index.po"
    from babel.messages.pofile import read_po, write_po

    with open(po, "rb") as f:
        cat = read_po(f)
    pot = tmp_path / "index.pot"
    with open(pot, "wb") as f:
        write_po(f, cat, omit_header=False)
    assert i18n.missing(pot, po) == []
    first = next(m for m in cat if m.id)
    edited = first.id + " Edited."
    cat.delete(first.id)
    cat.add(edited)
    with open(pot, "wb") as f:
        write_po(f, cat)
    assert i18n.missing(pot, po) == [edited]


def test_the_terminology_list_is_the_chapters_key_terms(tmp_path, monkeypatch):
    monkeypatch.setattr(i18n, "TERMS", tmp_path / "terminology.csv")
    monkeypatch.setattr(i18n, "LOCALE", tmp_path)
    fresh = i18n.write_terms().read_text(encoding="utf-8")
    assert (ROOT / "locales" / "zh_CN" / "terminology.csv").read_text(encoding="utf-8") == fresh, \
        "locales/zh_CN/terminology.csv is stale: run `python tools/i18n.py terms`"
    rows = list(csv.DictReader(fresh.splitlines()))
    assert len(rows) > 100 and all(r["english"] and r["chinese"] and r["chapter"] for r in rows)
    english = [r["english"].lower() for r in rows]
    assert len(english) == len(set(english)), "a term is defined twice"
    unknown = set(i18n.notes_names()) - {r["english"] for r in rows}
    assert not unknown, f"locales/zh_CN/notes_names.csv names terms the book does not define: {unknown}"


def test_the_chinese_config_is_the_books_own_in_chinese(tmp_path):
    cfg = yaml.safe_load(i18n.write_config(tmp_path / "_config.yml").read_text(encoding="utf-8"))
    english = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert cfg["sphinx"]["config"]["language"] == "zh_CN" and cfg["title"] == i18n.ZH_TITLE
    assert cfg["execute"] == english["execute"] and cfg["parse"] == english["parse"]
    for path in [*cfg["sphinx"]["config"]["locale_dirs"], *cfg["bibtex_bibfiles"], *cfg["sphinx"]["local_extensions"].values()]:
        assert Path(path).is_absolute() and Path(path).exists(), path


def _page(language: str, switch: bool):
    app = SimpleNamespace(config=SimpleNamespace(language=language, nnbook_language_switch=switch),
                          builder=SimpleNamespace(format="html", out_suffix=".html"))
    context = {"body": "<p>text</p>", "metatags": "", "pathto": lambda uri, resource=0: f"../../{uri}"}
    nnbook_i18n._switch(app, "book/part2_dynamic/05_dhnn", "page.html", context, None)
    return context


def test_each_page_links_to_itself_in_the_other_edition():
    zh = _page("zh_CN", switch=False)
    assert 'href="../../../book/part2_dynamic/05_dhnn.html" hreflang="en"' in zh["body"]
    assert zh["body"].endswith("<p>text</p>") and 'hreflang="en"' in zh["metatags"]
    en = _page("en", switch=True)
    assert 'href="../../zh/book/part2_dynamic/05_dhnn.html" hreflang="zh-CN"' in en["body"] and ">中文</a>" in en["body"]
    assert _page("en", switch=False)["body"] == "<p>text</p>"  # not before the Chinese edition is published


@pytest.mark.parametrize("text, literal", [
    ("**题目。**写出损失", True), ("**题目。** 写出损失", False), ("由此得到的**{term}`玻尔兹曼机 <Boltzmann machine>`**", True),
    ("由此得到的 **{term}`玻尔兹曼机 <Boltzmann machine>`**", False), ("**Question.** Write", False),
])
def test_a_bold_that_commonmark_would_leave_literal_is_found_and_mended(text, literal):
    assert i18n.unclosed_emphasis(text) is literal
    assert not i18n.unclosed_emphasis(i18n.mend_emphasis(text))


@pytest.mark.parametrize("text, is_list", [("1. 前向过程：从数据到噪声", True), ("12) 甲", True), ("- 项", True),
                                           ("1\\. 前向过程", False), ("1.5 倍的速度", False), ("第 1. 节", False)])
def test_a_translation_that_markdown_would_read_as_a_list_is_found_and_mended(text, is_list, tmp_path):
    """A heading "1. The forward process" is one message; its translation "1. 前向过程" would parse as a list item,
    which Sphinx drops without a word: the heading stays English. `check` finds it, `mend` escapes it."""
    assert i18n.starts_a_list(text) is is_list
    assert not i18n.starts_a_list(i18n.mend_list_start(text))
    po = tmp_path / "x.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "1. The forward process"\nmsgstr ""\n', encoding="utf-8")
    wrong = i18n.apply(po, {"1. The forward process": text})
    assert bool(wrong) is is_list and (not is_list or "list item" in wrong[0])
    if is_list:
        i18n.apply(po, {"1. The forward process": i18n.mend_list_start(text)})
        assert i18n.translations(po)["1. The forward process"] == i18n.mend_list_start(text)
