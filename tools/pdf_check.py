"""Check the book's PDF (`make test-pdf`): `python tools/pdf_check.py _build/pdf/book.pdf`.

With `pdftotext -layout` (poppler-utils) it checks that

- every page of `_toc.yml` (its title: the page's first `# ` heading) is listed in the
  table of contents with a page number, and appears in the body, in the order of `_toc.yml`;
- no MyST source leaked into the text: no `{glue`, no `$$`, no role text such as
  `{term}` or `{cite:p}`;
- no glyph came out as U+FFFD (a character the fonts could not map);

and prints the page count. It exits 1 with one line per problem when a check fails.
`check_text` does the work on extracted text, so it can be tested without a PDF.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# MyST roles that must have been rendered ({glue is its own check; a directive name such as `{solution}` may be
# quoted in the text as code, so only roles are looked for).
ROLE_RE = re.compile(
    r"\{(?:term|cite(?::[a-z]+)?|ref|numref|eq|doc|download|abbr|"
    r"prf:ref|math|sub|sup|kbd|index|footcite(?::[a-z]+)?)\}"
)
LEFTOVERS = [
    ("{glue", re.compile(r"\{glue")),
    ("$$", re.compile(r"\$\$")),
    ("MyST role", ROLE_RE),
    ("missing glyph (U+FFFD)", re.compile("\ufffd")),
]


def toc_pages(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """The documents of ``_toc.yml`` in reading order: the root first."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return pages


def page_title(source: Path) -> str:
    """The first ``# `` heading of a page (outside code fences)."""
    fence = None
    for line in source.read_text(encoding="utf-8").splitlines():
        stripped = line.lstrip()
        m = re.match(r"(`{3,}|~{3,})", stripped)
        if m:
            if fence is None:
                fence = m.group(1)
            elif stripped.startswith(fence):
                fence = None
            continue
        if fence is None and line.startswith("# "):
            return line[2:].strip()
    raise ValueError(f"{source}: no '# ' heading")


def chapter_titles(toc_path: Path = ROOT / "_toc.yml") -> list[tuple[str, str]]:
    """``(document, title)`` for the root and every page of ``_toc.yml``, in order."""
    base = toc_path.parent
    out = []
    for doc in toc_pages(toc_path):
        path = base / doc
        if path.suffix == "":
            path = next((path.with_suffix(s) for s in (".md", ".ipynb", ".rst") if path.with_suffix(s).exists()),
                        path.with_suffix(".md"))
        out.append((doc, page_title(path)))
    return out


def _normalise(text: str) -> str:
    # full-width punctuation of the Chinese terms -> ASCII; ligatures -> letters
    return unicodedata.normalize("NFKC", text)


def _title_regex(title: str) -> str:
    """A pattern for ``title`` that survives line breaks, hyphenation, spacing and case."""
    chars = [re.escape(c) for c in _normalise(title) if not c.isspace() and c != "-"]
    return r"-?\s*".join(chars)


def check_text(text: str, titles: list[tuple[str, str]]) -> list[str]:
    """Problems found in ``pdftotext -layout`` output (pages separated by form feeds).

    ``titles``: ``(document, title)`` in book order; the first is the root page, which is
    the book's front matter and so is not listed in its table of contents.
    """
    text = _normalise(text)
    problems = []
    pages = text.split("\f")

    def page_of(pos: int) -> int:
        return text.count("\f", 0, pos) + 1

    # 1. the table of contents: the run of pages with dotted leaders ("1.2 Title . . . . 5");
    #    every page of _toc.yml is listed there with a page number at the end of its line
    leader = re.compile(r"(?:\. ?){4,}\s*\d+[ \t]*$", re.MULTILINE)
    with_leaders = [i for i, page in enumerate(pages) if leader.search(page)]
    if not with_leaders:
        problems.append("no table of contents with page numbers (no dotted-leader lines)")
        toc_pages_ = []
    else:
        toc_pages_ = [with_leaders[0]]
        for i in with_leaders[1:]:
            if i - toc_pages_[-1] > 2:
                break
            toc_pages_.append(i)
    toc_text = "\f".join(pages[toc_pages_[0]:toc_pages_[-1] + 1]) if toc_pages_ else ""
    toc_end = len("\f".join(pages[:toc_pages_[-1] + 1])) if toc_pages_ else 0
    for i, (doc, title) in enumerate(titles):
        if i == 0 or not toc_pages_:
            continue
        entry = re.compile(_title_regex(title) + r"[ \t.]*\d+[ \t]*$", re.IGNORECASE | re.MULTILINE)
        if entry.search(toc_text) is None:
            problems.append(f"table of contents: no entry with a page number for {title!r} ({doc})")

    # 2. the body, after the table of contents: every title, in order
    pos = toc_end
    for doc, title in titles:
        pattern = re.compile(_title_regex(title), re.IGNORECASE)
        m = pattern.search(text, pos)
        if m is None:
            anywhere = pattern.search(text, toc_end)
            if anywhere is None:
                problems.append(f"chapter missing from the body: {title!r} ({doc})")
            else:
                problems.append(
                    f"chapter out of order: {title!r} ({doc}) is on page {page_of(anywhere.start())}, "
                    f"before the chapter that precedes it in _toc.yml (page {page_of(pos)})"
                )
            continue
        pos = m.end()

    # 3. MyST source that was not rendered
    for what, regex in LEFTOVERS:
        hits = list(regex.finditer(text))
        if hits:
            shown = "; ".join(
                f"page {page_of(h.start())}: {text[max(0, h.start() - 30):h.end() + 30]!r}" for h in hits[:5]
            )
            problems.append(f"{what} in the text ({len(hits)}x): {shown}")

    if len([p for p in pages if p.strip()]) == 0:
        problems.append("the PDF has no text")
    return problems


def pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        raise SystemExit("pdf_check: pdftotext not found (Debian: apt-get install poppler-utils)")
    done = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"],
                          capture_output=True, text=True, encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(f"pdf_check: pdftotext failed on {pdf}: {done.stderr.strip()}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--toc", type=Path, default=ROOT / "_toc.yml")
    args = parser.parse_args(argv)
    if not args.pdf.is_file():
        print(f"pdf_check: no PDF at {args.pdf} (run `make pdf` first)", file=sys.stderr)
        return 1
    text = pdf_text(args.pdf)
    titles = chapter_titles(args.toc)
    problems = check_text(text, titles)
    pages = text.count("\f")
    size_mb = args.pdf.stat().st_size / 1e6
    if problems:
        print(f"pdf_check: {args.pdf}: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print("  - " + p, file=sys.stderr)
        return 1
    print(f"pdf_check: {args.pdf}: OK — {pages} pages, {size_mb:.1f} MB, "
          f"{len(titles)} pages of _toc.yml found in order, no MyST source left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
