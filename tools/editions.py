"""`make colab` / `make student`: the notebook editions of the built book.

Each chapter's web page (``_build/html/<part>/<chapter>.html``) is turned back into a
notebook that reads like the page: theorem, definition and exercise boxes with the
website's numbers and titles, every glued value as the build computed it, citations
and cross-references as links to the website, solutions folded in ``<details>`` (or,
in the student edition, removed), and the code cells of the chapter's source, without
outputs. The page, not the MyST source, is the text: what the notebook says is what the
website says.

    python tools/editions.py [--student | --colab-only] [--out DIR] [--colab OWNER/NAME@BRANCH] [book/…/x.md ...]

Writes ``_build/colab/<part>/<chapter>.ipynb`` and ``_build/student/<part>/<chapter>.ipynb``; with
``--lang zh``, the Chinese editions from the Chinese site (``_build/zh``), into ``_build/colab/zh`` and
``_build/student/zh``, their quizzes in Chinese from the quiz catalogs.
Before rendering it checks each chapter's source and stops with ``book/x.md:LINE: what``
for a directive it cannot render, a glued name the build has no value for, or a link
to a page that does not exist; and it refuses a page built from another version of the
source (the code cells must match).
"""
from __future__ import annotations

import argparse
import copy
import posixpath
import pprint
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import jupytext
import nbformat
from bs4 import BeautifulSoup, NavigableString, Tag
from markdownify import MarkdownConverter

from chapters import BADGE_RE, BOOK, ROOT, chapter_sources, chapter_title_of, config, repository
from glossary import chapter_terms
from nnbook import quiz

PARTIAL_BUILD = False  # set by --partial (a private build of some chapters, `make check`)
LANG = "en"  # set by --lang: the edition's language, and the site it is rendered from
# what the renderer itself writes into a notebook, in each language
WORDS = {
    "en": {"quiz": "Self-check quiz: run this cell, then answer", "solution": "Solution", "code": "code",
           "continued": "continued", "folded": "in the folded code cell below (click it to show the code)."},
    "zh": {"quiz": "自测题：运行本单元，然后作答", "solution": "解答", "code": "代码", "continued": "续",
           "folded": "见下方折叠的代码单元（点击即可显示代码）。"},
}

HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "jupyter_execute"
# the directives the chapters use and this renderer knows how to turn into Markdown
KNOWN_DIRECTIVES = {
    "code-cell", "admonition", "note", "tip", "hint", "important", "warning", "caution", "attention",
    "seealso", "glossary", "math", "csv-table", "list-table", "table", "figure", "image", "include",
    "bibliography", "exercise", "exercise-start", "exercise-end", "solution", "solution-start",
    "solution-end", "epigraph", "dropdown",
    *(f"prf:{k}" for k in ("definition", "theorem", "proof", "lemma", "corollary", "proposition",
                           "remark", "example", "algorithm", "axiom", "conjecture", "criterion",
                           "property", "observation", "assumption", "notation")),
}
FENCE_RE = re.compile(r"^\s*(`{3,}|:{3,})\{([^}]*)\}")
GLUE_ROLE_RE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")
DOC_ROLE_RE = re.compile(r"\{doc\}`(?:[^`<]*<([^>`]+)>|([^`]+))`")
MD_LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
SOLUTION_TAG = "solution"
INSTALL_TAG = "remove-cell"
QUIZ_TAG = "quiz"  # the chapter's self-check quiz: quiz.show("<chapter>.quiz.json")


class EditionError(Exception):
    """A chapter the renderer cannot turn into a notebook; the message names the chapter and line."""


def use_build(build: Path) -> None:
    """Render from another build folder (e.g. a private one of tools/build_chapter.py)."""
    global HTML, EXECUTED
    HTML, EXECUTED = build / "html", build / "jupyter_execute"


# ------------------------------------------------------------------ where the website lives
def site_url() -> str:
    """The website's root URL: ``html.baseurl`` in ``_config.yml``, else GitHub Pages of ``repository.url``;
    the Chinese edition's is its ``zh/`` folder."""
    base = (config().get("html") or {}).get("baseurl") or ""
    if base:
        base = base.rstrip("/") + "/"
    else:
        owner, name, _ = repository()
        base = f"https://{owner.lower()}.github.io/{name}/"
    return base + ("zh/" if LANG == "zh" else "")


