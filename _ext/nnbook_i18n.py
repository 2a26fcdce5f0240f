"""Sphinx extension for the book's two editions: English at the site's root, Chinese under ``zh/``.

Every HTML page gets a language switch, a link to the same page in the other edition (at the top of the
page), and ``<link rel="alternate" hreflang=...>`` tags for both. The Chinese edition is the same source
built with ``language = "zh_CN"`` and the catalogs of ``locales/`` (``make book-zh``); its pages live one
folder below the English ones, so each link is the page's own path, one level down or up. The English
pages get the switch only where ``nnbook_language_switch`` is true (once the Chinese edition is published
beside them); the Chinese pages always have it.

Sphinx extracts and translates only text whose source it knows; MyST leaves none on the paragraphs it parses
inside nested directives (the cells of a table in a model answer's dropdown inside an exam box), so they get
their nearest ancestor's, in both builds, before Sphinx's own i18n transforms run.

A translated paragraph is parsed on its own, as a notebook of its own, by Sphinx's ``Locale`` transform; a
``{glue:text}`` role in it would then find no outputs (MyST-NB keeps them with the page's notebook).
So, in the Chinese build, the glue roles of a translation fall back on the glue data MyST-NB wrote for its
page: the numbers on a Chinese page are those of the executed notebook.

Two things on a Chinese page come from elsewhere than its catalog: the self-check quiz is an output of the
executed notebook (English), so its questions are replaced by their translation from the chapter's quiz
catalog (``<chapter>.quiz.po``); and the Colab badge opens the Chinese notebook (``zh/`` on the editions'
branch) instead of the English one. The Chinese glossary lists its terms in pinyin order, Chinese first.
"""

from __future__ import annotations

import functools
import html
import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)
TOOLS = str(Path(__file__).resolve().parents[1] / "tools")  # tools/i18n.py: the catalogs of the quizzes

ZH_DIR = "zh"  # where the Chinese edition lives, below the English site's root


def _is_zh(app: Sphinx) -> bool:
    return (app.config.language or "en").lower().startswith("zh")


def _switch(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if app.builder.format != "html" or "body" not in context:
        return
    if not _is_zh(app) and not app.config.nnbook_language_switch:
        return
    pathto = context["pathto"]
    page = pagename + app.builder.out_suffix
    if _is_zh(app):
        other, label, lang, here = pathto(f"../{page}", 1), "English", "en", "zh-CN"
        title = "Read this page in English"
    else:
        other, label, lang, here = pathto(f"{ZH_DIR}/{page}", 1), "中文", "zh-CN", "en"
        title = "阅读本页的中文版"
    own = pathto(page, 1)
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="alternate" hreflang="{here}" href="{html.escape(own)}" />'
        f'\n<link rel="alternate" hreflang="{lang}" href="{html.escape(other)}" />'
    )
    context["body"] = (
        f'<div class="nnbook-language-switch"><a href="{html.escape(other)}" hreflang="{lang}" lang="{lang}" '
        f'title="{title}">{label}</a></div>\n' + context["body"]
    )


def _page_glue(env) -> dict:
    """The glue data MyST-NB wrote for the page being read (``jupyter_execute/<page>.glue.json``)."""
    docname = getattr(env, "docname", None)
    path = Path(env.app.outdir).parent / "jupyter_execute" / f"{docname}.glue.json" if docname else None
    return _read_glue(str(path), path.stat().st_mtime_ns) if path and path.is_file() else {}


@functools.lru_cache(maxsize=4)
def _read_glue(path: str, mtime_ns: int) -> dict:
    """A page's glue file, read once for all the glue roles of its translations (again if it was rewritten)."""
    import json

    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _glue_in_translations() -> None:
    """Let MyST-NB's glue roles in a translated paragraph find their page's outputs."""
    from myst_nb.core.variables import RetrievalError, VariableOutput
    from myst_nb.ext.glue import directives, roles, utils

    original = utils.retrieve_glue_data
    if getattr(original, "_nnbook", False):
        return

    def retrieve(document, key):
        try:
            return original(document, key)
        except RetrievalError:  # a translation, parsed as a notebook of its own: its page's outputs
            glue = _page_glue(getattr(document.settings, "env", None))
            if key not in glue:
                raise
            return VariableOutput(data=glue[key]["data"], metadata=glue[key].get("metadata", {}), nb_renderer=None,
                                  vtype="glue")

    retrieve._nnbook = True
    for module in (utils, roles, directives):
        if hasattr(module, "retrieve_glue_data"):
            module.retrieve_glue_data = retrieve


