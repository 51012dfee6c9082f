"""tools/localsite.py: the local server behind the PDF printer and the browser tests."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tooling import load_tool

ROOT = Path(__file__).resolve().parent.parent


localsite = load_tool("localsite")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_serves_the_folder_and_the_extra_routes_and_records_errors(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>本</p>", encoding="utf-8")
    outside = tmp_path / "print.css"
    outside.write_text("body{}", encoding="utf-8")
    server = localsite.serve(site, {"_pdf/print.css": outside})
    try:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
        assert _get(server.url + "index.html") == (200, "<p>本</p>".encode())
        assert _get(server.url + "_pdf/print.css?v=1") == (200, b"body{}")
        assert _get(server.url + "missing.png")[0] == 404
        assert server.errors == ["404 /missing.png"]
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url + "index.html", timeout=2)


def test_chromium_cannot_resolve_any_host_name():
    rules = [a for a in localsite.CHROMIUM_ARGS if a.startswith("--host-resolver-rules=")]
    assert rules == ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    assert "--disable-background-networking" in localsite.CHROMIUM_ARGS


def test_a_missing_chromium_is_explained(monkeypatch, tmp_path):
    monkeypatch.setattr(localsite, "CHROMIUM", tmp_path / "chromium")
    assert "make chromium" in localsite.chromium_missing()