def rel_of(md: Path) -> Path:
    """``book/part2/05_x.md`` -> ``part2/05_x``: the chapter's place in the book (and in an edition)."""
    return md.resolve().relative_to(BOOK).with_suffix("")


def page_of(md: Path) -> Path:
    return HTML / md.resolve().relative_to(ROOT).with_suffix(".html")


# ------------------------------------------------------------------ checks of the source
def glue_values(md: Path) -> dict[str, str]:
    """``{name: text}`` of every value the build glued in ``md`` (myst-nb keeps them in ``<chapter>.glue.json``)."""
    import json

    path = EXECUTED / md.resolve().relative_to(ROOT).with_suffix(".glue.json")
    if not path.exists():
        if not path.with_suffix("").with_suffix(".ipynb").exists():
            raise EditionError(f"{_name(md)}: the chapter has not been executed ({_name(path.parent)}): "
                               "run `make book` first")
        return {}  # executed, glued nothing
    values = json.loads(path.read_text(encoding="utf-8"))
    return {name: out.get("data", {}).get("text/plain", "") for name, out in values.items()}


def _name(md: Path) -> str:
    try:
        return md.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(md)


def _page_exists(md: Path, target: str) -> bool:
    target = target.split("#")[0]
    if not target:
        return True
    base = ROOT if target.startswith("/") else md.parent
    path = (base / target.lstrip("/")).resolve()
    return any(path.with_suffix(s).exists() for s in (".md", ".ipynb")) or path.exists()


def check_source(md: Path, glued: dict[str, str], text: str | None = None) -> list[str]:
    """Problems in chapter ``md`` (its file, or ``text`` given for it) that would make its notebook
    wrong, as ``file:line: what`` messages."""
    problems = []
    in_code = None  # the fence of a code cell / literal block being skipped
    text = md.read_text(encoding="utf-8") if text is None else text
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{_name(md)}:{number}"
        fence = FENCE_RE.match(line)
        if in_code:
            if line.strip() == in_code:
                in_code = None
            continue
        if fence:
            name = fence.group(2).strip()
            if name not in KNOWN_DIRECTIVES:
                problems.append(f"{where}: unknown directive {{{name}}}: the notebook edition cannot render it")
            if name == "code-cell":
                in_code = fence.group(1)
            continue
        if line.lstrip().startswith("```"):
            in_code = line.strip()[:3] if line.strip().startswith("```") else None
            continue
        for name in GLUE_ROLE_RE.findall(line):
            key = name.split(":")[0].strip()
            if key not in glued:
                problems.append(f"{where}: glued name {key!r} has no value in the executed notebook")
        for a, b in DOC_ROLE_RE.findall(line):
            target = (a or b).strip()
            if not _page_exists(md, target):
                problems.append(f"{where}: link to a missing page {target!r}")
        for target in MD_LINK_RE.findall(line):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not _page_exists(md, target):
                problems.append(f"{where}: link to a missing page {target!r}")
    return problems


# what MyST source looks like: none of it may remain in a rendered notebook's Markdown
MYST_LEFTOVERS = [
    ("a MyST role", re.compile(r"\{(?:prf:\w+|glue(?::\w+)?|term|cite(?::\w+)?|ref|numref|doc|eq|download|"
                                r"exercise|solution)\}")),  # rendered, the backticks become code
    ("a directive fence", re.compile(r"^\s*(?:>\s*)*(?:`{3,}|~{3,}|:{3,})\s*\{[\w:-]+\}", re.M)),
    ("a directive option", re.compile(r"^\s*(?:>\s*)*:(?:label|class|tags|nonumber|name):", re.M)),
    ("a {glue} name", re.compile(r"\{glue")),
    ("a MyST target", re.compile(r"^\s*\([\w.-]+\)=\s*$", re.M)),
]


