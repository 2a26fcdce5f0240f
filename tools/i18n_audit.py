r"""Two audits of the Chinese edition: English prose left on its pages, and its key terms used consistently.

    python tools/i18n_audit.py english [SITE_DIR]   # English words left in each page's prose (default _build/zh/_build/html)
    python tools/i18n_audit.py terms [PO ...]       # translations that render a key term differently (default: all catalogs)

English left on a page (:func:`english_words`)
----------------------------------------------
Chinese technical text is full of Latin letters that belong there: names of people, methods and models
(Hopfield, Adam, ReLU, GAN, MNIST), units, variable names, and the English of a term glossed in parentheses
(联想记忆（associative memory）). Untranslated prose differs from all of these in one way: it is held together by
English *function words* -- articles, prepositions, conjunctions, pronouns, auxiliaries ("the", "with", "are",
"which"). Names and terms almost never contain them, and no English sentence goes without them. So the audit
counts the words of the page's prose that are in :data:`FUNCTION_WORDS`, a closed list, in any case (a
heading's first "The" counts), with at least three letters ("a", "A", "I" are variables; "He" is Kaiming He of
He initialisation). A term's gloss adds one now and then ("back-propagation through time"), an untranslated
heading one to three ("The probabilistic RBF network"), an untranslated paragraph many.

What counts as prose: the text of the page's article (``article.bd-article``: no sidebar, header or footer)
less code, math, citations, glossary terms, the quiz and the language switch (:data:`NOT_PROSE`), and less
anything between math delimiters left in its text.

The threshold (:data:`MAX_ENGLISH_WORDS`) is 7 per page; a page fails at 8, what one untranslated paragraph brings
by itself half the time (the English edition's paragraphs of 8 words or more hold a median of 8 function words,
its sentences of 8 words or more a median of 5: a lone sentence can pass). On the build of 6 December 2026 (25
pages) the most is 5, on the teaching guide, which quotes Colab's English menus and messages ("Run all", "not
implemented yet", "Open with"); then 3 (chapter 16: a term's gloss and "(out, in)" for a weight's shape), 2
("back-propagation through time", glossed twice), and 0 or 1 on every other page. Before its translations were
mended, that build counted 17 (teaching guide), 14 (chapters 14 and 15), 12 (17 and 18) and 10 (16): their
numbered headings and table cells ("1. The forward process: from data to noise") stayed English, as their
translations ("1. 前向过程……") parse as numbered lists, which Sphinx does not put in a heading's or a cell's place
(``tools/i18n.py check`` now refuses them; ``mend`` escapes them: ``1\. 前向过程``).

Key terms (:func:`term_inconsistencies`)
-----------------------------------------
For each row of locales/zh_CN/terminology.csv and each translated message of each catalog, a message whose
English uses the term as a word (any case, plural -s/-es, a hyphen or a space alike between its words; the
term's Chinese and English as they stand in the csv, a parenthesised qualifier dropped, "/" or "；" separating
Chinese alternatives) must have, in its translation, the term's Chinese or the English term itself (names such
as "Transformer" stay in Latin letters). Not counted: the term inside math, inline code, a link's address or a
role's target (``{term}`Boltzmann machine```, a name to look up; a role's title, ``{term}`title <target>```, is
text). The Chinese is looked for with white space ignored (离散 Hopfield 网络, 离散Hopfield网络) and Latin glosses
in full-width parentheses left out (期望最大化（EM）算法 holds 期望最大化算法). Rules against false alarms:

- a word of a term with a capital inside it (acronyms and names: MADE, BERT, ReLU, AdaIN) matches in that case
  only, so that the word "made" is not the model MADE;
- where a longer term covers a shorter one ("storage capacity" and "capacity"), only the longer one is checked;
- :data:`GENERIC_TERMS`: one-word terms whose Chinese rightly varies with the context, not checked;
- :data:`ALLOWED`: single messages that need not use the term's Chinese, each with its reason.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from i18n import CATALOGS, CODE_RE, LINK_RE, MATH_RE, ROLE_RE, ROOT, TAG_RE, TERMS, catalogs, translations

SITE = ROOT / "_build" / "zh" / "_build" / "html"

# ---------------------------------------------------------------------------------------------------------------
# A. English left on a Chinese page

# What is not prose, as CSS selectors within the article.
NOT_PROSE = (
    "script", "style",
    "pre", "code", ".highlight",                                   # code
    "div.cell_input", "div.cell_output",                           # executed cells (outputs come from the code)
    "div.cell > details > summary",                                # MyST-NB's "Show code cell source" toggles
    "span.math", "div.math",                                       # MathJax source
    "div.citation-list", "div.citation",                           # the bibliography
    "span.bibtex-citation", "a[href*='references.html#']",         # in-text citations
    "span.std-term", "dl.glossary > dt",                           # glossary terms and their entries
    "div.nnbook-quiz",                                             # the quiz widget (catalogs *.quiz.po)
    "div.nnbook-language-switch",                                  # its "English" link
    "a.headerlink",                                                # the "#" after each heading
)
# Math a page kept as text: \( \), \[ \], $$ $$, $ $.
MATH_IN_TEXT = re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]|\$\$.*?\$\$|\$[^$\n]+\$", re.DOTALL)
# A word of Latin letters; with digits and underscores it is an identifier (c_out, fc1), with hyphens or an
# apostrophe one word (one-hot, notes’).
LATIN_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ][A-Za-zÀ-ÖØ-öø-ɏ0-9_]*(?:['’-][A-Za-zÀ-ÖØ-öø-ɏ0-9_]+)*")
# A stretch of text without Chinese characters, full-width punctuation or line breaks: what an example shows.
NOT_CHINESE = re.compile(r"[^\u3000-\u303f\u3400-\u9fff\uff00-\uffef\n]+")

FUNCTION_WORDS = frozenset("""
the and but nor yet for from with into onto upon about over under between through during before after above
below via per out off are was were been being does did done has have had having will would can could should
shall may might must its this that these those there here which who whom whose what when where why how whether
while our you your they their them his her she one ones not all any each every both some such only also just
very more most much many other another same own because since until unless although though however therefore
thus hence than then
""".split())
MIN_LETTERS = 3
MAX_ENGLISH_WORDS = 7  # per page; see the module's docstring


def prose(html: str) -> str:
    """The text of a page's prose: its article less :data:`NOT_PROSE` and any math left in its text."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    article = soup.select_one("article.bd-article") or soup.body or soup
    for selector in NOT_PROSE:
        for element in article.select(selector):
            element.decompose()
    return MATH_IN_TEXT.sub(" ", article.get_text(" "))


