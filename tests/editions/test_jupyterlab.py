"""The rendered editions opened in a real notebook front-end: JupyterLab, in headless Chromium.

A JupyterLab server (from PyPI, on 127.0.0.1 with a token, in a scratch folder holding copies
of both editions) is started once per pytest worker and stopped afterwards. Each notebook is
opened the way a student opens it; we check what the page shows: math typeset by JupyterLab's
MathJax, no MyST source visible, the badge image there, every solution closed until its
summary is clicked (then visible), folded solution code expanding on a click. Screenshots of
three notebooks land in _build/screenshots/ for a person to look at.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import editions
from chapters import ROOT, chapter_sources

CHROMIUM = os.environ.get("NNBOOK_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "_build" / "screenshots"
SHOT_CHAPTERS = {"05_dhnn", "08_transformers", "17_diffusion"}
RAW_TEX = re.compile(r"\$\$|\\(?:frac|sum|mathbb|operatorname|left|right|begin)\b")
CHAPTERS = chapter_sources()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """``(base_url, token)`` of a JupyterLab serving copies of _build/colab and _build/student."""
    root = tmp_path_factory.mktemp("lab")
    for edition in ("colab", "student"):
        source = ROOT / "_build" / edition
        if not source.is_dir():
            pytest.fail(f"no {source.relative_to(ROOT)}: run `make book` (it renders the editions)")
        shutil.copytree(source, root / "files" / edition)
    settings = root / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell in the DOM (no virtual scrolling), so the whole notebook can be checked
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    notices = root / "settings" / "@jupyterlab" / "apputils-extension"
    notices.mkdir(parents=True)  # no "get notified about Jupyter news?" toast over the screenshots
    (notices / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "HOME": str(root), "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_DATA_DIR": str(root / "data")}
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root / 'files'}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {(root / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-2000:]}")
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test-editions` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/"
MATHJAX_HERE = Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent / "static" / "mathjax"


def _offline(route, base: str) -> None:
    """Only the lab server answers; MathJax's CDN (what the quiz fetches in a front-end without a global
    MathJax) is answered from the copy sphinx-mathjax-offline ships, as if online."""
    url = route.request.url
    if url.startswith(base):
        route.continue_()
    elif url.startswith(MATHJAX_CDN) and (MATHJAX_HERE / url[len(MATHJAX_CDN):]).is_file():
        route.fulfill(path=str(MATHJAX_HERE / url[len(MATHJAX_CDN):]))
    else:
        route.abort()


def open_notebook(browser, lab, rel: str):
    """A page showing notebook ``rel`` in JupyterLab, every markdown cell rendered."""
    base, token = lab
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    # offline: only the lab server answers (the Colab badge image comes from colab.research.google.com)
    context.route("**/*", lambda r: _offline(r, base))
    page = context.new_page()
    page.goto(f"{base}/lab/tree/{rel}?reset&token={token}", wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-MarkdownCell", timeout=120_000)
    cells = json.loads((ROOT / "_build" / rel).read_text(encoding="utf-8"))["cells"]
    n_md = sum(c["cell_type"] == "markdown" for c in cells)
    page.wait_for_function(
        f"document.querySelectorAll('.jp-Notebook .jp-MarkdownCell .jp-RenderedMarkdown').length >= {n_md}",
        timeout=120_000)
    for _ in range(3):  # a kernel dialog may ask which kernel to use: no kernel is needed to read
        dialog = page.query_selector(".jp-Dialog")
        if dialog is None:
            break
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
    page.wait_for_function("document.querySelectorAll('.jp-RenderedMarkdown mjx-container').length > 0", timeout=60_000)
    page.wait_for_timeout(500)  # MathJax typesets in chunks
    return context, page, cells


def rendered_text(page) -> str:
    return page.evaluate("""() => [...document.querySelectorAll('.jp-Notebook .jp-MarkdownCell .jp-RenderedMarkdown')]
        .map(e => { const c = e.cloneNode(true); c.querySelectorAll('mjx-container').forEach(m => m.remove());
                    return c.textContent; }).join('\\n')""")


def readable_text(page, rel: str) -> str:
    """The notebook's rendered text, once checked: its math typeset (none left as TeX), no MyST source shown."""
    text = rendered_text(page)
    assert page.eval_on_selector_all(".jp-RenderedMarkdown mjx-container", "els => els.length") > 10
    raw = RAW_TEX.search(text)
    assert raw is None, f"{rel}: TeX not typeset: {text[max(0, raw.start() - 80):raw.end() + 40]!r}"
    assert editions.myst_leftovers(text) == [], f"{rel}: MyST source visible"
    return text


def run_quiz_cell(page, cells):
    """Run the notebook's quiz cell as a student does (select it, Shift+Enter); its quiz, once drawn."""
    index = next(i for i, c in enumerate(cells) if "quiz" in c["metadata"].get("tags", []))
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputPrompt").first.click()  # select the cell (its code is folded)
    page.keyboard.press("Shift+Enter")
    quiz = cell.locator(".jp-OutputArea .nnbook-quiz")
    quiz.locator(".Quiz").first.wait_for(timeout=120_000)  # the kernel starts, then the cell runs
    return quiz


