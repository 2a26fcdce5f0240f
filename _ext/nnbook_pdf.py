"""Sphinx extension for the book's PDF (``make pdf``: the ``latex`` builder + xelatex).

Everything here acts only when the builder is LaTeX; the website build is untouched.

- ``jupyterBook.cls`` (sphinx-jupyterbook-latex's document class) loads ``bbm``, which Debian
  ships only in the 500 MB ``texlive-fonts-extra``; the class is patched in the output folder
  to map ``\\mathbbm`` to unicode-math's ``\\mathbb`` instead.
- ``ucharclasses`` (loaded by sphinx-jupyterbook-latex) is dropped from the preamble: it
  fights xeCJK over XeTeX's character classes, and xeCJK does the font switching here.
- The MathJax macros of ``mathjax3_config`` (``\\R``, ``\\E``) are defined for LaTeX too, so
  the two outputs cannot disagree.
- Remote images (the "Open in Colab" badge, an SVG on the web) become their alt text, still
  a link: the LaTeX builder would otherwise download them, which fails offline.
- An animation's output (a JavaScript player, HTML only) becomes a one-line note.
- Long tables get column widths so that they wrap; the running footer truncates long titles.
- Solutions (sphinx-exercise, plain and gated) are moved out of the chapters into a last
  chapter, "Solutions to the exercises", one section per chapter, in book order
  (``nnbook_pdf_solutions = "end"``, the default), or left out (``"omit"``).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

SOLUTIONS_TITLE = "Solutions to the exercises"
SOLUTIONS_ID = "nnbook-pdf-solutions"


def _is_latex(app: Sphinx) -> bool:
    return getattr(app.builder, "format", None) == "latex"


# --------------------------------------------------------------------------- preamble
def _mathjax_macros_as_latex(config: Config) -> str:
    """``\\newcommand`` lines for ``mathjax3_config.tex.macros`` (``name: body`` or
    ``name: [body, nargs]``)."""
    mj = getattr(config, "mathjax3_config", None) or {}
    macros = (mj.get("tex") or {}).get("macros") or {}
    lines = []
    for name, body in macros.items():
        nargs = 0
        if isinstance(body, (list, tuple)):
            body, nargs = body[0], int(body[1]) if len(body) > 1 else 0
        args = f"[{nargs}]" if nargs else ""
        # \providecommand then \renewcommand: define it whether or not a package did
        lines.append(f"\\providecommand{{\\{name}}}{{}}\\renewcommand{{\\{name}}}{args}{{{body}}}")
    return "\n".join(lines)


# Sphinx's running footer puts the chapter (or section) title beside the page number; the
# book's long titles with their Chinese terms ran over the number. Truncate them instead.
FOOTER = r"""
\usepackage[breakall]{truncate}
\makeatletter
\fancypagestyle{normal}{%
  \fancyhf{}%
  \fancyfoot[RO]{{\py@HeaderFamily\thepage}}%
  \fancyfoot[LO]{{\py@HeaderFamily\truncate{0.85\textwidth}{\nouppercase{\rightmark}}}}%
  \fancyhead[RO]{{\py@HeaderFamily \@title\sphinxheadercomma\py@release}}%
  \fancyfoot[LE]{{\py@HeaderFamily\thepage}}%
  \fancyfoot[RE]{{\py@HeaderFamily\truncate{0.85\textwidth}{\nouppercase{\leftmark}}}}%
  \fancyhead[LE]{{\py@HeaderFamily \@title\sphinxheadercomma\py@release}}%
  \renewcommand{\headrulewidth}{0.4pt}%
  \renewcommand{\footrulewidth}{0.4pt}%
}
\makeatother
"""


def _adjust_latex_config(app: Sphinx, config: Config) -> None:
    """Runs after sphinx-jupyterbook-latex's own ``config-inited`` handler (priority 900)."""
    elements = config["latex_elements"]
    preamble = elements.get("preamble", "")
    preamble = re.sub(r"\\usepackage\[[^\]]*\]\{ucharclasses\}", "% ucharclasses dropped (xeCJK)", preamble)
    # unicode-math maps \setminus to U+29F5, which Latin Modern Math lacks
    preamble += "\n\\AtBeginDocument{\\renewcommand{\\setminus}{\\mathbin{\\backslash}}}\n"
    preamble += FOOTER
    macros = _mathjax_macros_as_latex(config)
    if macros:
        preamble += "\n% MathJax macros of _config.yml (nnbook_pdf)\n" + macros + "\n"
    elements["preamble"] = preamble


