"""The Chinese edition's catalogs (locales/zh_CN/LC_MESSAGES/**.po): extract, terminology, checks.

    python tools/i18n.py config           # write _build/zh/_config.yml: the book's config for the Chinese edition
    python tools/i18n.py terms            # write locales/zh_CN/terminology.csv from the chapters' Key terms
    python tools/i18n.py check [PO ...]   # every translation keeps its message's markup (default: all catalogs)
    python tools/i18n.py stat [PO ...]    # translated / fuzzy / untranslated per catalog
    python tools/i18n.py todo PO [-n N]   # the first N messages of PO to translate (untranslated or fuzzy), as JSON {msgid: ""}
    python tools/i18n.py apply PO JSON    # set translations from a JSON object {msgid: msgstr}; checks their markup
    python tools/i18n.py mend [PO ...]    # escape list markers that start a translation, space out literal ** (see check)
    python tools/i18n.py quiz-pot DIR     # the quizzes' texts as templates: book/<part>/<chapter>.quiz.json → DIR/book/<part>/<chapter>.quiz.pot

A translation must keep what Sphinx and MyST read in the English message: each role with its target
({term}, {doc}, {ref}, {numref}, {eq}, {cite}, {glue:text}…), each inline math `$…$`, each inline code
span, each link's address, and each HTML tag. The text around them is translated; a {term} or {doc}
role may get a Chinese title (`{term}`联想记忆 <Associative memory>``).

A chapter's self-check quiz (``<chapter>.quiz.json``) is translated in a catalog of its own beside the page's,
``<chapter>.quiz.po``: its questions, answers, feedback and hints (:func:`nnbook.quiz.texts`).
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

from babel.messages.pofile import read_po

from chapters import BOOK, chapter_sources, chapter_title_of
from glossary import chapter_terms, notes_names

ROOT = BOOK.parent
LOCALE = ROOT / "locales" / "zh_CN"
CATALOGS = LOCALE / "LC_MESSAGES"
TERMS = LOCALE / "terminology.csv"

ROLE_RE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
MATH_RE = re.compile(r"(?<![\\$])\$\$?(?!\s)(.+?)(?<![\\\s])\$\$?")
CODE_RE = re.compile(r"(?<![`}])`([^`]+)`")
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>")


def _target(role: str, body: str) -> str:
    """What a role points at: ``{term}`title <target>``` → target (titles are translated)."""
    m = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", body)
    if role in ("term", "doc", "ref", "numref", "download") and m:
        return m.group(2).strip()
    return body.strip()


def markup(text: str) -> Counter:
    """The pieces of ``text`` a translation must keep: roles with their targets, math, code, links, tags."""
    found: Counter = Counter()
    for m in ROLE_RE.finditer(text):
        found[("role", m.group(1), _target(m.group(1), m.group(2)))] += 1
    rest = ROLE_RE.sub(" ", text)
    for m in MATH_RE.finditer(rest):
        found[("math", m.group(0).strip("$").strip())] += 1
    rest = MATH_RE.sub(" ", rest)
    for m in CODE_RE.finditer(rest):
        found[("code", m.group(1))] += 1
    for m in LINK_RE.finditer(rest):
        found[("link", m.group(1))] += 1
    for m in TAG_RE.finditer(rest):
        found[("tag", m.group(0))] += 1
    return found


def _literal_stars(text: str) -> int:
    from markdown_it import MarkdownIt

    plain = ROLE_RE.sub("{R}", MATH_RE.sub("$M$", text))  # stand-ins that start and end as they do
    return MarkdownIt("commonmark").renderInline(plain).count("**")


def unclosed_emphasis(text: str) -> bool:
    """Whether ``text`` shows a literal ``**`` once rendered (CommonMark does not take ``**`` as bold where it
    touches punctuation on one side and a character on the other: ``**题目。**写`` needs a space)."""
    return _literal_stars(text) > 0


def mend_emphasis(text: str) -> str:
    """``text`` with a space beside each ``**`` that would otherwise stay literal (see :func:`unclosed_emphasis`)."""
    for m in reversed(list(re.finditer(r"\*\*", text))):
        if not unclosed_emphasis(text):
            break
        for mended in (text[: m.start()] + " " + text[m.start():], text[: m.end()] + " " + text[m.end():]):
            if _literal_stars(mended) < _literal_stars(text):
                text = mended
                break
    return text


LIST_START_RE = re.compile(r"^(\d{1,9})([.)])(?=\s)|^([-*+])(?=\s)")


def starts_a_list(text: str) -> bool:
    r"""Whether Markdown reads ``text`` as a list item (``1. …``, ``- …``). A heading or table cell "1. The forward
    process" is one message, and Sphinx drops a translation that does not parse as a paragraph: ``1\. 前向过程``."""
    return bool(LIST_START_RE.match(text))


def mend_list_start(text: str) -> str:
    """``text`` with its list marker escaped (see :func:`starts_a_list`)."""
    return LIST_START_RE.sub(lambda m: (m.group(1) + "\\" + m.group(2)) if m.group(1) else "\\" + m.group(3), text, count=1)


