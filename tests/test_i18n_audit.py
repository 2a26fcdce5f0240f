"""The Chinese edition's audits (tools/i18n_audit.py) on small examples, and its key terms on the real catalogs;
no build needed (tests/i18n/test_english_left.py runs the English audit on the built site)."""
import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import i18n  # noqa: E402
import i18n_audit as audit  # noqa: E402

UNTRANSLATED = "The energy never increases when the weights are symmetric and the update is asynchronous."


def page(body: str) -> str:
    """A page as the book's theme lays it out: sidebar and header around the article, which holds the prose."""
    return (f'<html><body><div class="bd-sidebar-primary"><p>Part 0 — Start here, and all of the other parts</p></div>'
            f'<header><p>Search this book with the keyboard</p></header>'
            f'<main><article class="bd-article">{body}</article></main>'
            f'<footer><p>By the authors of the course, with thanks</p></footer></body></html>')


def test_chinese_prose_with_names_math_and_units_has_no_english():
    html = page('<h2>Hopfield 网络的能量<a class="headerlink" href="#e">#</a></h2>'
                '<p>离散 Hopfield 网络 <span class="math notranslate nohighlight">\\(E(x) = -\\tfrac12 x^\\top W x\\)</span> '
                '在异步更新下从不增加。我们用 Adam 训练 ReLU 网络，在 MNIST 上每步约 3 ms；GAN 与 VAE 见第 15 章，'
                'LaSalle 不变性原理见第 4 章，残差连接（residual connection）见第 2 章。</p>'
                '<p>其中 $x_i$ 是第 $i$ 个神经元的状态，$\\text{for all } i$ 成立。</p>')
    assert audit.english_words(html) == []


@pytest.mark.parametrize("element", ["p", "li", "td", "th", "h1", "h3", "dd", "figcaption"])
def test_an_untranslated_sentence_is_caught_in_any_kind_of_prose(element):
    html = page(f"<p>能量函数。</p><{element}>{UNTRANSLATED}</{element}>")
    words = audit.english_words(html)
    assert [w.lower() for w in words] == ["the", "when", "the", "are", "and", "the"]
    assert audit.english_phrases(html) == [UNTRANSLATED]


def test_titles_of_admonitions_definitions_and_exercises_are_prose():
    html = page('<div class="proof definition admonition"><p class="admonition-title">'
                '<span class="caption-number">定义 13 </span>(The network with its weights)</p></div>'
                '<div class="exercise admonition"><p class="admonition-title">Exercise: what is the energy?</p></div>')
    assert [w.lower() for w in audit.english_words(html)] == ["the", "with", "its", "what", "the"]


NOT_PROSE = {
    "code": "<p>调用 <code class=\"docutils literal notranslate\"><span class=\"pre\">{}</span></code>。</p>",
    "code block": '<div class="highlight-python notranslate"><div class="highlight"><pre>{}</pre></div></div>',
    "cell input": '<div class="cell docutils container"><div class="cell_input docutils container">{}</div></div>',
    "cell output": '<div class="cell docutils container"><div class="cell_output docutils container">'
                   '<div class="output stream highlight-myst-ansi notranslate"><div>{}</div></div></div></div>',
    "hidden cell toggle": '<div class="cell tag_hide-input docutils container"><details class="admonition hide above-input">'
                          '<summary><p class="collapsed admonition-title">{}</p></summary></details></div>',
    "inline math": '<p>能量 <span class="math notranslate nohighlight">\\(\\text{{{}}}\\)</span> 下降。</p>',
    "display math": '<div class="math notranslate nohighlight">\\[\\text{{{}}}\\]</div>',
    "math in text": "<p>能量 \\(\\text{{{}}}\\) 下降。</p>",
    "dollar math in text": "<p>能量 $\\text{{{}}}$ 下降。</p>",
    "citation": '<p>离散网络 <span class="bibtex-citation" id="id1">[<a class="reference internal" '
                'href="../appendix/references.html#id10" title="J. J. Hopfield. {}">Hopfield, 1982</a>]</span>。</p>',
    "citation link": '<p>见 <a class="reference internal" href="../appendix/references.html#id3">{}</a>。</p>',
    "bibliography": '<div class="citation-list" role="list"><div class="citation" role="doc-biblioentry">'
                    '<span class="label">[Hop82]</span><p>{}</p></div></div>',
    "glossary term": '<p>用作<a class="reference internal" href="#term-x"><span class="xref std std-term">{}</span></a>。</p>',
    "glossary entry": '<dl class="simple glossary"><dt id="term-x">{}<a class="headerlink" href="#term-x">#</a></dt>'
                      '<dd><p>按内容寻址的存储。</p></dd></dl>',
    "quiz": '<div class="nnbook-quiz"><div id="q1"><style>.Quiz {{ }}</style><p>{}</p></div></div>',
    "language switch": '<div class="nnbook-language-switch"><a href="../x.html" hreflang="en">{}</a></div>',
}


