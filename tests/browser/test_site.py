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
SEARCH_TERMS = ["Hopfield", "diffusion"]


def test_site_is_built(site):
    for page in ("search.html", "book/index.html"):
        assert (site / page).is_file(), f"{site} has no {page}"


@pytest.mark.parametrize("check", sitecheck.CHECKS)
@pytest.mark.parametrize("page", [pytest.param(p, id=p, marks=pytest.mark.xdist_group(p)) for p in PAGES])
def test_page(page, check, report_of):
    problems = report_of(page).problems[check]
    assert not problems, f"{page}: {len(problems)} {check} problem(s):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("term", SEARCH_TERMS)
def test_search_finds(term, context, server, site):
    results = sitecheck.search(context, server, term)
    assert results, f"the search page found nothing for {term!r}"
    for href in results:
        path = unquote(urlsplit(href).path).lstrip("/")
        assert (site / path).is_file(), f"search result {href} for {term!r} is not a page of the site"


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