def _read(po: Path):
    with open(po, "rb") as f:
        return read_po(f)


def catalogs(paths=None) -> list[Path]:
    return [Path(p) for p in paths] if paths else sorted(CATALOGS.rglob("*.po"))


def problems(po: Path) -> list[str]:
    """What a catalog's translations lost or added of their messages' markup (one line each)."""
    cat = _read(po)
    name = po.relative_to(ROOT) if po.is_relative_to(ROOT) else po
    found = []
    for msg in cat:
        if not msg.id or not msg.string:
            continue
        want, got = markup(msg.id), markup(msg.string)
        if unclosed_emphasis(msg.string) and not unclosed_emphasis(msg.id):
            found.append(f"{name}: {msg.id[:70]!r}: a ** stays "
                         "literal (add a space between it and the Chinese next to it)")
        if starts_a_list(msg.string) and msg.string != msg.id:  # (Sphinx keeps an identical one as it is)
            found.append(f"{name}: {msg.id[:70]!r}: starts like a "
                         "list item, which Sphinx would drop (escape it: 1\\. …)")
        if want != got:
            lost = ", ".join(map(str, (want - got).keys()))
            added = ", ".join(map(str, (got - want).keys()))
            found.append(f"{name}: {msg.id[:70]!r}: "
                         + (f"lost {lost}" if lost else "") + ("; " if lost and added else "")
                         + (f"added {added}" if added else ""))
    return found


def missing(pot: Path, po: Path) -> list[str]:
    """The English messages of ``pot`` (fresh from the pages) that the catalog ``po`` lacks: pages edited
    since the catalog was updated (``make po``), whose new text has no translation yet."""
    want = [m.id for m in _read(pot) if m.id]
    if not po.is_file():
        return want
    have = {m.id for m in _read(po) if m.id}
    return [m for m in want if m not in have]


def stat(po: Path) -> tuple[int, int, int]:
    """``(translated, fuzzy, untranslated)`` messages of a catalog."""
    cat = _read(po)
    counts = [0, 0, 0]
    for msg in cat:
        if not msg.id:
            continue
        counts[1 if msg.fuzzy else 0 if msg.string else 2] += 1
    return tuple(counts)


def todo(po: Path) -> dict[str, str]:
    """The messages of ``po`` still to translate, untranslated or fuzzy (a guess of ``sphinx-intl update`` from a
    similar message, to be checked): ``{msgid: ""}``, in the catalog's order."""
    cat = _read(po)
    return {msg.id: "" for msg in cat if msg.id and (not msg.string or msg.fuzzy)}


def apply(po: Path, translations: dict[str, str]) -> list[str]:
    """Set the translations ``{msgid: msgstr}`` in ``po`` (empty ones skipped); what is wrong with them (unknown
    messages, broken markup), in which case nothing is written."""
    from babel.messages.pofile import write_po

    cat = _read(po)
    wrong = []
    for msgid, msgstr in translations.items():
        if not msgstr:
            continue
        msg = cat.get(msgid)
        if msg is None:
            wrong.append(f"not a message of {po.name}: {msgid[:70]!r}")
        elif starts_a_list(msgstr) and msgstr != msgid:
            wrong.append(f"starts like a list item (escape it: 1\\. …): {msgid[:70]!r}")
        elif markup(msgid) != markup(msgstr):
            want, got = markup(msgid), markup(msgstr)
            wrong.append(f"markup differs in {msgid[:70]!r}: lost {list((want - got).keys())}, added {list((got - want).keys())}")
        else:
            msg.string = msgstr
            msg.flags.discard("fuzzy")
    if not wrong:
        with open(po, "wb") as f:
            write_po(f, cat, width=76)
    return wrong


def translations(po: Path) -> dict[str, str]:
    """``{msgid: msgstr}`` of the translated messages of ``po`` (fuzzy ones left out); empty if there is no ``po``."""
    if not po.is_file():
        return {}
    return {m.id: m.string for m in _read(po) if m.id and m.string and not m.fuzzy}


def quiz_catalog(quiz_file: Path, catalogs_dir: Path = CATALOGS) -> Path:
    """The catalog of a chapter's quiz: ``book/<part>/<chapter>.quiz.json`` → ``<catalogs>/book/<part>/<chapter>.quiz.po``."""
    return catalogs_dir / Path(quiz_file).resolve().relative_to(ROOT).with_suffix(".po")


def translated_quiz(quiz_file: Path, catalogs_dir: Path = CATALOGS) -> list[dict]:
    """A chapter's quiz with the translations of its catalog (:func:`nnbook.quiz.translate`: ValueError naming a
    text that has none)."""
    from nnbook import quiz

    return quiz.translate(quiz.load(quiz_file), translations(quiz_catalog(quiz_file, catalogs_dir)))