@pytest.mark.parametrize("edition", ["colab", "student"])
@pytest.mark.parametrize("md", CHAPTERS, ids=lambda md: md.stem)
def test_notebook_reads_like_the_page_in_jupyterlab(browser, lab, edition, md):
    rel = f"{edition}/{editions.rel_of(md).as_posix()}.ipynb"
    context, page, cells = open_notebook(browser, lab, rel)
    try:
        text = readable_text(page, rel)
        # the title and the boxes the website shows
        assert page.query_selector(".jp-RenderedMarkdown h1") is not None
        assert "You will learn" in text
        if edition == "colab":
            assert page.query_selector(".jp-RenderedMarkdown img[src*='colab-badge']") is not None
            _check_solutions(page, rel, cells)
        else:
            summaries = page.eval_on_selector_all(".jp-RenderedMarkdown details > summary", "els => els.map(e => e.textContent)")
            assert all(s.strip() == "Model answer" for s in summaries) and "Solution to" not in text  # exam answers stay
        if edition == "colab" and md.stem in SHOT_CHAPTERS:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            first_box = page.query_selector(".jp-RenderedMarkdown blockquote")
            first_box.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / f"jupyterlab-{md.stem}.png"))
            solution = page.query_selector(".jp-RenderedMarkdown details")  # opened by the check above
            solution.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / f"jupyterlab-{md.stem}-solution.png"))
    finally:
        context.close()


def _check_solutions(page, rel: str, cells: list[dict]) -> None:
    """Every <details> solution is closed and its text hidden until clicked; folded code opens on a click."""
    details = page.query_selector_all(".jp-RenderedMarkdown details")
    assert details, f"{rel}: no folded solution"
    for d in details:
        assert d.evaluate("d => d.open") is False, f"{rel}: a solution is open before any click"
        body = d.query_selector(":scope > :not(summary)")
        assert body is not None and not body.is_visible(), f"{rel}: solution text visible before a click"
        d.query_selector("summary").click()
        assert d.evaluate("d => d.open") is True and body.is_visible(), f"{rel}: a click did not show the solution"
    # code cells whose input the notebook folds (solutions, hide-input): collapsed in the page
    folded = sum(1 for c in cells if c["cell_type"] == "code" and c["metadata"].get("jupyter", {}).get("source_hidden"))
    hidden = page.query_selector_all(".jp-CodeCell .jp-InputPlaceholder")
    assert folded > 0 and len(hidden) == folded, f"{rel}: {folded} folded code cells, {len(hidden)} collapsed"
    hidden[-1].scroll_into_view_if_needed()
    hidden[-1].click()
    page.wait_for_timeout(300)
    assert len(page.query_selector_all(".jp-CodeCell .jp-InputPlaceholder")) == folded - 1, \
        f"{rel}: a click on folded code did not show it"


QUIZ_CHAPTER = "02_mlp_backprop"


def test_the_quiz_cell_draws_a_working_quiz_in_jupyterlab(browser, lab):
    """Run as a student does: the quiz cell (its questions written into it) draws the quiz in JupyterLab,
    and a right choice is marked right with the quiz's feedback."""
    md = next(md for md in CHAPTERS if md.stem == QUIZ_CHAPTER)
    rel = f"colab/{editions.rel_of(md).as_posix()}.ipynb"
    context, page, cells = open_notebook(browser, lab, rel)
    try:
        quiz = run_quiz_cell(page, cells)
        assert quiz.locator(".Quiz").count() == len(json.loads(md.with_name(f"{md.stem}.quiz.json").read_text(encoding="utf-8")))
        choice = quiz.locator(".Quiz:has(.MultipleChoiceQn)").first
        right = choice.locator('label.MCButton[data-correct="true"]').first
        right.click()
        feedback = choice.locator(".Feedback")
        feedback.wait_for(state="visible", timeout=5000)
        assert "correct" in (feedback.get_attribute("class") or "").split()
        assert feedback.inner_text().strip()
        if "$" in (right.get_attribute("data-feedback") or ""):  # its formulas typeset, none left as TeX
            page.wait_for_function("el => el.querySelector('mjx-container')", arg=feedback.element_handle(),
                                   timeout=30_000)
            assert "\\(" not in feedback.inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"jupyterlab-{QUIZ_CHAPTER}-quiz.png"))
    finally:
        context.close()


ZH_CHAPTERS = ["05_dhnn", "12_boltzmann_rbm_dbn"]


@pytest.mark.parametrize("stem", ZH_CHAPTERS)
def test_the_chinese_notebook_reads_like_the_chinese_page_in_jupyterlab(browser, lab, stem):
    """The Chinese Colab edition as a student opens it: Chinese text, math typeset, no MyST, the badge, the
    solutions folded; its quiz cell asks the questions in Chinese and answers a right choice as right."""
    md = next(md for md in CHAPTERS if md.stem == stem)
    rel = f"colab/zh/{editions.rel_of(md).as_posix()}.ipynb"
    context, page, cells = open_notebook(browser, lab, rel)
    try:
        text = readable_text(page, rel)
        assert "本章你将学到" in text and "You will learn" not in text
        assert page.query_selector(".jp-RenderedMarkdown img[src*='colab-badge']") is not None
        _check_solutions(page, rel, cells)
        quiz = run_quiz_cell(page, cells)
        assert re.search(r"[\u4e00-\u9fff]{4}", quiz.locator(".Quiz").first.inner_text())  # asked in Chinese
        choice = quiz.locator(".Quiz:has(.MultipleChoiceQn)").first
        choice.locator('label.MCButton[data-correct="true"]').first.click()
        feedback = choice.locator(".Feedback")
        feedback.wait_for(state="visible", timeout=5000)
        assert "correct" in (feedback.get_attribute("class") or "").split() and "正确" in feedback.inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"jupyterlab-zh-{stem}-quiz.png"))
    finally:
        context.close()
