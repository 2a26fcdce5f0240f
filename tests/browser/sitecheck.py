"""Drive a real browser (headless Chromium through Playwright) over the built website.

`check_page` opens one page and returns the problems it finds, grouped by check:

- math        every `.math` element was typeset by MathJax (has an `mjx-container`),
              no TeX error (bad syntax, an undefined macro) in what it typeset, and no
              raw TeX (`$$`, `\\(`, `\\frac`, `$x_i$`, ...) in the text outside code
- images      every `<img>` of the site (files, data URIs) loaded (`naturalWidth > 0`)
- animations  every matplotlib `to_jshtml` player has ≥ 2 frames, and clicking
              "Next frame" shows a different, loaded frame
- dropdowns   every toggle admonition (solutions) starts closed and opens on a click
              on its title; every `<details>` opens on a click on its summary
- links       every internal `href` (`<a>`, and `<link>` as rel=next/prev) names an
              existing file and, with a `#fragment`, an element with that id in it
- requests    no request for a file of the site failed (404: a missing CSS, JS, font)
- javascript  no uncaught JavaScript error

The browser reaches only the site: requests elsewhere (the Colab badge, a CDN) are
aborted, so the checks run offline. Nothing here downloads a browser: Chromium is
Debian's `/usr/bin/chromium` (or `$NNBOOK_CHROMIUM`). The site is `$NNBOOK_SITE`, else
`_build/html`.
"""
from __future__ import annotations

import functools
import json
import html.parser
import http.server
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("NNBOOK_CHROMIUM", "/usr/bin/chromium")
CHECKS = ("quiz", "math", "images", "animations", "dropdowns", "links", "requests", "javascript")
# A chapter's page (book/part1_static/02_mlp_backprop.html …): it must carry a working self-check quiz.
CHAPTER_PAGE = re.compile(r"^(zh/)?book/part[1-9][^/]*/\d\d_[^/]+\.html$")  # in either edition
# Folders of the build that hold assets, not pages.
ASSET_DIRS = {"_static", "_sources", "_images", "_downloads", "reports", "screenshots"}
# Dropdowns made by sphinx-togglebutton (its default selector) and sphinx-exercise.
TOGGLES = ".admonition.dropdown, .admonition.toggle"
TIMEOUT_MS = 20_000
# Uncaught JavaScript errors that come from a dependency, not from the book, with why
# they are harmless. Each one is matched exactly; anything else fails the check.
KNOWN_JS_ERRORS = {
    "Identifier 'THEBE_JS_URL' has already been declared":
        "sphinx-thebe 0.3.1 (part of Jupyter Book) writes its config <script> twice on "
        "every page; the first copy defines the constant, and thebe is not used here",
}


def site_dir() -> Path:
    return Path(os.environ.get("NNBOOK_SITE", ROOT / "_build" / "html")).resolve()


def discover_pages(site: Path) -> list[str]:
    """Every HTML page of the build (paths relative to `site`), assets left out."""
    pages = []
    for path in site.rglob("*.html"):
        rel = path.relative_to(site)
        if not ASSET_DIRS & set(rel.parts[:-1]):
            pages.append(rel.as_posix())
    return sorted(pages)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would drown pytest's output
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # the browser closing a page mid-transfer
        pass


@dataclass
class Server:
    site: Path
    url: str
    httpd: http.server.ThreadingHTTPServer

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(site: Path) -> Server:
    """Serve `site` on 127.0.0.1, a free port, from a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return Server(site, f"http://127.0.0.1:{httpd.server_address[1]}/", httpd)


def new_context(browser, server: Server):
    """A browser context that only reaches the site: other requests (CDNs, the Colab
    badge) are aborted and listed in `context.external` — the check runs offline."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.external = []

    def route(r):
        if r.request.url.startswith(server.url) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            context.external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context


def launch(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: `make test-browser` installs it (apt-get install chromium)")
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    )


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if value and (key == "id" or (key == "name" and tag == "a")):
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def ids_in(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


@dataclass
class Report:
    page: str
    problems: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CHECKS})
    counts: dict[str, int] = field(default_factory=dict)
    chapter: bool = False  # a chapter's page: it must carry its quiz


# ---- in-page scripts -------------------------------------------------------------