def _is_english(word: str) -> bool:
    return len(word) >= MIN_LETTERS and word.lower() in FUNCTION_WORDS


def english_words(html: str) -> list[str]:
    """The English function words in a page's prose (see the module's docstring), in page order."""
    return [w for w in LATIN_WORD.findall(prose(html)) if _is_english(w)]


def english_phrases(html: str) -> list[str]:
    """The stretches of a page's prose, between Chinese characters, that hold the words :func:`english_words`
    counts (what to show a reader)."""
    return [" ".join(s.split()) for s in NOT_CHINESE.findall(prose(html))
            if any(_is_english(w) for w in LATIN_WORD.findall(s))]


def site_pages(site: Path = SITE) -> list[Path]:
    """The book's pages of a built site (not its generated indexes)."""
    return sorted((Path(site) / "book").rglob("*.html"))


def english_report(site: Path = SITE) -> dict[str, tuple[int, list[str]]]:
    """``{page: (English words, phrases that hold them)}`` for each book page of a built site."""
    report = {}
    for page in site_pages(site):
        html = page.read_text(encoding="utf-8")
        report[page.relative_to(site).as_posix()] = (len(english_words(html)), english_phrases(html))
    return report


def closest(report: dict[str, tuple[int, list[str]]], n: int = 5) -> str:
    """The ``n`` pages with the most English words, with what was counted, as lines to print."""
    lines = []
    for page, (count, phrases) in sorted(report.items(), key=lambda kv: -kv[1][0])[:n]:
        lines.append(f"{page}: {count} (a page fails above {MAX_ENGLISH_WORDS})")
        lines += [f"    {p[:110]}" for p in phrases[:8]] + ([f"    ... {len(phrases)} in all"] if len(phrases) > 8 else [])
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# B. Key terms used consistently