def write_quiz_pots(out: Path) -> list[Path]:
    """A message template per chapter quiz, under ``out`` as the page's own lies there (``make pot``)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    from nnbook import quiz

    written = []
    for quiz_file in sorted(BOOK.rglob("*.quiz.json")):
        cat = Catalog(project="Neural Networks and Deep Generative Models", charset="utf-8")
        for text in quiz.texts(quiz.load(quiz_file)):
            cat.add(text)
        pot = out / quiz_file.relative_to(ROOT).with_suffix(".pot")
        pot.parent.mkdir(parents=True, exist_ok=True)
        with open(pot, "wb") as f:
            write_po(f, cat, width=76, omit_header=False)
        written.append(pot)
    return written


def mend(po: Path) -> int:
    """Rewrite ``po`` with :func:`mend_list_start` and :func:`mend_emphasis` applied where needed; how many changed."""
    from babel.messages.pofile import write_po

    cat, changed = _read(po), 0
    for msg in cat:
        if not msg.id or not msg.string or msg.string == msg.id:
            continue
        new = msg.string
        if starts_a_list(new):
            new = mend_list_start(new)
        if unclosed_emphasis(new) and not unclosed_emphasis(msg.id):
            new = mend_emphasis(new)
        if new != msg.string:
            msg.string, changed = new, changed + 1
    if changed:
        with open(po, "wb") as f:
            write_po(f, cat, width=76)
    return changed


ZH_CONFIG = ROOT / "_build" / "zh" / "_config.yml"
ZH_TITLE = "神经网络与深度生成模型"


def write_config(path: Path = ZH_CONFIG, *, chinese: bool = True, switch: bool | None = None) -> Path:
    """The book's config written elsewhere, its relative paths made absolute (Jupyter Book reads them relative
    to the config file): by default the Chinese edition's, with ``language: zh_CN`` and its title; ``switch``:
    whether pages get the language switch (False for a build that has no other edition beside it)."""
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx = cfg["sphinx"]
    config = sphinx["config"]
    if chinese:
        config["language"] = "zh_CN"
        cfg["title"] = ZH_TITLE
    if switch is not None:
        config["nnbook_language_switch"] = switch
    config["locale_dirs"] = [str(ROOT / d) for d in config["locale_dirs"]]
    config["html_static_path"] = [str(ROOT / d) for d in config["html_static_path"]]
    sphinx["local_extensions"] = {name: str(ROOT / d) for name, d in sphinx["local_extensions"].items()}
    cfg["bibtex_bibfiles"] = [str(ROOT / b) for b in cfg["bibtex_bibfiles"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_terms() -> Path:
    """locales/zh_CN/terminology.csv: English, Chinese, the chapter that defines the term, and the other names the
    lecture notes use for it (the book uses the one in the Chinese column)."""
    others = notes_names()
    rows = []
    for md in chapter_sources():
        for en, zh in chapter_terms(md):
            rows.append((en, zh, md.stem, chapter_title_of(md), "；".join(others.get(en, []))))
    rows.sort(key=lambda r: r[0].lower())
    LOCALE.mkdir(parents=True, exist_ok=True)
    with open(TERMS, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["english", "chinese", "chapter", "chapter title", "the notes also write"])
        w.writerows(rows)
    return TERMS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["config", "terms", "check", "stat", "todo", "apply", "quiz-pot", "mend"])
    parser.add_argument("po", nargs="*")
    parser.add_argument("-n", type=int, default=50, help="todo: how many messages")
    args = parser.parse_args(argv)
    if args.command == "todo":
        import json

        items = list(todo(Path(args.po[0])).items())[: args.n]
        print(json.dumps(dict(items), ensure_ascii=False, indent=1))
        return 0
    if args.command == "apply":
        import json

        wrong = apply(Path(args.po[0]), json.loads(Path(args.po[1]).read_text(encoding="utf-8")))
        print("\n".join(wrong) if wrong else f"applied to {args.po[0]}")
        return 1 if wrong else 0
    if args.command == "config":
        print(f"wrote {write_config().relative_to(ROOT)}")
        return 0
    if args.command == "mend":
        counts = {po: mend(po) for po in catalogs(args.po)}
        print(f"mended {sum(counts.values())} translations in {sum(1 for c in counts.values() if c)} catalogs")
        return 0
    if args.command == "quiz-pot":
        pots = write_quiz_pots(Path(args.po[0]) if args.po else ROOT / "_build" / "i18n" / "_build" / "gettext")
        print(f"wrote {len(pots)} quiz templates")
        return 0
    if args.command == "terms":
        print(f"wrote {write_terms().relative_to(ROOT)}")
        return 0
    if args.command == "stat":
        for po in catalogs(args.po):
            t, fz, u = stat(po)
            print(f"{po.relative_to(ROOT) if po.is_relative_to(ROOT) else po}: {t} translated, {fz} fuzzy, {u} untranslated")
        return 0
    found = [line for po in catalogs(args.po) for line in problems(po)]
    print("\n".join(found) if found else f"i18n check: the markup of every translation is intact ({len(catalogs(args.po))} catalogs)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
