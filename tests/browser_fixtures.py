"""Fixtures for the browser tests: pytest-playwright driving Debian's Chromium.

Import them into a test module with ``from browser_fixtures import *``.

Debian's ``/usr/bin/chromium`` is used (``apt-get install -y chromium``), never a browser
downloaded by ``playwright install``. pytest-playwright starts Playwright once per session, but
Playwright's sync API keeps an asyncio loop running in the main thread until it stops, and
Django refuses ORM calls while a loop runs (SynchronousOnlyOperation) — in the browser tests
and in every test that would run after them. So here Playwright lives only as long as the
module that uses it, with ``DJANGO_ALLOW_ASYNC_UNSAFE`` set only for that time; the other
pytest-playwright fixtures (``context``, ``page``, ``new_context``) work unchanged.
"""

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

__all__ = [
    "ARTIFACTS",
    "browser",
    "browser_context_args",
    "browser_type",
    "browser_type_launch_args",
    "launch_browser",
    "playwright",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"the browser tests need Debian's Chromium at {CHROMIUM}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as running:
            yield running


@pytest.fixture(scope="module")
def browser_type(playwright):
    return playwright.chromium


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args, browser_type):
    def launch(**kwargs):
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="module")
def browser(launch_browser):
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser_context_args(live_server):
    return {
        "base_url": live_server.url,
        "viewport": {"width": 1400, "height": 900},
        "locale": "en-US",
        "timezone_id": "UTC",
    }