# One-word terms whose Chinese rightly varies with the context. Not checked.
GENERIC_TERMS = {
    # The book writes 容量 for it, in chapter 1 (a model's capacity, 模型容量) as in chapter 5 (a memory's, 存储容量),
    # where the context says whose: requiring 模型容量 flags 26 right translations (chapters 1, 5 and 12).
    "Capacity",
}

# (catalog, term, the start of the message's English): why that message need not use the term's Chinese (the
# English word in another sense, a quote of the notes...). The catalog is its path under locales/zh_CN/LC_MESSAGES.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("book/part4_generative/12_boltzmann_rbm_dbn.po", "Generative model",
     "The notes list three contributions of DBNs"):
        "quotes the notes' own Chinese (首次实现深层生成建模, 'generative modelling'), which the English glosses",
    ("book/part2_dynamic/05_dhnn.po", "Continuous Hopfield network", "The classical network's capacity grows"):
        "'the modern, continuous Hopfield network' is the modern network (现代 Hopfield 网络, its states continuous), "
        "not chapter 4's continuous Hopfield network",
}


@dataclass(frozen=True)
class Term:
    english: str
    chinese: tuple[str, ...]
    pattern: re.Pattern

    @classmethod
    def of(cls, english: str, chinese: str) -> Term:
        english = re.sub(r"\s*\([^)]*\)\s*$", "", english).strip()  # "Precision and recall (generative models)"
        alternatives = re.split(r"\s*[/；;]\s*", re.sub(r"\s*[（(][^）)]*[）)]\s*$", "", chinese).strip())
        # Any case, but for a word with a capital inside (MADE, BERT, ReLU, AdaIN, the EM of "EM algorithm"): an
        # acronym or a name, matched as written, so that the word "made" is not the model MADE.
        words = [(re.escape(w) if re.search(r".[A-Z]", w) else f"(?i:{re.escape(w)})").replace("'", "['’]")
                 for w in re.split(r"[\s-]+", english)]
        edge = r"A-Za-zÀ-ÖØ-öø-ɏ0-9_-"  # a word's edge: not next to a Latin letter (a Chinese character is fine)
        pattern = re.compile(rf"(?<![{edge}])" + r"[\s-]+".join(words) + rf"(?:s|es)?(?![{edge}])")
        return cls(english, tuple(_squeeze(a) for a in alternatives if a), pattern)


def terminology(path: Path = TERMS) -> list[Term]:
    """The key terms of locales/zh_CN/terminology.csv, less :data:`GENERIC_TERMS`."""
    with open(path, encoding="utf-8", newline="") as f:
        return [Term.of(r["english"], r["chinese"]) for r in csv.DictReader(f) if r["english"] not in GENERIC_TERMS]


def _squeeze(text: str) -> str:
    """``text`` without white space: 离散 Hopfield 网络 and 离散Hopfield网络 are the same words."""
    return re.sub(r"\s+", "", text)


def _unglossed(text: str) -> str:
    """``text`` without Latin glosses in full-width parentheses: 期望最大化（EM）算法 holds 期望最大化算法."""
    return re.sub(r"（[^（）\u3400-\u9fff]*）", "", text)


def _role_title(m: re.Match) -> str:
    """The text a role shows that its message chose: the title of ``{term}`title <target>```; nothing for a
    role that is all target (``{term}`Boltzmann machine```, ``{cite}`key```, ``{eq}`label```)."""
    title = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", m.group(2))
    return f" {title.group(1)} " if title else " "