_MATH = """() => {
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(m => !m.querySelector('mjx-container'))
                        .map(m => m.textContent.trim().slice(0, 80));
  // TeX errors: <merror> (bad syntax) or red text (an undefined macro, MathJax's
  // noundefined package), read from the MathML MathJax made of each formula.
  const errors = [];
  const mj = window.MathJax && MathJax.startup;
  if (mj && mj.document && mj.toMML) {
    for (const item of mj.document.math) {
      const mml = mj.toMML(item.root);
      const m = mml.match(/<merror[^>]*data-mjx-error="([^"]*)"/) || mml.match(/<merror|mathcolor="red"/);
      if (m) errors.push((m[1] || 'undefined macro (shown in red)') + ' in ' + item.math.trim().slice(0, 100));
    }
  }
  // Raw TeX in text a reader sees: skip code, scripts and what MathJax made.
  const skip = 'pre, code, kbd, samp, script, style, textarea, mjx-container, .highlight';
  const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT);
  const patterns = [/\\$\\$/, /\\\\[()\\[\\]]/, /\\\\(begin|end)\\{/, /\\\\[A-Za-z]{2,}/,
                    /(^|[^\\w$\\\\])\\$[^$\\s][^$]*[\\\\^_{}][^$]*\\$/];
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement || n.parentElement.closest(skip)) continue;
    const t = n.textContent;
    if (patterns.some(p => p.test(t))) raw.push(t.trim().slice(0, 80));
  }
  return {count: math.length, untypeset, errors, raw};
}"""

_IMAGES = """async () => {
  const imgs = [...document.images].filter(img => !/^https?:/.test(img.getAttribute('src') || '')
                                              || img.src.startsWith(location.origin));
  imgs.forEach(img => { img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done); img.addEventListener('error', done); setTimeout(done, 15000);
  })));
  return imgs.map(img => ({
    ok: img.complete && img.naturalWidth > 0,
    src: (img.getAttribute('src') || '(no src)').slice(0, 80),
    where: img.id || img.alt || '',
  }));
}"""

_FRAME = """el => { const img = el.querySelector('img'), slider = el.querySelector('input.anim-slider');
  return {src: img ? img.src : '', ok: !!img && img.complete && img.naturalWidth > 0,
          frames: slider ? Number(slider.max) + 1 : 0, value: slider ? slider.value : null}; }"""

_LINKS = """() => [...new Set([...document.querySelectorAll('a[href], link[href]')].map(a => a.href))]"""


def _problem(report: Report, check: str, message: str) -> None:
    report.problems[check].append(message)


def _check_math(page, report: Report) -> None:
    if page.locator(".math").count() and not page.locator('script[src*="mathjax" i]').count():
        _problem(report, "math", "the page has math but no MathJax script")
    elif page.locator(".math").count():
        try:  # MathJax 3: startup.promise settles after the first typesetting pass
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=TIMEOUT_MS)
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        except Exception as err:  # noqa: BLE001 - reported as a finding, not a crash
            _problem(report, "math", f"MathJax did not start: {str(err).splitlines()[0]}")
    found = page.evaluate(_MATH)
    report.counts["math"] = found["count"]
    for key, what in (("untypeset", "not typeset"), ("errors", "MathJax error"), ("raw", "raw TeX in the text")):
        for item in found[key][:10]:
            _problem(report, "math", f"{what}: {item!r}")
        if len(found[key]) > 10:
            _problem(report, "math", f"... {len(found[key])} in all: {what}")


def _check_images(page, report: Report) -> None:
    imgs = page.evaluate(_IMAGES)
    report.counts["images"] = len(imgs)
    for img in imgs:
        if not img["ok"]:
            _problem(report, "images", f"image did not load: {img['src']!r} {img['where']}".rstrip())


def _check_dropdowns(page, report: Report) -> None:
    toggles = page.locator(TOGGLES)
    report.counts["dropdowns"] = toggles.count()
    for i in range(toggles.count()):
        box = toggles.nth(i)
        name = box.get_attribute("id") or f"dropdown {i}"
        body = box.locator(":scope > .admonition-title ~ *").first
        title = box.locator(":scope > .admonition-title")
        if not title.count() or not body.count():
            _problem(report, "dropdowns", f"{name}: no title or no content")
            continue
        shown = "toggle-shown" in (box.get_attribute("class") or "")
        if not shown and body.is_visible():
            _problem(report, "dropdowns", f"{name}: content visible before a click (not collapsed)")
            continue
        try:
            title.click(timeout=5000)
            body.wait_for(state="visible" if not shown else "hidden", timeout=5000)
        except Exception as err:  # noqa: BLE001
            _problem(report, "dropdowns", f"{name}: a click on the title did not toggle it ({str(err).splitlines()[0]})")
            continue
        if shown:  # it started open; put it back open
            title.click()
    details = page.locator("details")
    report.counts["dropdowns"] += details.count()
    for i in range(details.count()):
        item = details.nth(i)
        if item.evaluate("d => d.open"):
            continue
        try:
            item.locator(":scope > summary").click(timeout=5000)
            page.wait_for_function("d => d.open", arg=item.element_handle(), timeout=5000)
        except Exception as err:  # noqa: BLE001
            _problem(report, "dropdowns", f"details {i}: a click on the summary did not open it ({str(err).splitlines()[0]})")


