"""Fixtures for the browser tests: the built site on a local HTTP server, and Debian's chromium.

One HTTP server and one headless chromium serve the whole session; `new_page()` / `watched`
give a page in a fresh browser context (no shared cookies, storage or cache) whose console
errors, uncaught exceptions and bad requests are logged. Chromium cannot resolve any host
name, so only the local server (127.0.0.1) is reachable, and every request to another host is
recorded. Nothing here downloads a browser: Playwright drives /usr/bin/chromium (`make test`
installs Debian's package with apt-get when it is missing); without it the tests fail.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"


def _load_localsite():
    """tools/localsite.py (the server and chromium set-up shared with the PDF printer)."""
    path = ROOT / "tools" / "localsite.py"
    spec = importlib.util.spec_from_file_location("tools_localsite", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


localsite = _load_localsite()
TIMEOUT_MS = 20_000
FAVICON = re.compile(r"/favicon\.[a-z]+$")


@pytest.fixture(scope="session")
def server():
    """_build/html served on 127.0.0.1, on a free port, for the whole session."""
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} is not built: run `make book` (or `make test`) first", False)
    server = localsite.serve(HTML)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def site(server) -> str:
    """Base URL of the served site, with a trailing slash."""
    return server.url


@pytest.fixture(scope="session")
def server_errors(server) -> list[str]:
    """The server's growing list of the requests it answered with an HTTP error."""
    return server.errors


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, one instance for the whole session."""
    if (missing := localsite.chromium_missing()) is not None:
        pytest.fail(f"{missing} (which `make test` runs) - the browser tests never download "
                    "a browser", False)
    with sync_playwright() as playwright:
        browser = localsite.launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageLog:
    """What went wrong while a page was open (each entry is a readable string)."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    offsite_requests: list[str] = field(default_factory=list)
    # Requests the local server answered with an HTTP error (it sees what the page cannot).
    server_errors: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        return {name: entries for name, entries in vars(self).items() if entries}


class WatchedPage:
    """A Playwright page whose console errors, exceptions and bad requests are logged."""

    def __init__(self, context: BrowserContext, site: str, server_errors: list[str]):
        self.base = site
        self.page = context.new_page()
        self._server_errors = server_errors
        self.log = PageLog()
        self._server_mark = len(server_errors)
        self._pending: set = set()  # requests that have neither finished nor failed yet
        on = self.page.on
        on("console", lambda msg: self._console(msg))
        on("pageerror", lambda exc: self.log.page_errors.append(str(exc)))
        on("request", lambda req: self._request(req))
        on("requestfinished", lambda req: self._pending.discard(req))
        on("requestfailed", lambda req: self._failed(req))
        on("response", lambda resp: self._response(resp))

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.log.console_errors.append(f"{msg.text} ({msg.location.get('url', '')})")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.log.bad_responses.append(f"{response.status} {response.url}")

    def _failed(self, request) -> None:
        self._pending.discard(request)
        if request.failure == "net::ERR_ABORTED" and FAVICON.search(urlsplit(request.url).path):
            # Chromium fetches the site icon on its own after the page has loaded; leaving the
            # page (a click, a refresh) may cancel that fetch. Not a fault of the page: a
            # missing icon shows as an HTTP error, and test_page_has_a_site_icon loads it.
            return
        self.log.failed_requests.append(f"{request.url}: {request.failure}")

    def _request(self, request) -> None:
        self._pending.add(request)
        # Chromium cannot reach other hosts (tools/localsite.py); recording the attempt is enough.
        url = request.url
        if urlsplit(url).scheme in {"http", "https", "ws", "wss"} and not url.startswith(self.base):
            self.log.offsite_requests.append(url)

    def url(self, path: str) -> str:
        return self.base + path

    def settle(self, quiet_ms: int = 150, timeout_ms: int = 5_000) -> None:
        """Wait until no request has been in flight for `quiet_ms` (e.g. the browser's own
        fetch of the site icon after the load event), so that leaving the page aborts nothing.
        Requests still open after `timeout_ms` are logged as failed."""
        quiet = waited = 0
        while quiet < quiet_ms and waited < timeout_ms:
            self.page.wait_for_timeout(25)
            waited += 25
            quiet = 0 if self._pending else quiet + 25
        self.log.failed_requests += [
            f"{r.url}: unfinished after {waited} ms" for r in self._pending
        ]

    def problems(self) -> dict[str, list[str]]:
        """Everything logged since the page was opened or the log was last restarted."""
        self.log.server_errors = self._server_errors[self._server_mark :]
        return self.log.problems()

    def restart_log(self) -> None:
        """Start a new log (e.g. before moving on to the next page)."""
        self.log = PageLog()
        self._server_mark = len(self._server_errors)


def open_page(
    browser: Browser, site: str, server_errors: list[str], context: BrowserContext | None = None
) -> WatchedPage:
    """A new page in `context`, or in a fresh browser context (no shared cookies, storage or
    cache). Close it with `watched.page.context.close()`."""
    if context is None:
        context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
    return WatchedPage(context, site, server_errors)


@pytest.fixture(scope="session")
def new_page(browser: Browser, site: str, server) -> Callable[..., WatchedPage]:
    """Factory for session-scoped helpers: `new_page()` opens a page in a fresh context,
    `new_page(context)` another page in an existing one."""
    return functools.partial(open_page, browser, site, server.errors)


@pytest.fixture
def watched(new_page) -> Iterator[WatchedPage]:
    """A page in a fresh context, with its errors and requests logged (see PageLog)."""
    watched = new_page()
    try:
        yield watched
    finally:
        watched.page.context.close()
