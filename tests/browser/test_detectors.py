"""Each check of sitecheck.py catches the defect it is for: a tiny synthetic site with
one good page and pages with planted defects, built from the same pieces as the book
(MathJax from sphinx-mathjax-offline, sphinx-togglebutton's script, matplotlib's
`to_jshtml` player). Needs Chromium but not the built book."""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import matplotlib
import pytest
import sitecheck

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402


def _package_dir(name: str) -> Path:
    return Path(importlib.util.find_spec(name).origin).parent


HEAD = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>
<script>let toggleHintShow = 'Click to show'; let toggleHintHide = 'Click to hide';
let toggleOpenOnPrint = 'true'; var togglebuttonSelector = '.toggle, .admonition.dropdown';</script>
<link rel="stylesheet" href="_static/togglebutton.css">
{scripts}
</head><body><main>
"""
MATHJAX = '<script>window.MathJax = {options: {processHtmlClass: "math"}}</script>\n' \
          '<script defer src="_static/mathjax/tex-chtml.js"></script>'
TOGGLE = '<script src="_static/togglebutton.js"></script>'


def _animation(frozen: bool, frames: int = 3) -> str:
    fig, ax = plt.subplots(figsize=(1.5, 1.5), dpi=40)
    (line,) = ax.plot([0, 1], [0, 0])
    ax.set_ylim(-1, frames)

    def update(i):
        if not frozen:  # the classic bug: the artist is never updated
            line.set_ydata([i, i])
        return (line,)

    html = FuncAnimation(fig, update, frames=frames, interval=100).to_jshtml()
    plt.close(fig)
    return html


def _png() -> bytes:
    fig, ax = plt.subplots(figsize=(1, 1), dpi=30)
    ax.plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


SOLUTION = """<div class="solution dropdown admonition" id="{id}">
<p class="admonition-title">Solution</p><section><p>The answer is 42.</p></section></div>"""

GOOD = HEAD.format(title="good", scripts=MATHJAX + TOGGLE) + """
<h1 id="top-section">A good page</h1>
<p>Energy <span class="math notranslate nohighlight">\\(E(x) = -\\tfrac12 x^\\top W x\\)</span>, and
prices like $5 or $10 are not TeX.</p>
<div class="math notranslate nohighlight">\\[\\sum_i x_i^2\\]</div>
<pre>code may hold \\frac and $$ freely</pre>
<img src="_images/plot.png" alt="a plot">
{animation}
{quiz}
""" + SOLUTION.format(id="sol-good") + """
<details><summary>More</summary><p>Hidden text.</p></details>
<p><a href="bad.html">bad</a> <a href="good.html#top-section">self</a> <a href="#top-section">here</a>
<a href="bad.html#bad-section">there</a> <a href="https://example.org/">external</a></p>
</main></body></html>"""

BAD = HEAD.format(title="bad", scripts=MATHJAX + '<link rel="stylesheet" href="_static/missing.css">') + """
<h1 id="bad-section">A page with planted defects</h1>
<p>A macro MathJax does not know: <span class="math notranslate nohighlight">\\(\\notamacro x\\)</span>,
a double exponent: <span class="math notranslate nohighlight">\\(x^2^3\\)</span>,
a brace left open: <span class="math notranslate nohighlight">\\(\\frac{1}{2\\)</span>.</p>
<p>Raw TeX the parser missed: the energy $E = -\\frac12 x^T W x$ is a Lyapunov function.</p>
<img src="_images/missing.png" alt="a missing plot">
{frozen}
{single}
""" + SOLUTION.format(id="sol-bad") + """
<details><summary onclick="event.preventDefault()">Stuck</summary><p>Never shown.</p></details>
<p><a href="missing.html">gone</a> <a href="good.html#no-such-id">no anchor</a> <a href="#nowhere">no anchor here</a></p>
<script>notDefinedAnywhere();</script>
</main></body></html>"""

NOMATHJAX = HEAD.format(title="no MathJax", scripts=TOGGLE) + """
<p>Math with no MathJax to typeset it: <span class="math notranslate nohighlight">\\(x^2\\)</span></p>
</main></body></html>"""

# What each check must say about bad.html (a substring of one of its messages each).
EXPECTED = {
    "math": ["MathJax error: 'undefined macro (shown in red) in \\\\notamacro x'", "MathJax error: 'Double exponent",
             "not typeset: '\\\\(\\\\frac{1}{2\\\\)'",
             "raw TeX in the text: 'Raw TeX the parser missed: the energy $E = -\\\\frac12"],
    "images": ["image did not load: '_images/missing.png'"],
    "animations": ["did not change the frame", "1 frame(s)"],
    "dropdowns": ["sol-bad: content visible before a click", "details 0: a click on the summary did not open it"],
    "links": ["broken link: missing.html", "missing anchor: good.html#no-such-id", "missing anchor: bad.html#nowhere"],
    "requests": ["HTTP 404: /_static/missing.css", "HTTP 404: /_images/missing.png"],
    "javascript": ["notDefinedAnywhere is not defined"],
    "quiz": ["a chapter page without its self-check quiz"],
}
QUIZ = [{"question": "Which $x_{<d}$?", "type": "choice",
         "answers": [{"answer": "one", "correct": False, "feedback": "No: one is too few"},
                     {"answer": "two", "correct": True, "feedback": "Right: two is the count"}]},
        {"question": "How many?", "type": "numeric", "value": 12.0, "tolerance": 0.5, "glue": "n",
         "feedback": "Right: twelve", "hint": "Count the edges again"}]


def _quiz_html(broken: bool = False) -> str:
    """The quiz output nnbook.quiz.show makes; `broken`: every answer judged right, with a fixed text."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from nnbook import quiz

    InteractiveShell.instance()
    with capture_output() as captured:
        quiz.show(QUIZ)
    html = captured.outputs[0].data["text/html"]
    if broken:
        html = html.replace('label.dataset.correct == "true"', "true").replace(
            "fb.innerHTML = jaxify(label.dataset.feedback);", 'fb.innerHTML = "Well done";')
    return html


BADQUIZ = HEAD.format(title="bad quiz", scripts=MATHJAX) + "<p>Math: $x$.</p>{quiz}</main></body></html>"


@pytest.fixture(scope="module")
def fake_site(tmp_path_factory, browser):
    root = tmp_path_factory.mktemp("site")
    (root / "_static").mkdir()
    (root / "_images").mkdir()
    (root / "_static" / "mathjax").symlink_to(_package_dir("sphinx-mathjax-offline") / "static" / "mathjax")
    toggle = _package_dir("sphinx_togglebutton") / "_static"
    for name in ("togglebutton.js", "togglebutton.css"):
        (root / "_static" / name).write_bytes((toggle / name).read_bytes())
    (root / "_images" / "plot.png").write_bytes(_png())
    good = GOOD.replace("{animation}", _animation(frozen=False)).replace("{quiz}", _quiz_html())
    (root / "good.html").write_text(good, encoding="utf-8")
    (root / "badquiz.html").write_text(BADQUIZ.replace("{quiz}", _quiz_html(broken=True)), encoding="utf-8")
    bad = BAD.replace("{frozen}", _animation(frozen=True)).replace("{single}", _animation(False, frames=1))
    (root / "bad.html").write_text(bad, encoding="utf-8")
    (root / "nomathjax.html").write_text(NOMATHJAX, encoding="utf-8")
    server = sitecheck.serve(root)
    context = sitecheck.new_context(browser, server)
    reports = {p: sitecheck.check_page(context, server, p, chapter=p != "nomathjax.html")
               for p in ("good.html", "bad.html", "nomathjax.html", "badquiz.html")}
    yield reports
    context.close()
    server.stop()


def test_pages_are_discovered(fake_site, tmp_path):
    (tmp_path / "_static").mkdir()
    for name in ("a.html", "sub/b.html", "_static/c.html"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("<p>x</p>")
    assert sitecheck.discover_pages(tmp_path) == ["a.html", "sub/b.html"]


def test_good_page_passes_every_check(fake_site):
    report = fake_site["good.html"]
    assert report.counts == {"quiz": 2, "math": 2, "dropdowns": 2, "animations": 1, "images": 2, "links": 4}
    assert report.problems == {check: [] for check in sitecheck.CHECKS}


@pytest.mark.parametrize("check", sitecheck.CHECKS)
def test_check_catches_planted_defect(fake_site, check):
    problems = "\n".join(fake_site["bad.html"].problems[check])
    for expected in EXPECTED[check]:
        assert expected in problems, f"{check} missed {expected!r}; it said:\n{problems}"


def test_a_quiz_that_judges_or_explains_wrongly_is_caught(fake_site):
    problems = "\n".join(fake_site["badquiz.html"].problems["quiz"])
    assert "choice question, wrong answer: marked" in problems, problems
    assert "choice question, right answer: feedback 'Well done' is not the quiz's" in problems, problems
    assert "numeric" not in problems, problems  # only the choice questions were broken


def test_math_without_mathjax_is_caught(fake_site):
    problems = "\n".join(fake_site["nomathjax.html"].problems["math"])
    assert "no MathJax script" in problems and "not typeset: '\\\\(x^2\\\\)'" in problems, problems
