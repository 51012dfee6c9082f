"""Two fixes to the written HTML, found by the browser tests (tests/browser).

1. Each <script> of a page's head once. Sphinx 7.4 puts a script that an extension registers
   after the builder has started (``app.add_js_file(None, body=...)`` in an
   ``env-before-read-docs`` handler, as sphinx-thebe and sphinx-togglebutton do) into every
   page twice: once under the file name ``None`` when it is registered, and again under ``''``
   when the builder re-reads the registry before writing; the two do not compare equal, so
   the duplicate survives. For sphinx-togglebutton's ``var`` that is harmless, but
   sphinx-thebe's ``const THEBE_JS_URL = ...`` declared twice is a SyntaxError in the browser
   console of every page.

2. The site's index.html. sphinx-external-toc writes it as a bare ``<meta http-equiv=Refresh>``
   to the root page, with no site icon, so the browser asks for /favicon.ico (a 404) before it
   moves on. Written here as a small HTML page that declares the icon (html_favicon) and
   links to the root page for browsers that do not follow the refresh.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx


def _key(script: Any) -> tuple:
    if isinstance(script, str):  # old-style entry: a bare file name
        return (script, None, ())
    attributes = tuple(sorted((k, str(v)) for k, v in script.attributes.items()))
    return (script.filename or "", script.priority, attributes)


def drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


REDIRECT = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Refresh" content="0; url={target}">
{icon}<title>{title}</title>
</head>
<body>
<p><a href="{target}">{title}</a></p>
</body>
</html>
"""


def write_index_redirect(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.name != "html":
        return
    root = app.config.root_doc
    if root == "index":
        return  # the root page is index.html itself
    target = html.escape(app.builder.get_target_uri(root), quote=True)
    icon = ""
    favicon = app.config.html_favicon
    if favicon:
        # Sphinx copies a local icon into _static; a URL is used as it is.
        href = favicon if "://" in favicon else f"_static/{Path(favicon).name}"
        icon = f'<link rel="icon" href="{html.escape(href, quote=True)}">\n'
    title = html.escape(app.config.html_title or app.config.project)
    page = REDIRECT.format(lang=app.config.language or "en", target=target, icon=icon, title=title)
    (Path(app.outdir) / "index.html").write_text(page, encoding="utf-8")


def setup(app: Sphinx) -> dict[str, object]:
    # Late priority: after every handler that adds page-specific scripts.
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    # Before sphinx-external-toc's handler (priority 500), which then sees index.html exists
    # and leaves it alone.
    app.connect("build-finished", write_index_redirect, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