def myst_leftovers(markdown: str) -> list[str]:
    """What in ``markdown`` is MyST source rather than rendered text (empty: nothing)."""
    found = []
    for what, pattern in MYST_LEFTOVERS:
        for m in pattern.finditer(markdown):
            found.append(f"{what}: {markdown[m.start():m.end() + 30].splitlines()[0]!r}")
    return found


# ------------------------------------------------------------------ HTML -> Markdown
MATH_TOKEN = "XXMATH{}XX"
MATH_TOKEN_RE = re.compile(r"XXMATH(\d+)XX")


class _Markdown(MarkdownConverter):
    """markdownify, with links and images made absolute (the website's URLs) and sphinx's extras dropped."""

    def __init__(self, page_url: str, **options):
        super().__init__(heading_style="ATX", bullets="-", escape_misc=False,
                         code_language_callback=_code_language, **options)
        self.page_url = page_url

    def convert_a(self, el, text, parent_tags):
        if "headerlink" in el.get("class", []):
            return ""
        href = el.get("href")
        if href:
            el = copy.copy(el)
            el["href"] = urljoin(self.page_url, href)
            el.attrs.pop("title", None)
        return super().convert_a(el, text, parent_tags)

    def convert_img(self, el, text, parent_tags):
        el = copy.copy(el)
        el["src"] = urljoin(self.page_url, el.get("src", ""))
        return super().convert_img(el, text, parent_tags)

    def convert_dl(self, el, text, parent_tags):
        """A definition list (the glossary, "Key terms") as a bulleted list: **term** (其他名称) — definition.

        Sphinx writes a term and its Chinese name as two ``<dt>`` before one ``<dd>``."""
        items, terms = [], []
        for child in el.find_all(["dt", "dd"], recursive=False):
            text = " ".join(self.process_tag(child, parent_tags | {"_inline"}).split())
            if child.name == "dt":
                terms.append(text)
                continue
            head = f"**{terms[0]}**" + "".join(f" ({t})" for t in terms[1:])
            items.append(f"- {head} — {text}")
            terms = []
        return "\n\n" + "\n".join(items) + "\n\n"

    def convert_span(self, el, text, parent_tags):
        if "bibtex-citation" in (el.get("class") or []):  # [Hopfield, 1982] -> (Hopfield, 1982)
            text = text.strip()
            if text.startswith("[") and text.endswith("]"):
                return f"({text[1:-1]})"
        return text


def _code_language(el) -> str:
    for parent in el.parents:
        for cls in parent.get("class", []) or []:
            if cls.startswith("highlight-"):
                lang = cls[len("highlight-"):]
                return "python" if lang in ("ipython3", "ipython", "python3", "default") else lang
    return ""


def _math_text(el: Tag) -> str:
    """The TeX of a math element, as Jupyter's Markdown wants it: ``$x$`` or a one-line ``$$…$$``."""
    tag = ""
    eqno = el.find("span", class_="eqno")
    if eqno is not None:
        tag = eqno.get_text().strip().strip("()#").strip()
        eqno.decompose()
    tex = el.get_text()
    if el.name == "span":
        tex = tex.strip()
        if tex.startswith("\\(") and tex.endswith("\\)"):
            return f"${tex[2:-2].strip()}$"
    tex = tex.strip()
    if tex.startswith("\\[") and tex.endswith("\\]"):
        tex = tex[2:-2]
    tex = " ".join(tex.split())  # one line: a display must survive "> " prefixes and tables
    if tag:
        tex += f" \\tag{{{tag}}}"
    return f"$${tex}$$"