def _on_init(app: Sphinx) -> None:
    if _is_zh(app):
        _glue_in_translations()


COLAB_RE = re.compile(r"^(https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/)(?!zh/)(.+\.ipynb)$")


def _chinese_page(app: Sphinx, doctree, docname: str) -> None:
    """On a Chinese page: the badge opens the Chinese notebook; the quiz asks its questions in Chinese; the glossary
    is in pinyin order."""
    if not _is_zh(app):
        return
    if docname == GLOSSARY:
        _glossary_in_pinyin_order(doctree)
    for ref in doctree.findall(nodes.reference):
        m = COLAB_RE.match(ref.get("refuri", ""))
        if m:
            ref["refuri"] = f"{m.group(1)}{ZH_DIR}/{m.group(2)}"
    quizzes = [raw for raw in doctree.findall(nodes.raw) if 'class="nnbook-quiz"' in raw.astext()]
    if not quizzes:
        return
    if TOOLS not in sys.path:
        sys.path.insert(0, TOOLS)
    import i18n
    from nnbook import quiz

    quiz_file = Path(app.srcdir) / f"{docname}.quiz.json"
    catalogs = Path(app.srcdir) / app.config.locale_dirs[0] / "zh_CN" / "LC_MESSAGES"
    try:
        translated = i18n.translated_quiz(quiz_file, catalogs)
    except (OSError, ValueError) as err:
        logger.warning(f"the quiz of {docname} stays English: {err} ({i18n.quiz_catalog(quiz_file, catalogs).name})",
                       location=docname)
        return
    for raw in quizzes:
        new = quiz.with_questions(raw.astext(), translated, lang="zh")
        raw.replace(raw.children[0], nodes.Text(new))


GLOSSARY = "book/appendix/glossary"


def pinyin_key(text: str) -> tuple:
    """Where a Chinese term goes in a Chinese index: by its pinyin without tones (by word, so that 长短期 reads
    chang), Latin letters as they are; then by the characters themselves."""
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text)).replace(" ", "").lower(), text


def _glossary_in_pinyin_order(doctree) -> None:
    """The Chinese glossary: its table's columns 中文 | English | chapter, its rows in the pinyin order of the Chinese."""
    for table in doctree.findall(nodes.table):
        head, body = next(table.findall(nodes.thead), None), next(table.findall(nodes.tbody), None)
        if head is None or body is None:
            continue
        for row in (*head.children, *body.children):
            row.children[0], row.children[1] = row.children[1], row.children[0]
        rows = sorted(body.children, key=lambda row: pinyin_key(row.children[0].astext()))
        body.children = []
        body.extend(rows)


class _SourceOfNestedText(SphinxTransform):
    """Give a source and a line to the paragraphs that MyST parses inside nested directives without them (the
    cells of a table in a dropdown inside an admonition): Sphinx translates only text whose source it knows."""

    default_priority = 5  # before sphinx.transforms.i18n (PreserveTranslatableMessages 10, Locale 20)

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.TextElement):
            if not node.source:
                parent = node.parent
                while parent is not None and not parent.source:
                    parent = parent.parent
                if parent is not None:
                    node.source, node.line = parent.source, node.line or parent.line


class _TranslatedTocCaptions(SphinxTransform):
    """In the Chinese build, the captions of the table of contents' parts (the sidebar's headings): sphinx-external-toc
    inserts its toctrees, captions from ``_toc.yml``, only after Sphinx translated the page, so they get their
    translation from the page's catalog here."""

    default_priority = 110  # after sphinx-external-toc's InsertToctrees (100), itself after Locale (20)

    def apply(self, **kwargs) -> None:
        toctrees = [t for t in self.document.findall(addnodes.toctree) if t.get("caption")]
        if not toctrees or not _is_zh(self.app):
            return
        from sphinx.locale import init as init_locale
        from sphinx.util.i18n import docname_to_domain

        dirs = [str(Path(self.env.srcdir) / d) for d in self.config.locale_dirs]
        catalog, _ = init_locale(dirs, self.config.language, docname_to_domain(self.env.docname, self.config.gettext_compact))
        for toctree in toctrees:
            toctree["caption"] = catalog.gettext(toctree["caption"])


def setup(app: Sphinx) -> dict:
    app.add_transform(_SourceOfNestedText)
    app.add_transform(_TranslatedTocCaptions)
    app.connect("builder-inited", _on_init)
    app.add_config_value("nnbook_language_switch", False, "html", bool)
    app.connect("html-page-context", _switch)
    app.connect("doctree-resolved", _chinese_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