def _patch_document_class(app: Sphinx) -> None:
    """After sphinx-jupyterbook-latex copied ``jupyterBook.cls`` (``builder-inited``)."""
    if not _is_latex(app):
        return
    cls = Path(app.outdir, "jupyterBook.cls")
    if not cls.exists():
        return
    text = cls.read_text(encoding="utf-8")
    patched = text.replace("\\RequirePackage{bbm}", "\\providecommand{\\mathbbm}{\\mathbb}% bbm not needed (nnbook_pdf)")
    if patched != text:
        cls.write_text(patched, encoding="utf-8")


# --------------------------------------------------------------------------- transforms
class RemoteImagesToText(SphinxPostTransform):
    """Replace images with an http(s) URI by their alt text (before Sphinx downloads them)."""

    default_priority = 50  # sphinx's ImageDownloader runs at 100
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        for image in list(self.document.findall(nodes.image)):
            uri = image.get("uri", "")
            if not uri.startswith(("http://", "https://")):
                continue
            text = image.get("alt") or "image"
            if isinstance(image.parent, nodes.reference):
                image.replace_self(nodes.Text(text))
            else:
                image.replace_self(nodes.reference("", text, refuri=uri))


class AnimationsToNote(SphinxPostTransform):
    """An animation (``nnbook.plot.animate``, a JavaScript player) has only HTML and the
    text ``<IPython.core.display.HTML object>``; print a short note instead of that text."""

    default_priority = 55
    formats = ("latex",)
    TEXT = "<IPython.core.display.HTML object>"

    def run(self, **kwargs) -> None:
        for block in list(self.document.findall(nodes.literal_block)):
            if block.astext().strip() == self.TEXT:
                note = nodes.paragraph("", "", nodes.emphasis(
                    "", "[An animation: it plays on the book's website and in the notebook.]"))
                block.replace_self(note)