def to_markdown(el: Tag, page_url: str) -> str:
    """Markdown for an HTML fragment with no code cells in it. Math is kept verbatim (never escaped)."""
    wrapper = BeautifulSoup("<div></div>", "html.parser")
    wrapper.div.append(copy.copy(el))
    el = wrapper.div
    maths = []
    for m in el.select("span.math, div.math"):
        maths.append(_math_text(m))
        token = MATH_TOKEN.format(len(maths) - 1)
        m.replace_with(NavigableString(f"\n\n{token}\n\n" if m.name == "div" else token))
    for junk in el.select("a.headerlink, .toggle-details, button, script, style"):
        junk.decompose()
    md = _Markdown(page_url).convert_soup(el)

    def put_back(match, in_table):
        tex = maths[int(match.group(1))]
        return tex.replace("|", r"\vert ") if in_table else tex

    lines = [MATH_TOKEN_RE.sub(lambda m, t=line.lstrip().startswith("|"): put_back(m, t), line)
             for line in md.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ------------------------------------------------------------------ the page as blocks
@dataclass
class Block:
    kind: str                      # "md" or "code"
    text: str = ""                 # markdown (md) or source (code)
    metadata: dict = field(default_factory=dict)
    solution: bool = False         # part of a solution


def _classes(el) -> set[str]:
    return set(el.get("class", []) or []) if isinstance(el, Tag) else set()


def _is_cell(el) -> bool:
    return isinstance(el, Tag) and el.name == "div" and "cell" in _classes(el)


def _is_box(el) -> bool:
    return isinstance(el, Tag) and el.name in ("div", "aside") and "admonition" in _classes(el)


class PageRenderer:
    """Walks one chapter's page; code cells come from the chapter's source, matched in order."""

    def __init__(self, md: Path, student: bool):
        self.md, self.student = md, student
        self.name = _name(md)
        self.page = page_of(md)
        if not self.page.exists():
            raise EditionError(f"{self.name}: no built page at {_name(self.page)}: run `make book` first")
        self.page_url = urljoin(site_url(), md.resolve().relative_to(ROOT).with_suffix(".html").as_posix())
        self.source_cells = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
        self.next_cell = 0

    # code cells --------------------------------------------------------
    def _code_block(self, source) -> Block:
        tags = list(source.metadata.get("tags", []))
        meta = {"tags": tags} if tags else {}
        if {"remove-input", "hide-input"} & set(tags):
            meta["jupyter"] = {"source_hidden": True}
        if "hide-output" in tags or "remove-output" in tags:
            meta.setdefault("jupyter", {})["outputs_hidden"] = True
        if QUIZ_TAG in tags:
            return Block("code", self._quiz_source(source.source), {**meta, "cellView": "form"})
        return Block("code", source.source, meta, solution=SOLUTION_TAG in tags)

    def _quiz_source(self, code: str) -> str:
        """The quiz cell made self-contained: its questions written into the cell, since a notebook opened
        in Colab has no quiz file beside it. Colab shows the title line; the cell draws the quiz."""
        m = re.search(r"""quiz\.show\(["']([^"']+)["']\)""", code)
        if m is None:
            raise EditionError(f"{self.name}: the cell tagged {QUIZ_TAG!r} does not call quiz.show(\"<file>\")")
        quiz_file = self.md.parent / m.group(1)
        questions = quiz.load(quiz_file)
        if LANG == "zh":
            import i18n

            try:
                questions = i18n.translated_quiz(quiz_file)
            except ValueError as err:
                raise EditionError(f"{self.name}: its quiz is not translated ({_name(i18n.quiz_catalog(quiz_file))}): "
                                   f"{err}") from None
        return (f"# @title {WORDS[LANG]['quiz']}\nfrom nnbook import quiz\n\n"
                f"QUESTIONS = {pprint.pformat(questions, width=110, sort_dicts=False)}\n"
                + ('quiz.show(QUESTIONS, lang="zh")' if LANG == "zh" else "quiz.show(QUESTIONS)"))

    def _removed_cells(self) -> list[Block]:
        """Source cells the page does not show (tagged remove-cell: the Colab install cell), in order."""
        out = []
        while self.next_cell < len(self.source_cells) and \
                INSTALL_TAG in self.source_cells[self.next_cell].metadata.get("tags", []):
            out.append(self._code_block(self.source_cells[self.next_cell]))
            self.next_cell += 1
        return out

    def cell(self, div: Tag) -> list[Block]:
        blocks = self._removed_cells()
        if self.next_cell >= len(self.source_cells):
            raise EditionError(f"{self.name}: the page has more code cells than the source: rebuild the book (`make book`)")
        source = self.source_cells[self.next_cell]
        self.next_cell += 1
        shown = div.select_one("div.cell_input pre")
        if shown is not None and shown.get_text().strip() != source.source.strip():
            first = source.source.strip().splitlines()[:1]
            raise EditionError(f"{self.name}: code cell {self.next_cell} ({first}) differs from the page: "
                               "the page was built from another version of the chapter; rebuild it (`make book`)")
        return blocks + [self._code_block(source)]

    # the page ----------------------------------------------------------
    def blocks(self, el) -> list[Block]:
        if isinstance(el, NavigableString):
            text = str(el)
            return [Block("md", text.strip())] if text.strip() else []
        if not isinstance(el, Tag):
            return []
        if _is_cell(el):
            return self.cell(el)
        if _is_box(el):
            return self.box(el)
        if el.find(lambda t: _is_cell(t) or _is_box(t)) is None:
            text = to_markdown(el, self.page_url)
            return [Block("md", text)] if text else []
        out = []
        for child in el.children:
            out += self.blocks(child)
        return out

    def box(self, el: Tag) -> list[Block]:
        """An admonition: theorem, definition, proof, exercise, note, "You will learn" — or a solution."""
        classes = _classes(el)
        title_el = el.find(class_="admonition-title")
        title = plain = ""
        if title_el is not None:
            title_el = title_el.extract()
            plain = " ".join(title_el.get_text().split())
            number = title_el.find(class_="caption-number")
            if number is not None:  # "Theorem 10" in bold, then its name: **Theorem 10** (Asynchronous convergence)
                head = " ".join(number.extract().get_text().split())
                title = f"**{head}** {' '.join(to_markdown(title_el, self.page_url).split())}".strip()
            else:
                title = f"**{' '.join(to_markdown(title_el, self.page_url).split())}**"
        inner = []
        for child in el.children:
            inner += self.blocks(child)
        inner = _merged(inner)
        if "exam-answer" in classes:  # an exam point's model answer: folded until clicked, inside its box
            return [Block("md", f"<details>\n<summary><b>{plain}</b></summary>\n\n{b.text}\n\n</details>")
                    if b.kind == "md" else b for b in inner]
        if "solution" in classes:
            return self.solution(plain or WORDS[LANG]["solution"], inner)
        if classes & {"proof"} and not classes & PROOF_KINDS:  # sphinx-proof's proof: "Proof." … ∎
            for block in inner:
                if block.kind == "md":
                    block.text = re.sub(r"^Proof\.", "*Proof.*", block.text)
            for block in reversed(inner):
                if block.kind == "md":
                    block.text += " ∎"
                    break
        out, first = [], True
        for block in inner:
            if block.kind == "code":
                out.append(block)
                continue
            text = f"{title}\n\n{block.text}" if first and title else block.text
            first = False
            out.append(Block("md", _quote(text)))
        if first and title:  # a box with no text (only code)
            out.insert(0, Block("md", _quote(title)))
        return out

    def solution(self, title: str, inner: list[Block]) -> list[Block]:
        """A solution: its text in <details> (closed until clicked), its code cells folded (collapsed input)."""
        out, part = [], 0
        for block in inner:
            if block.kind == "code":
                meta = copy.deepcopy(block.metadata)
                meta.setdefault("jupyter", {})["source_hidden"] = True
                meta["cellView"] = "form"  # Colab: shows the title line, the code on a click
                out.append(Block("code", f"# @title {title} ({WORDS[LANG]['code']})\n{block.text}", meta, solution=True))
            else:
                part += 1
                label = title if part == 1 else f"{title} ({WORDS[LANG]['continued']})"
                out.append(Block("md", f"<details>\n<summary><b>{label}</b></summary>\n\n{block.text}\n\n</details>",
                                 solution=True))
        if not any(b.kind == "md" for b in out):
            out.insert(0, Block("md", f"**{title}**: {WORDS[LANG]['folded']}",
                                solution=True))
        return [Block(b.kind, b.text, b.metadata, True) for b in out]

    def _link_to_chapter_outside(self, ref, soup) -> bool:
        """In a build of some chapters only: turn a {doc} link to a chapter left out of the build into a
        link to that chapter's page (titled as on the website), and a {term} defined in such a chapter
        into a link to the glossary page. False if it names no chapter or term."""
        target = ref.get_text().strip()
        if "std-term" in _classes(ref):
            source = self.md.read_text(encoding="utf-8")
            known = {en.lower() for md in chapter_sources() for en, _ in chapter_terms(md)}
            if target.lower() not in known and f"{{term}}`{target} <" not in source:
                return False
            ref.wrap(soup.new_tag("a", href=posixpath.relpath("book/appendix/glossary.html",
                                                              self.md.parent.relative_to(ROOT).as_posix())))
            return True
        titled = re.search(r"\{doc\}`" + re.escape(target) + r"\s*<([^>`]+)>`", self.md.read_text(encoding="utf-8"))
        doc = titled.group(1).strip() if titled else target  # {doc}`chapter 11 <11_generative_models>`
        path = (BOOK.parent / doc.lstrip("/")) if doc.startswith("/") else (self.md.parent / doc)
        md = path.with_suffix(".md").resolve()
        if md not in chapter_sources():
            return False
        link = soup.new_tag("a", href=posixpath.relpath(md.relative_to(ROOT).with_suffix(".html").as_posix(),
                                                        self.md.parent.relative_to(ROOT).as_posix()))
        link.string = target if titled else chapter_title_of(md)
        ref.replace_with(link)
        return True

    def render(self) -> nbformat.NotebookNode:
        soup = BeautifulSoup(self.page.read_text(encoding="utf-8"), "html.parser")
        article = soup.select_one("article.bd-article") or soup.select_one('[role="main"]')
        if article is None:
            raise EditionError(f"{self.name}: {_name(self.page)} has no article: not a page of this book")
        for bad in article.select(".system-message, .problematic"):
            raise EditionError(f"{self.name}: the page shows a build error: {' '.join(bad.get_text().split())[:200]}")
        for ref in article.select("span.xref"):
            if ref.find_parent("a") is None and PARTIAL_BUILD and self._link_to_chapter_outside(ref, soup):
                continue
            if ref.find_parent("a") is None:
                raise EditionError(f"{self.name}:{_line_of(self.md, ref.get_text())}: unresolved reference "
                                   f"{ref.get_text()!r} (a missing label or page)")
        for out in article.select("div.cell_output, div.nnbook-language-switch"):
            out.decompose()
        blocks = self.blocks(article)
        blocks += self._removed_cells()
        if self.next_cell != len(self.source_cells):
            raise EditionError(f"{self.name}: the page shows {self.next_cell} of the source's "
                               f"{len(self.source_cells)} code cells: rebuild the book (`make book`)")
        if self.student:
            blocks = [b for b in blocks if not b.solution]
        return self.notebook(blocks)

    def notebook(self, blocks: list[Block]) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        nb.metadata = {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "nnbook": {"edition": "student" if self.student else "colab", "page": self.page_url},
        }
        for block in _merged(blocks):
            text = block.text
            if block.kind == "md":
                if text:
                    nb.cells.append(nbformat.v4.new_markdown_cell(text))
            else:
                nb.cells.append(nbformat.v4.new_code_cell(text, metadata=block.metadata))
        for i, cell in enumerate(nb.cells):  # stable ids: rendering twice gives the same file
            cell.id = f"c{i:03d}"
        return nb


PROOF_KINDS = {"theorem", "definition", "lemma", "corollary", "proposition", "remark", "example", "algorithm",
               "axiom", "conjecture", "criterion", "property", "observation", "assumption", "notation"}


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())


