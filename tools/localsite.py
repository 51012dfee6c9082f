"""A built site on a local HTTP server, and Debian's chromium that can reach nothing else.

Shared by the PDF printer (tools/pdf/make_pdf.py) and the browser tests
(tests/browser/conftest.py), so that both load the book the same way:

- ``serve(directory, routes)``: the folder on 127.0.0.1 at a free port, in a daemon thread,
  HTTP/1.1 keep-alive (a page's ~40 requests need not reconnect), no log lines; ``routes``
  maps extra URL paths (``"book.html"``) to files outside the folder. Every request answered
  with an HTTP error is kept in ``server.errors`` as ``"404 /path"`` (chromium fetches things
  a page cannot see, e.g. /favicon.ico).
- ``launch(playwright)``: /usr/bin/chromium, headless, through Playwright; never a downloaded
  browser. The switches keep chromium from calling home, and make every host name unresolvable,
  so a page can only reach the local server (by IP). (Blocking with Playwright's route() would
  also work, but sends every request through Python: about 30% slower.)
"""

from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.errors: list[str] = []
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, with a trailing slash."""
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def handle_error(self, request, client_address):
        # The browser drops connections when it leaves a page mid-download: not an error.
        pass

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


class _Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        name = path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
        if name in self.routes:
            return str(self.routes[name])
        return super().translate_path(path)

    def log_request(self, code="-", size="-"):
        if str(code).isdigit() and int(code) >= 400:
            self.server.errors.append(f"{int(code)} {self.path}")

    def log_message(self, format, *args):
        pass


def serve(directory: Path, routes: dict[str, Path] | None = None) -> SiteServer:
    """Serve ``directory`` (and ``routes``: URL path -> file) until ``server.stop()``."""
    handler = functools.partial(
        type("Handler", (_Handler,), {"routes": dict(routes or {})}), directory=str(directory)
    )
    server = SiteServer(("127.0.0.1", 0), handler)
    server.thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    server.thread.start()
    return server


def chromium_missing() -> str | None:
    """Why Debian's chromium cannot be used, or None."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    return f"{CHROMIUM} not found: `make chromium` installs Debian's chromium"


def launch(playwright):
    """Debian's chromium, headless, through a running ``sync_playwright()``."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
