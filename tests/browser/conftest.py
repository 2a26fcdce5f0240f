"""Fixtures of the browser tests: one local web server and one headless Chromium per
pytest worker. These tests need the built site, so `pytest tests` (`make test-lib`)
does not collect them (tests/conftest.py): they run only when asked for by path (`make test-browser`)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sitecheck  # noqa: E402


@pytest.fixture(scope="session")
def site() -> Path:
    site = sitecheck.site_dir()
    if not sitecheck.discover_pages(site):
        pytest.fail(f"no built website at {site}: run `make book`, or set NNBOOK_SITE to a build's _build/html")
    return site


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = sitecheck.launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server(site):
    server = sitecheck.serve(site)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def context(browser, server):
    context = sitecheck.new_context(browser, server)
    yield context
    context.close()


@pytest.fixture(scope="session")
def report_of(context, server):
    """Each page is opened once per worker; its tests share the report."""
    cache: dict[str, sitecheck.Report] = {}

    def get(page: str) -> sitecheck.Report:
        if page not in cache:
            cache[page] = sitecheck.check_page(context, server, page)
        return cache[page]

    return get