def _feedback(question) -> tuple[str, str]:
    """The class and text of a quiz question's feedback line, once it shows."""
    fb = question.locator(".Feedback")
    fb.wait_for(state="visible", timeout=5000)
    return fb.get_attribute("class") or "", " ".join(fb.inner_text().split())


def _answer(page, report: Report, question, kind: str, right: bool, act, expected: str) -> None:
    """Answer one question (``act`` does it) and check the verdict and the feedback a reader sees."""
    what = f"{kind} question, {'right' if right else 'wrong'} answer"
    try:
        act()
        cls, text = _feedback(question)
    except Exception as err:  # noqa: BLE001
        _problem(report, "quiz", f"{what}: no feedback ({str(err).splitlines()[0]})")
        return
    verdict = "correct" if right else "incorrect"
    if verdict not in cls.split():
        _problem(report, "quiz", f"{what}: marked {cls!r}, not {verdict!r}")
    # the feedback is the file's text, math typeset: compare its words outside math
    words = [w for w in re.sub(r"\$[^$]*\$", " ", expected).split() if w.isalpha()][:4]
    if not text or any(w not in text for w in words):
        _problem(report, "quiz", f"{what}: feedback {text[:80]!r} is not the quiz's ({expected[:80]!r})")


def _check_quiz(page, report: Report) -> None:
    """On a chapter page: the quiz draws itself without a kernel; a wrong and a right choice, and a wrong and
    a right number, each get their verdict and the feedback that says why."""
    quiz = page.locator(".nnbook-quiz")
    if not report.chapter:
        report.counts["quiz"] = quiz.count()
        return
    if not quiz.count():
        _problem(report, "quiz", "a chapter page without its self-check quiz")
        return
    try:
        page.wait_for_selector(".nnbook-quiz .Quiz", timeout=TIMEOUT_MS)
    except Exception:  # noqa: BLE001
        _problem(report, "quiz", "the quiz never drew its questions")
        return
    report.counts["quiz"] = quiz.locator(".Quiz").count()
    choice = quiz.locator(".Quiz:has(.MultipleChoiceQn)").first
    if choice.count():
        wrong = choice.locator('label.MCButton[data-correct="false"]').first
        right = choice.locator('label.MCButton[data-correct="true"]').first
        _answer(page, report, choice, "choice", False, wrong.click, wrong.get_attribute("data-feedback") or "")
        _answer(page, report, choice, "choice", True, right.click, right.get_attribute("data-feedback") or "")
    else:
        _problem(report, "quiz", "no multiple-choice question")
    numeric = quiz.locator(".Quiz:has(.NumericQn)").first
    if numeric.count():
        box = numeric.locator("input.Input-text")
        answers = json.loads(box.get_attribute("data-answers") or "[]")
        band = next(a for a in answers if a.get("correct"))
        hint = next((a["feedback"] for a in answers if a.get("type") == "default"), "")
        lo, hi = band["range"]

        def enter(value):
            return lambda: (box.fill(repr(value)), box.press("Enter"))
        _answer(page, report, numeric, "numeric", False, enter(hi + 10 * (hi - lo) + 1), hint)
        _answer(page, report, numeric, "numeric", True, enter((lo + hi) / 2), band["feedback"])
    else:
        _problem(report, "quiz", "no numeric question")