@pytest.mark.parametrize("kind", NOT_PROSE)
def test_code_math_citations_glossary_terms_and_the_quiz_are_not_prose(kind):
    assert audit.english_words(page(f"<p>{UNTRANSLATED}</p>")), "the sentence itself is caught"
    assert audit.english_words(page(NOT_PROSE[kind].format(UNTRANSLATED))) == [], kind


def test_only_the_article_is_read():
    html = page("<p>本章。</p>")
    assert "all of the other parts" in html and audit.english_words(html) == []


def test_the_report_names_the_pages_over_the_threshold(tmp_path, capsys):
    book = tmp_path / "book" / "part1"
    book.mkdir(parents=True)
    (book / "chinese.html").write_text(page("<p>离散 Hopfield 网络（discrete Hopfield network）。</p>"), encoding="utf-8")
    english = " ".join([UNTRANSLATED] * 2)  # 12 function words
    (book / "english.html").write_text(page(f"<p>{english}</p>"), encoding="utf-8")
    report = audit.english_report(tmp_path)
    assert {page: count for page, (count, _) in report.items()} == {"book/part1/chinese.html": 0, "book/part1/english.html": 12}
    assert audit.closest(report).startswith("book/part1/english.html: 12")
    assert audit.main(["english", str(tmp_path)]) == 1
    assert "1 page(s) over the threshold: book/part1/english.html" in capsys.readouterr().out
    (book / "english.html").unlink()
    assert audit.main(["english", str(tmp_path)]) == 0


# ---------------------------------------------------------------------------------------------------------------
# Key terms

TERMS = [audit.Term.of(en, zh) for en, zh in [
    ("Boltzmann machine", "玻尔兹曼机"), ("Restricted Boltzmann machine", "受限玻尔兹曼机"),
    ("Discrete Hopfield network", "离散 Hopfield 网络"), ("Transformer", "Transformer 模型"),
    ("MADE", "掩码自编码分布估计"), ("Storage capacity", "存储容量"), ("Capacity", "模型容量"),
    ("EM algorithm", "期望最大化算法"), ("Back-propagation", "反向传播"), ("Undercomplete autoencoder", "欠完备自编码器（压缩结构）"),
    ("Precision and recall (generative models)", "精确率与召回率（生成模型）"), ("Self-attention", "自注意力/自关注"),
]]


def wrong(msgid: str, msgstr: str) -> list[str]:
    return [w.term for w in audit.inconsistencies_in(msgid, msgstr, TERMS)]


