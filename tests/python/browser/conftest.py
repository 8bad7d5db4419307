"""Fixtures of the console's browser tests: chromium (one per test session) and pages that
record every request and every console error, checked when the test ends."""

from __future__ import annotations

import pytest

from console_support import launch

# The browser tests run with the venv of scripts/setup-browser.sh (scripts/test.sh runs them);
# the main test venv has no Playwright, so there each test module reports itself skipped.
try:
    from playwright import sync_api
except ImportError:
    sync_api = None


@pytest.fixture(scope="session")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch(p, "--host-resolver-rules=MAP app.test 127.0.0.1")
        yield b
        b.close()


class RecordedPage:
    """A page in a fresh context that records requests and console errors."""

    def __init__(self, browser, base: str, **context_args):
        self.base = base
        self.context = browser.new_context(**context_args)
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console.error: {message.text}")

    def check(self):
        """Nothing but this origin was asked for, and nothing went to the console as an error."""
        foreign = sorted({u for u in self.requests if not (u == self.base or u.startswith(self.base + "/"))})
        assert not foreign, f"the page asked for other origins: {foreign}"
        assert not self.errors, "errors in the browser console:\n" + "\n".join(self.errors)

    def close(self):
        self.context.close()


@pytest.fixture
def recorded(browser):
    """recorded(base, **context_args) opens a RecordedPage; each is checked and closed at the end."""
    pages: list[RecordedPage] = []

    def open_page(base: str, **context_args) -> RecordedPage:
        p = RecordedPage(browser, base, **context_args)
        pages.append(p)
        return p

    yield open_page
    try:
        for p in pages:
            p.check()
    finally:
        for p in pages:
            p.close()
