"""Figure references ({numref}) resolved without unpickling a page's doctree for each one.

To resolve a ``{numref}`` reference, Sphinx 7.4's standard domain reads the whole doctree of
the page the figure is on (``env.get_doctree``: a fresh unpickling each time), only to look
up the referenced node and its type. The book has about 70 figure references on 15 pages, so
the same doctrees were unpickled again and again: about 2 s of every build.

This extension replaces the standard domain with a subclass (``app.add_domain(...,
override=True)``) whose numref resolution reads each page's doctree once per build and keeps
it. That lookup only reads the doctree (the node's type and ids); every other use of
``env.get_doctree`` is left as it is, so no page's doctree is shared with code that changes
it. tests/test_book_html.py checks that every figure reference names the number in its
figure's caption.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.domains.std import StandardDomain


class CachedNumrefDomain(StandardDomain):
    """The standard domain; its numref lookups read each doctree once (see the module)."""

    def _resolve_numref_xref(self, env, *args, **kwargs):
        cache = env.__dict__.setdefault("_numref_doctrees", {})
        read = env.get_doctree

        def cached(docname: str):
            if docname not in cache:
                cache[docname] = read(docname)
            return cache[docname]

        env.get_doctree = cached  # an instance attribute, for this lookup only
        try:
            return super()._resolve_numref_xref(env, *args, **kwargs)
        finally:
            del env.get_doctree


def _forget(app: Sphinx, *args) -> None:
    # the doctrees kept are those of the pages as last read
    app.env.__dict__.pop("_numref_doctrees", None)


def setup(app: Sphinx) -> dict:
    app.add_domain(CachedNumrefDomain, override=True)
    app.connect("env-updated", _forget)
    app.connect("build-finished", _forget)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