@pytest.mark.parametrize("msgid, msgstr, terms", [
    ("A Boltzmann machine learns.", "玻尔兹曼机会学习。", []),
    ("A Boltzmann machine learns.", "波尔兹曼机会学习。", ["Boltzmann machine"]),  # another Chinese word
    ("Boltzmann machines learn.", "波尔兹曼机会学习。", ["Boltzmann machine"]),  # plural
    ("BOLTZMANN MACHINE", "波尔兹曼机", ["Boltzmann machine"]),  # any case
    ("A restricted Boltzmann machine.", "受限玻尔兹曼机。", []),  # the longer term covers the shorter
    ("A restricted Boltzmann machine.", "受限波尔兹曼机。", ["Restricted Boltzmann machine"]),
    ("The discrete Hopfield network.", "离散Hopfield网络。", []),  # white space in the Chinese does not matter
    ("Back propagation and back-propagation.", "反向传播。", []),
    ("Back propagation.", "逆传播。", ["Back-propagation"]),  # a space for the hyphen
    ("A Transformer block.", "一个 Transformer 块。", []),  # the term kept in Latin letters
    ("The EM algorithm of chapter 3.", "第 3 章的期望最大化（EM）算法。", []),  # a Latin gloss inside the Chinese
    ("The EM algorithm of chapter 3.", "第 3 章的 EM 算法。", ["EM algorithm"]),
    ("An undercomplete autoencoder.", "欠完备自编码器。", []),  # the csv's parenthesised qualifier dropped
    ("Precision and recall.", "精确率和召回率。", ["Precision and recall"]),
    ("Self-attention.", "自关注。", []),  # one of the csv's alternatives
    ("The model was made by hand.", "该模型是手工制作的。", []),  # "made" is not MADE
    ("MADE masks its weights.", "掩码自编码器给权重加掩码。", ["MADE"]),
    ("The storage capacity is 0.138N.", "存储容量为 0.138N。", []),  # not the Capacity of a model
    ("Its energy $E_{\\text{Boltzmann machine}}$.", "它的能量 $E_{\\text{Boltzmann machine}}$。", []),  # math
    ("Call `boltzmann_machine()` or `Boltzmann machine`.", "调用 `boltzmann_machine()` 或 `Boltzmann machine`。", []),
    ("A {term}`Boltzmann machine`.", "一个{term}`波尔兹曼机 <Boltzmann machine>`。", []),  # a role's target
    ("A {term}`Boltzmann machine <Boltzmann machine>`.", "一个{term}`波尔兹曼机 <Boltzmann machine>`。",
     ["Boltzmann machine"]),  # a role's title is text
    ("See [the Boltzmann machine](https://x.example/boltzmann-machine).", "见[玻尔兹曼机](https://x.example/boltzmann-machine)。", []),
    ("A Boltzmann machine.", "一个{term}`波尔兹曼机 <Boltzmann machine>`。", ["Boltzmann machine"]),  # not in Latin: a target
])
def test_a_term_is_looked_for_as_a_word_and_its_translation_in_chinese_or_latin(msgid, msgstr, terms):
    assert wrong(msgid, msgstr) == terms


def test_the_real_catalogs_use_the_key_terms_of_the_terminology_list():
    """Every translated message of every catalog (pages' and quizzes'), against locales/zh_CN/terminology.csv."""
    found = audit.term_inconsistencies()
    assert not found, f"{len(found)} translation(s) use another Chinese word for a key term:\n" + "\n".join(map(str, found[:30]))


def test_a_planted_inconsistent_translation_is_reported(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  'msgid "Gibbs sampling alternates the two layers."\nmsgstr "吉布斯采样交替更新两层。"\n\n'
                  'msgid "A restricted Boltzmann machine has no visible-visible weights."\n'
                  'msgstr "限制玻尔兹曼机没有可见单元之间的权重。"\n\n'
                  '#, fuzzy\nmsgid "The ELBO of a variational autoencoder."\nmsgstr "变分编码器的下界。"\n', encoding="utf-8")
    found = audit.term_inconsistencies([po])
    assert [(w.catalog, w.term) for w in found] == [("page.po", "Restricted Boltzmann machine")]
    assert "restricted Boltzmann machine" in found[0].english and "限制玻尔兹曼机" in found[0].chinese
    assert audit.main(["terms", str(po)]) == 1


def test_the_exceptions_name_terms_and_messages_that_exist():
    """An entry of GENERIC_TERMS or ALLOWED that no longer matches anything is to be removed."""
    with open(i18n.TERMS, encoding="utf-8", newline="") as f:
        english = {row["english"] for row in csv.DictReader(f)}
    assert set(audit.GENERIC_TERMS) <= english
    for catalog, term, start in audit.ALLOWED:
        assert term in english, term
        messages = i18n.translations(i18n.CATALOGS / catalog)
        assert any(msgid.startswith(start) for msgid in messages), (catalog, start)