def _merged(blocks: list[Block]) -> list[Block]:
    """Consecutive Markdown blocks joined into one (one notebook cell)."""
    out: list[Block] = []
    for b in blocks:
        if b.kind == "md" and out and out[-1].kind == "md" and out[-1].solution == b.solution:
            out[-1] = Block("md", out[-1].text + "\n\n" + b.text, solution=b.solution)
        else:
            out.append(b)
    return out


def _line_of(md: Path, text: str) -> str:
    for number, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
        if text and text in line:
            return str(number)
    return "?"


# ------------------------------------------------------------------ driver
def render_chapter(md: Path, *, student: bool = False, text: str | None = None) -> nbformat.NotebookNode:
    """The notebook edition of chapter ``md`` (a ``book/**.md`` path), from its built page.

    ``text``: check this text as the chapter's source instead of the file (used by the tests)."""
    md = Path(md).resolve()
    problems = check_source(md, glue_values(md), text)
    if problems:
        raise EditionError("\n".join(problems))
    return PageRenderer(md, student).render()


def write_editions(chapters, out: Path, *, student: bool = False, colab: str | None = None) -> list[Path]:
    """Render ``chapters`` into ``out``; every chapter's problems are reported together."""
    written, problems = [], []
    for md in chapters:
        try:
            nb = render_chapter(md, student=student)
        except EditionError as err:
            problems.append(str(err))
            continue
        target = out / rel_of(md).with_suffix(".ipynb")
        if student:
            _student_badge(nb, target.relative_to(out), colab)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    if problems:
        raise EditionError("\n".join(problems))
    return written


