"""Every page of the built website, opened in headless Chromium: math typeset, images
loaded, animations stepping, solution dropdowns opening, internal links and anchors
resolving, no failed request, no JavaScript error (the checks: sitecheck.py). Plus the
search page, and screenshots of a few pages for a person to look at."""
from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest
import sitecheck

SITE = sitecheck.site_dir()
PAGES = sitecheck.discover_pages(SITE) if SITE.is_dir() else []
SEARCH_TERMS = [("", "Hopfield"), ("", "diffusion"), ("zh/", "玻尔兹曼"), ("zh/", "扩散")]  # (edition, term)
SWITCHED_PAGES = ["book/index.html", "book/part2_dynamic/05_dhnn.html", "book/appendix/glossary.html"]


def test_site_is_built(site):
    for page in ("search.html", "book/index.html"):
        assert (site / page).is_file(), f"{site} has no {page}"


@pytest.mark.parametrize("check", sitecheck.CHECKS)
@pytest.mark.parametrize("page", [pytest.param(p, id=p, marks=pytest.mark.xdist_group(p)) for p in PAGES])
def test_page(page, check, report_of):
    problems = report_of(page).problems[check]
    assert not problems, f"{page}: {len(problems)} {check} problem(s):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("edition, term", SEARCH_TERMS)
def test_search_finds(edition, term, context, server, site):
    results = sitecheck.search(context, server, term, edition)
    assert results, f"the search page of {edition or 'the English site'} found nothing for {term!r}"
    for href in results:
        path = unquote(urlsplit(href).path).lstrip("/")
        assert path.startswith(edition) and (site / path).is_file(), \
            f"search result {href} for {term!r} is not a page of {edition or 'the English site'}"


@pytest.mark.parametrize("path", SWITCHED_PAGES)
def test_the_language_switch_lands_on_the_same_page(path, context, server, site):
    """A click on the switch opens the same page in Chinese, and the Chinese page's switch leads back."""
    page = context.new_page()
    try:
        page.goto(server.url + path, wait_until="load")
        assert page.get_attribute("html", "lang") == "en"
        page.click("div.nnbook-language-switch a")
        page.wait_for_url(server.url + "zh/" + path, timeout=sitecheck.TIMEOUT_MS)
        assert page.get_attribute("html", "lang") == "zh-CN"
        assert page.title() != "" and "神经网络与深度生成模型" in page.title()
        page.click("div.nnbook-language-switch a")
        page.wait_for_url(server.url + path, timeout=sitecheck.TIMEOUT_MS)
    finally:
        page.close()


def test_chinese_text_is_drawn_in_a_font_that_has_it(context, server):
    """Two different Chinese characters, drawn in the font of a paragraph of the Chinese edition, differ from each
    other and from a character no font has: a system without CJK glyphs would draw the same empty box each time."""
    page = context.new_page()
    try:
        page.goto(server.url + "zh/book/part4_generative/12_boltzmann_rbm_dbn.html", wait_until="load")
        page.evaluate("() => document.fonts.ready")
        drawn = page.evaluate(r"""() => {
            const font = getComputedStyle(document.querySelector("article p")).font;
            const draw = (ch) => {
                const c = document.createElement("canvas"); c.width = c.height = 48;
                const g = c.getContext("2d"); g.font = font.replace(/\d+(\.\d+)?px/, "40px"); g.fillText(ch, 4, 40);
                return Array.from(g.getImageData(0, 0, 48, 48).data).join(",");
            };
            return {a: draw("玻"), b: draw("扩"), none: draw("\u0378"), none2: draw("\u0379")};
        }""")
    finally:
        page.close()
    assert drawn["none"] == drawn["none2"], "the control: two characters no font has should be the same box"
    assert drawn["a"] != drawn["b"], "two Chinese characters are drawn alike: no font with CJK glyphs"
    assert drawn["none"] not in (drawn["a"], drawn["b"]), "a Chinese character is drawn as the missing-glyph box"


def test_search_can_come_back_empty(context, server):
    """The search check counts real results: a word in no page gives none."""
    assert sitecheck.search(context, server, "qzxwvjk") == []


def _pick_screenshot_pages(site) -> dict[str, str]:
    """The home page, the page with the most math, the first page with an animation."""
    text = {p: (site / p).read_text(encoding="utf-8", errors="replace") for p in PAGES}
    chosen = {"index": "book/index.html"}
    maths = sorted(PAGES, key=lambda p: -len(re.findall(r'class="math notranslate', text[p])))
    if maths and 'class="math' in text[maths[0]]:
        chosen["math"] = maths[0]
    animated = [p for p in PAGES if '<div class="animation">' in text[p] and p not in chosen.values()]
    if animated:
        chosen["animation"] = animated[0]
    return chosen


def test_screenshots(context, server, site):
    """Full-page screenshots under _build/screenshots/ (beside the html folder) of the
    home page, the page with the most math, a page with an animation (and its player),
    and the search results for "Hopfield": for a person to look at."""
    out = site.parent / "screenshots"
    out.mkdir(exist_ok=True)
    pages = _pick_screenshot_pages(site)
    for old in out.glob("*.png"):  # a renamed chapter leaves no stale picture of ours behind
        if old.name.split("-", 1)[0] in pages:  # (the JupyterLab check's pictures are not ours)
            old.unlink()
    for name, page_path in pages.items():
        page = context.new_page()
        try:
            page.goto(server.url + page_path, wait_until="load")
            if page.locator(".math").count():
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise.then(() => true)")
            page.evaluate("() => document.fonts.ready.then(() => window.scrollTo(0, 0))")
            stem = f"{name}-{page_path.replace('/', '_').removesuffix('.html')}"
            path = out / f"{stem}.png"
            page.screenshot(path=path, full_page=True)
            assert path.stat().st_size > 10_000, f"{path} is nearly empty"
            if name == "animation":  # the player itself, after one step
                player = page.locator("div.animation").first
                player.locator('button[title="Next frame"]').click()
                player.screenshot(path=out / f"{stem}-player.png")
        finally:
            page.close()
    page = context.new_page()
    try:
        page.goto(f"{server.url}search.html?q=Hopfield", wait_until="load")
        page.wait_for_selector(".search-summary")
        page.screenshot(path=out / "search-Hopfield.png", full_page=True)
    finally:
        page.close()