def _width(text: str) -> int:
    """Width in Latin characters: a Chinese character is two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class LongTableWidths(SphinxPostTransform):
    """Give long tables (> 30 rows: LaTeX ``longtable``) column widths, so that they wrap.

    Sphinx typesets a long table without ``:widths:`` in ``l`` columns, which never wrap:
    the exercise index and the glossary table ran 10-30 cm off the page. The widths are
    proportional to each column's text, and at least its longest word.
    """

    default_priority = 730
    formats = ("latex",)
    LINE = 95  # characters of body text in a line (A4, 10 pt)

    def run(self, **kwargs) -> None:
        for table in list(self.document.findall(nodes.table)):
            if "colwidths-given" in table.get("classes", []):
                continue
            for tgroup in table.findall(nodes.tgroup):
                colspecs = [c for c in tgroup.children if isinstance(c, nodes.colspec)]
                rows = list(tgroup.findall(nodes.row))
                if len(rows) <= 30 or not colspecs:
                    continue
                longest = [1] * len(colspecs)
                total = [0] * len(colspecs)
                for row in rows:
                    for j, entry in enumerate(row.children[: len(colspecs)]):
                        text = entry.astext()
                        total[j] += _width(text)
                        # LaTeX may break inline code after . , ; / (Sphinx's inlineliteralwraps)
                        words = re.split(r"\s+|(?<=[.,;/])", text)
                        longest[j] = max([longest[j]] + [_width(w) for w in words])
                mean = [t / len(rows) for t in total]
                floor = [min(w + 2, self.LINE // 3) for w in longest]
                spare = max(self.LINE - sum(floor), 0)
                extra = [max(m - f, 0) for m, f in zip(mean, floor)]
                weight = sum(extra) or 1
                widths = [max(1, round(f + spare * e / weight)) for f, e in zip(floor, extra)]
                for colspec, width in zip(colspecs, widths):
                    colspec["colwidth"] = width
                table["classes"].append("colwidths-given")
                break


def _walk(node: nodes.Node, ancestors: tuple = ()):
    """Yield ``(node, ancestors)`` top-down.

    The LaTeX builder assembles the book by setting ``children`` lists directly, so the
    ``parent`` attributes of a chapter's nodes still point into the chapter's own doctree:
    ancestors are tracked here instead.
    """
    yield node, ancestors
    for child in list(getattr(node, "children", ())):
        yield from _walk(child, ancestors + (node,))


def _detach(node: nodes.Node, parent: nodes.Element) -> None:
    index = next(i for i, child in enumerate(parent.children) if child is node)
    del parent.children[index]


def _first_title(node: nodes.Node):
    for child, _ in _walk(node):
        if isinstance(child, nodes.title):
            return child
    return None


class CollectSolutions(SphinxPostTransform):
    """Move every sphinx-exercise solution to a last chapter (or drop it).

    Runs on the doctree the LaTeX builder assembled from the whole book, after
    sphinx-exercise gave the solutions their titles ("Solution to Exercise 12") and after
    sphinx-jupyterbook-latex arranged parts and chapters (priority 700).
    """

    default_priority = 720
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        try:
            from sphinx_exercise.nodes import solution_node
        except ImportError:  # pragma: no cover - sphinx-exercise is a dependency
            return
        found = [(n, anc) for n, anc in _walk(self.document) if isinstance(n, solution_node)]
        if not found:
            return
        mode = self.config.nnbook_pdf_solutions
        if mode not in ("end", "omit"):
            logger.warning("nnbook_pdf_solutions must be 'end' or 'omit', got %r; using 'end'", mode)
            mode = "end"
        for node, ancestors in found:
            _detach(node, ancestors[-1])
        if mode == "omit":
            logger.info("nnbook_pdf: left out %d solutions", len(found))
            return

        # group by chapter (the document that holds the solution), in book order
        groups: list[tuple[nodes.Node, list[nodes.Node]]] = []
        for node, ancestors in found:
            chapter = next((a for a in reversed(ancestors) if isinstance(a, addnodes.start_of_file)), None)
            if not groups or groups[-1][0] is not chapter:
                groups.append((chapter, []))
            groups[-1][1].append(node)

        chapter_section = nodes.section(ids=[SOLUTIONS_ID], names=[SOLUTIONS_ID])
        chapter_section += nodes.title("", SOLUTIONS_TITLE)
        chapter_section += nodes.paragraph(
            "",
            "The solutions of the exercises, chapter by chapter. "
            "The title of each solution links back to its exercise.",
        )
        for index, (chapter, members) in enumerate(groups):
            section = nodes.section(ids=[f"{SOLUTIONS_ID}-{index}"])
            title = _first_title(chapter) if chapter is not None else None
            heading = nodes.title()
            if title is not None:
                heading.extend(child.deepcopy() for child in title.children)
            else:
                heading += nodes.Text("Solutions")
            section += heading
            section.extend(members)
            chapter_section += section

        # Into the last part (the appendix) as its last chapter: the sections of the
        # outermost level are the parts (or, in a book without parts, the chapters).
        outermost = [n for n, anc in _walk(self.document)
                     if isinstance(n, nodes.section) and not any(isinstance(a, nodes.section) for a in anc)]
        target = outermost[-1] if len(outermost) > 1 else self.document
        target += chapter_section
        logger.info("nnbook_pdf: moved %d solutions to %r", len(found), SOLUTIONS_TITLE)


def setup(app: Sphinx) -> dict:
    app.add_config_value("nnbook_pdf_solutions", "end", "env", [str])
    app.connect("config-inited", _adjust_latex_config, priority=900)
    app.connect("builder-inited", _patch_document_class, priority=900)
    app.add_post_transform(RemoteImagesToText)
    app.add_post_transform(AnimationsToNote)
    app.add_post_transform(CollectSolutions)
    app.add_post_transform(LongTableWidths)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