def words_of(text: str) -> str:
    """A message's own words: less its math, inline code, links' addresses, tags and roles' targets."""
    text = ROLE_RE.sub(_role_title, text)
    text = MATH_RE.sub(" ", text)
    text = CODE_RE.sub(" ", text)
    text = LINK_RE.sub("] ", text)
    return TAG_RE.sub(" ", text)


@dataclass(frozen=True)
class Inconsistency:
    catalog: str
    term: str
    english: str
    chinese: str

    def __str__(self) -> str:
        return f"{self.catalog}: {self.term!r}\n    en: {self.english}\n    zh: {self.chinese}"


def _excerpt(text: str, start: int, end: int, width: int = 60) -> str:
    left, right = max(0, start - width), min(len(text), end + width)
    return ("…" if left else "") + " ".join(text[left:right].split()) + ("…" if right < len(text) else "")


def inconsistencies_in(msgid: str, msgstr: str, terms: list[Term], catalog: str = "") -> list[Inconsistency]:
    """The terms that ``msgid`` uses and that its translation ``msgstr`` renders neither in their Chinese nor
    in English."""
    english = words_of(msgid)
    found = [(m.start(), m.end(), t) for t in terms for m in t.pattern.finditer(english)]
    # A term inside a longer one's match ("capacity" in "storage capacity") is that longer term's.
    found = [(s, e, t) for s, e, t in found
             if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in found)]
    chinese = words_of(msgstr)
    squeezed = _squeeze(_unglossed(chinese))
    wrong, seen = [], set()
    for start, end, term in sorted(found, key=lambda f: f[0]):
        if term.english in seen:
            continue
        seen.add(term.english)
        if any(zh in squeezed for zh in term.chinese) or term.pattern.search(chinese):
            continue
        if any(c == catalog and t == term.english and msgid.startswith(s) for c, t, s in ALLOWED):
            continue
        wrong.append(Inconsistency(catalog, term.english, _excerpt(english, start, end),
                                   " ".join(msgstr.split())[:160] + ("…" if len(msgstr) > 160 else "")))
    return wrong


def term_inconsistencies(pos=None, terms: list[Term] | None = None) -> list[Inconsistency]:
    """The translations of the catalogs ``pos`` (default: all, pages' and quizzes') that render a key term
    differently from locales/zh_CN/terminology.csv (fuzzy and untranslated messages are not looked at)."""
    terms = terminology() if terms is None else terms
    wrong = []
    for po in catalogs(pos):
        po = Path(po).resolve()
        name = po.relative_to(CATALOGS).as_posix() if po.is_relative_to(CATALOGS) else po.name
        for msgid, msgstr in translations(po).items():
            wrong += inconsistencies_in(msgid, msgstr, terms, name)
    return wrong


# ---------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["english", "terms"])
    parser.add_argument("paths", nargs="*", help="english: the built site; terms: catalogs (default: all)")
    parser.add_argument("--pages", action="store_true", help="terms: the pages' catalogs only, not the quizzes'")
    args = parser.parse_args(argv)
    if args.command == "english":
        site = Path(args.paths[0]) if args.paths else SITE
        report = english_report(site)
        if not report:
            print(f"no pages under {site}/book")
            return 1
        for page, (count, _) in report.items():
            print(f"{count:4d}  {page}")
        print(f"\nclosest to the threshold (more than {MAX_ENGLISH_WORDS} English function words fails a page):")
        print(closest(report))
        over = [page for page, (count, _) in report.items() if count > MAX_ENGLISH_WORDS]
        print(f"\n{len(over)} page(s) over the threshold" + (": " + ", ".join(over) if over else ""))
        return 1 if over else 0
    pos = args.paths or [po for po in catalogs() if not (args.pages and po.name.endswith(".quiz.po"))]
    wrong = term_inconsistencies(pos)
    for line in wrong:
        print(line)
    print(f"{len(wrong)} translation(s) render a key term differently from locales/zh_CN/terminology.csv "
          f"({len(catalogs(pos))} catalogs)")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
