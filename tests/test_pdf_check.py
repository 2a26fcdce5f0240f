"""tools/pdf_check.py accepts a good PDF text and names what is wrong with a bad one.

The texts imitate `pdftotext -layout` of the book's PDF: pages separated by form feeds,
a table of contents with dotted leaders and page numbers, then the chapters.
"""
import re

import pdf_check

TITLES = [
    ("book/index", "Neural Networks and Deep Generative Models"),
    ("book/part0/00_preface", "Preface: how to use this book (前言)"),
    ("book/part2_dynamic/05_dhnn", "Discrete Hopfield networks and associative memory (离散 Hopfield 网络与联想记忆)"),
    ("book/appendix/references", "References"),
]

TOC = """                                                CONTENTS
1 Preface: how to use this book (前言)                                   3
  1.1 The rule every chapter follows . . . . . . . . . . . . . . . .    3
2 Discrete Hopfield networks and associative memory (离散 Hopfield 网络与联想记忆)   5
  2.1 The network . . . . . . . . . . . . . . . . . . . . . . . . . .    5
3 References                                                              9
"""


def _pdf_text(chapters=None, extra=""):
    chapters = chapters or [
        "CHAPTER\n  ONE\nPREFACE: HOW TO USE THIS BOOK (前言)\nThe notes make a claim.",
        "CHAPTER\n  TWO\nDISCRETE HOPFIELD NETWORKS AND ASSOCIATIVE\n   MEMORY (离散 HOPFIELD 网络与联想记忆)\n"
        "A network stores 0.14N patterns, E(x) = −½ xᵀWx.",
        "CHAPTER\n  THREE\nREFERENCES\n[Hopfield, 1982] J. J. Hopfield.",
    ]
    pages = ["Neural Networks and Deep\n  Generative Models\n", TOC,
             "Neural Networks and Deep Generative Models\nAn executable course."] + chapters
    return "\f".join(pages) + extra + "\f"


def test_a_good_text_passes():
    assert pdf_check.check_text(_pdf_text(), TITLES) == []


def test_a_missing_chapter_is_reported():
    text = _pdf_text().replace("DISCRETE HOPFIELD NETWORKS AND ASSOCIATIVE\n   MEMORY (离散 HOPFIELD 网络与联想记忆)", "")
    problems = pdf_check.check_text(text, TITLES)
    assert len(problems) == 1
    assert "chapter missing" in problems[0] and "Discrete Hopfield" in problems[0]


def test_a_chapter_missing_from_the_table_of_contents_is_reported():
    text = _pdf_text().replace("3 References                                                              9", "")
    problems = pdf_check.check_text(text, TITLES)
    assert problems == ["table of contents: no entry with a page number for 'References' (book/appendix/references)"]


def test_chapters_out_of_order_are_reported():
    good = _pdf_text().split("\f")
    swapped = good[:3] + [good[4], good[3]] + good[5:]
    problems = pdf_check.check_text("\f".join(swapped), TITLES)
    assert len(problems) == 1
    assert "out of order" in problems[0] and "Discrete Hopfield" in problems[0] and "page 4" in problems[0]


def test_a_table_of_contents_without_page_numbers_is_reported():
    text = re.sub(r"(?:\. ){4,}", "", _pdf_text())  # no dotted leaders
    problems = pdf_check.check_text(text, TITLES)
    assert any("no table of contents" in p for p in problems)


def test_leftover_glue_math_and_roles_are_reported():
    for leftover, what in [
        ("So {glue:text}`n_stored` patterns.", "{glue"),
        ("$$ E = -\\frac12 x^T W x $$", "$$"),
        ("the {term}`Hebbian learning rule`", "MyST role"),
        ("as shown by {cite:p}`hopfield1982`", "MyST role"),
        ("a glyph: \ufffd", "missing glyph"),
    ]:
        problems = pdf_check.check_text(_pdf_text(extra="\f" + leftover), TITLES)
        assert len(problems) == 1, (leftover, problems)
        assert problems[0].startswith(what), (leftover, problems)
        assert "page 7" in problems[0]


def test_directive_names_quoted_as_code_are_allowed():
    # the Teaching chapter quotes `{solution}` and `{solution-start}` as code
    text = _pdf_text(extra="\fevery {solution} box, and everything between {solution-start} and {solution-end}")
    assert pdf_check.check_text(text, TITLES) == []


def test_the_titles_come_from_the_toc_and_the_first_headings():
    titles = pdf_check.chapter_titles()
    docs = [doc for doc, _ in titles]
    assert docs[0] == "book/index" and "book/part2_dynamic/05_dhnn" in docs
    assert dict(titles)["book/part2_dynamic/05_dhnn"].startswith("Discrete Hopfield networks")
    assert len(docs) == len(set(docs))


def test_the_command_line_fails_clearly_without_a_pdf(tmp_path, capsys):
    assert pdf_check.main([str(tmp_path / "none.pdf")]) == 1
    assert "run `make pdf` first" in capsys.readouterr().err
