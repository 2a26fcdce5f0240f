"""The determinism check (tools/determinism.py): its comparison logic, and a cheap version
of `make test-determinism` for `make test` (one chapter run twice). That every chapter seeds, and
that nnbook makes no unseeded generator, are policies of tools/lint.py (`make lint`)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

import determinism
from chapters import BOOK, chapter_sources, chapter_title_of, notebook_for


def executed(*cells):
    """A notebook whose code cells have the given outputs; a cell is ``(outputs, tags)`` or ``outputs``."""
    nb = new_notebook()
    for c in cells:
        outputs, tags = c if isinstance(c, tuple) else (c, [])
        cell = new_code_cell("pass", outputs=outputs)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def out(text, name="stdout"):
    return new_output("stream", name=name, text=text)


def result(text):
    return new_output("execute_result", data={"text/plain": text, "text/html": f"<b id='{id(text)}'>{text}</b>"}, execution_count=1)


def test_same_outputs_are_the_same():
    a = executed([out("loss 0.125\n")], [result("array([1, 2])")])
    assert determinism.compare(a, executed([out("loss 0.125\n")], [result("array([1, 2])")])) == []


def test_a_changed_number_is_reported_with_its_cell():
    a = executed([out("seed 0\n")], [out("loss 0.125\n")])
    b = executed([out("seed 0\n")], [out("loss 0.126\n")])
    problems = determinism.compare(a, b)
    assert len(problems) == 1 and problems[0].startswith("code cell 2")
    assert "-[stdout] loss 0.125" in problems[0] and "+[stdout] loss 0.126" in problems[0]


def test_glued_and_displayed_values_are_compared_but_html_is_not():
    glued = new_output("display_data", data={"text/plain": "0.93"}, metadata={"scrapbook": {"name": "acc"}})
    other = new_output("display_data", data={"text/plain": "0.94"}, metadata={"scrapbook": {"name": "acc"}})
    assert determinism.compare(executed([glued]), executed([other]))
    # glue(..., display=False) hides the value under a prefixed mime type; the page text still quotes it
    hidden = [new_output("display_data", data={"application/papermill.record/text/plain": v},
                         metadata={"scrapbook": {"name": "acc", "mime_prefix": "application/papermill.record/"}})
              for v in ("0.93", "0.94")]
    assert determinism.compare(executed([hidden[0]]), executed([hidden[1]]))
    assert determinism.compare(executed([hidden[0]]), executed([hidden[0]])) == []
    html_a = new_output("display_data", data={"text/html": "<div id='a1'>anim</div>", "text/plain": "<IPython.HTML object>"})
    html_b = new_output("display_data", data={"text/html": "<div id='b2'>anim</div>", "text/plain": "<IPython.HTML object>"})
    assert determinism.compare(executed([html_a]), executed([html_b])) == []


def test_cells_tagged_timing_are_exempt():
    a = executed(([out("took 0.21 s\n")], ["timing"]), [out("valid 4%\n")])
    b = executed(([out("took 0.28 s\n")], ["timing"]), [out("valid 4%\n")])
    assert determinism.compare(a, b) == []
    b.cells[1].outputs = [out("valid 5%\n")]
    assert determinism.compare(a, b)[0].startswith("code cell 2")


def test_progress_bars_and_addresses_are_ignored():
    bar1 = "  0%|          | 0/50 [00:00<?, ?it/s]\r 40%|████      | 20/50 [00:01<00:01, 19.2it/s]\r100%|██████████| 50/50 [00:02<00:00, 21.0it/s]\n"
    bar2 = "100%|██████████| 50/50 [00:03<00:00, 15.5it/s]\n"
    warn = "<ipython-input>:3: UserWarning: object at 0x7f3a2c1b9d00 is slow\n"
    a = executed([out(bar1, "stderr"), out("done\n")], [result("<Figure at 0x7f00deadbeef>")], [out(warn, "stderr")])
    b = executed([out(bar2, "stderr"), out("done\n")], [result("<Figure at 0x7f11cafef00d>")], [out(warn.replace("2c1b", "99aa"), "stderr")])
    assert determinism.compare(a, b) == []
    b.cells[2].outputs = [out(warn.replace("is slow", "is fast"), "stderr")]  # a warning's words still count
    assert determinism.compare(a, b)


def test_one_print_split_into_chunks_equals_one_chunk():
    a = executed([out("sync:"), out(" [[1, -1]] period 2\n")])
    assert determinism.compare(a, executed([out("sync: [[1, -1]] period 2\n")])) == []


def test_errors_are_compared_and_a_changed_notebook_is_flagged():
    err = lambda v: new_output("error", ename="ValueError", evalue=v, traceback=[])  # noqa: E731
    assert determinism.compare(executed([err("x must be >= 0")]), executed([err("x must be >= 1")]))
    assert "different code cells" in determinism.compare(executed([], []), executed([]))[0]


# ---- the cheap version for `make test` ----------------------------------------------------------

CHAPTERS = [md for md in chapter_sources() if notebook_for(md).exists()]


def cheapest_chapter() -> Path:
    """The chapter that ran fastest in book/appendix/timings.csv (the first chapter without timings)."""
    seconds = {}
    with (BOOK / "appendix" / "timings.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                seconds[row["Chapter"]] = float(row["CPU wall (s)"])
            except (KeyError, ValueError):
                pass
    return min(CHAPTERS, key=lambda md: seconds.get(chapter_title_of(md), float("inf")))


@pytest.mark.slow  # executes a chapter twice: about 15 s
def test_cheapest_chapter_runs_the_same_twice(capsys):
    """`make test-determinism` runs every chapter twice; here only the cheapest, to test the tool end to end."""
    status = determinism.check([cheapest_chapter()], jobs=2)
    report = capsys.readouterr().out
    assert status == 0, report
    assert re.search(r"^same ", report, re.M), report