def _student_badge(nb, rel: Path, colab: str | None) -> None:
    """The student edition's badge: none, or (``colab="OWNER/NAME@BRANCH"``) one that opens it in that repository."""
    badge = ""
    if colab:
        m = re.fullmatch(r"([\w.\-]+)/([\w.\-]+)(?:@([\w./\-]+))?", colab)
        if not m:
            raise EditionError(f"--colab must look like OWNER/NAME or OWNER/NAME@BRANCH, got {colab!r}")
        owner, name, branch = m.group(1), m.group(2), m.group(3) or "main"
        badge = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                 f"(https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{rel.as_posix()})")
    for cell in nb.cells:
        if cell.cell_type == "markdown" and BADGE_RE.search(cell.source):
            cell.source = BADGE_RE.sub(lambda _: badge, cell.source).replace("\n\n\n", "\n\n").strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="book/**.md chapters (default: every chapter)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--student", action="store_true", help="only the student edition (no solutions)")
    which.add_argument("--colab-only", action="store_true", help="only the Colab edition")
    parser.add_argument("--out", help="output folder of the one edition asked for "
                        "(default _build/colab and _build/student)")
    parser.add_argument("--site", metavar="DIR", help="render from the build in DIR/_build (default: this checkout's)")
    parser.add_argument("--partial", action="store_true",
                        help="the build holds only some chapters (make check): a link to a chapter left out of it "
                             "becomes a link to that chapter's page on the website")
    parser.add_argument("--lang", choices=sorted(WORDS), default="en",
                        help="zh: the Chinese editions, from the Chinese site (make book-zh), into _build/*/zh")
    parser.add_argument("--colab", metavar="OWNER/NAME@BRANCH",
                        help="student edition: give each notebook a Colab badge opening it in that repository")
    args = parser.parse_args(argv)
    global PARTIAL_BUILD, LANG
    LANG = args.lang
    if args.site:
        use_build(Path(args.site) / "_build")
    elif LANG == "zh":
        use_build(ROOT / "_build" / "zh" / "_build")
    PARTIAL_BUILD = args.partial
    start = time.perf_counter()
    known = chapter_sources()
    chosen = [(Path(p) if Path(p).exists() else ROOT / p).resolve() for p in args.chapters] or known
    unknown = [str(p) for p in chosen if p not in known]
    if unknown:
        print(f"not chapters of the book: {unknown}", file=sys.stderr)
        return 2
    editions = ["student"] if args.student else ["colab"] if args.colab_only else ["colab", "student"]
    if args.out and len(editions) > 1:
        parser.error("--out needs --student or --colab-only (one edition)")
    try:
        for edition in editions:
            out = Path(args.out) if args.out else ROOT / "_build" / edition / ("zh" if LANG == "zh" else "")
            t0 = time.perf_counter()
            written = write_editions(chosen, out, student=edition == "student", colab=args.colab)
            print(f"{edition} edition: {len(written)} notebooks in {out} ({time.perf_counter() - t0:.1f} s)")
    except EditionError as err:
        print(f"make colab: stopped\n{err}", file=sys.stderr)
        return 1
    print(f"notebook editions rendered from the built book in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