def _check_animations(page, report: Report) -> None:
    players = page.locator("div.animation")
    report.counts["animations"] = players.count()
    for i in range(players.count()):
        player = players.nth(i)
        try:  # the player builds itself in a setTimeout after the page loads
            page.wait_for_function("el => { const img = el.querySelector('img'); return img && img.src; }",
                                   arg=player.element_handle(), timeout=TIMEOUT_MS)
        except Exception:  # noqa: BLE001
            _problem(report, "animations", f"animation {i}: the player never showed a frame")
            continue
        before = player.evaluate(_FRAME)
        if before["frames"] < 2:
            _problem(report, "animations", f"animation {i}: {before['frames']} frame(s)")
            continue
        nxt = player.locator('button[title="Next frame"]')
        if not nxt.count():
            _problem(report, "animations", f"animation {i}: no 'Next frame' button")
            continue
        nxt.click(timeout=5000)
        page.wait_for_timeout(50)
        after = player.evaluate(_FRAME)
        if after["src"] == before["src"] or after["value"] == before["value"]:
            _problem(report, "animations", f"animation {i}: 'Next frame' did not change the frame")
        elif not after["ok"]:
            page.wait_for_timeout(500)  # the new frame is a data URI; give it a moment to decode
            if not player.evaluate(_FRAME)["ok"]:
                _problem(report, "animations", f"animation {i}: frame 2 does not load")


def _check_links(page, report: Report, server: Server) -> None:
    hrefs = page.evaluate(_LINKS)
    internal = [h for h in hrefs if h.startswith(server.url)]
    report.counts["links"] = len(internal)
    own_ids = set(page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)"))
    own_ids |= set(page.evaluate("() => [...document.querySelectorAll('a[name]')].map(e => e.name)"))
    current = urlsplit(page.url).path
    for href in internal:
        parts = urlsplit(href)
        path = unquote(parts.path)
        target = server.site / path.lstrip("/")
        if path.endswith("/"):
            target = target / "index.html"
        shown = href[len(server.url):]
        if not target.is_file():
            _problem(report, "links", f"broken link: {shown}")
            continue
        frag = unquote(parts.fragment)
        if not frag or frag == "top" or not target.suffix == ".html":
            continue
        ids = own_ids if parts.path == current else ids_in(target)
        if frag not in ids:
            _problem(report, "links", f"missing anchor: {shown}")


def _redirect_target(path: Path) -> str | None:
    text = path.read_text(encoding="utf-8", errors="replace")[:2000]
    m = re.search(r'http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', text, re.I)
    return m.group(1) if m else None


def check_page(context, server: Server, page_path: str, chapter: bool | None = None) -> Report:
    """Open `page_path` (relative to the site) in a new tab and run every check; `chapter`: whether it is a
    chapter's page, which must have a quiz (default: from its path, CHAPTER_PAGE)."""
    report = Report(page_path)
    report.chapter = bool(CHAPTER_PAGE.match(page_path)) if chapter is None else chapter
    page = context.new_page()
    origin = server.url.rstrip("/")

    def on_response(resp):
        if resp.url.startswith(origin) and resp.status >= 400:
            _problem(report, "requests", f"HTTP {resp.status}: {resp.url[len(origin):]}")

    def on_failed(req):
        if req.url.startswith(origin):
            _problem(report, "requests", f"failed ({req.failure}): {req.url[len(origin):]}")

    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    def on_error(err):
        message = str(err).splitlines()[0][:200]
        if message not in KNOWN_JS_ERRORS:
            _problem(report, "javascript", message)

    page.on("pageerror", on_error)
    try:
        page.goto(server.url + page_path, wait_until="load", timeout=60_000)
        if _redirect_target(server.site / page_path) is not None:  # <meta http-equiv="Refresh">
            page.wait_for_url(lambda url: url != server.url + page_path, timeout=TIMEOUT_MS)
            page.wait_for_load_state("load")
            report.counts["redirect"] = 1
        _check_quiz(page, report)        # first: its math is typeset by the page's MathJax once drawn
        _check_math(page, report)
        _check_dropdowns(page, report)   # first: opening them reveals the players inside
        _check_animations(page, report)
        _check_images(page, report)
        _check_links(page, report, server)
    finally:
        page.close()
    return report


def search(context, server: Server, term: str, edition: str = "") -> list[str]:
    """The result links the search page of an edition (``""``: the English site, ``"zh/"``: the Chinese one)
    lists for `term`."""
    page = context.new_page()
    try:
        page.goto(f"{server.url}{edition}search.html?q={term}", wait_until="load")
        page.wait_for_function(  # Sphinx's summary: "Search finished, found…" / "搜索完成…" / "…did not match…"
            "() => { const s = document.querySelector('.search-summary');"
            " return s && /found|did not match|搜索完成/i.test(s.textContent); }", timeout=TIMEOUT_MS)
        return page.eval_on_selector_all("ul.search li a", "as => as.map(a => a.href)")
    finally:
        page.close()
