"""Every internal link and anchor in the built book resolves (run after the book build).

Every HTML page under _build/html is parsed, and each <a href>, <img src>, <link href>,
<script src> and <form action> that stays on the site (a relative URL, or a path from the
site root) must name a file that exists inside _build/html; if it has a #fragment, the target
page must have an element with that id (or an <a name=...>). Links to other sites (http:, https:, //host) are
not followed: the book is read offline. Nothing may be *loaded* from another site, though:
test_book_html.py checks that for the toc pages (scripts, stylesheets, images, CSS url()),
and test_no_other_page_loads_from_other_sites below for every other page (index, search,
genindex, ...).

The counts (pages, links, anchors) are printed: `pytest tests/test_links.py -m book -s`.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"

# (tag, attribute) pairs that refer to another file of the site.
REFERENCES = (
    ("a", "href"),
    ("img", "src"),
    ("link", "href"),
    ("script", "src"),
    ("form", "action"),
)
# Other schemes: not files of the site (mailto:, data:, javascript:, ...).
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
OFFSITE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# <link rel=...> values that make the browser load the target.
LOADED_RELS = {"stylesheet", "preload", "modulepreload", "icon", "prefetch"}
# `make site` (tools/gather_site.py) puts the PDF and the notebook zip in downloads/ next to the HTML;
# `make book` alone does not make them. Links into downloads/ are left to tests/test_publish.py,
# which checks them in an assembled site.
SITE_DOWNLOADS = "downloads/"


def toc_pages() -> set[str]:
    """The toc's pages as paths under _build/html ("notebooks/01_autoencoder.html", ...)."""

    def walk(node) -> list[str]:
        docs = []
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    docs.append(re.sub(r"\.(md|ipynb)$", "", node[key]) + ".html")
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []):
                    docs += walk(child)
        return docs

    return set(walk(yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))))


def is_template(text: str) -> bool:
    """Jinja macro files that pydata-sphinx-theme / sphinx-book-theme ship in _static
    (webpack-macros.html): theme source, not pages; nothing links to them."""
    return "{% macro" in text and "<html" not in text.lower()


@dataclass
class Crawl:
    pages: list[str] = field(default_factory=list)  # parsed pages, relative to _build/html
    templates: list[str] = field(default_factory=list)  # skipped (see is_template)
    references: Counter = field(default_factory=Counter)  # internal references by tag
    fragments: int = 0  # internal references with a #fragment, checked against the target
    offsite: Counter = field(default_factory=Counter)  # links to other sites, not followed
    broken: list[str] = field(default_factory=list)  # "page: <tag attr=url>: why"
    loads_offsite: dict[str, list[str]] = field(default_factory=dict)  # page -> URLs


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every id and <a name> in an HTML file."""
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    ids = {tag["id"] for tag in soup.find_all(id=True)}
    names = {tag["name"] for tag in soup.find_all("a", attrs={"name": True})}
    return frozenset(ids | names)


def check(page: Path, tag: str, attr: str, url: str, crawl: Crawl) -> None:
    rel = page.relative_to(HTML).as_posix()
    where = f"{rel}: <{tag} {attr}={url!r}>"
    parts = urlsplit(url)
    path, fragment = unquote(parts.path), unquote(parts.fragment)
    if not path:
        target = page  # "#fragment" or "?query": this page
    elif path.startswith("/"):
        target = HTML / path.lstrip("/")  # from the site root
    else:
        target = page.parent / path
    target = Path(os.path.normpath(target))  # resolve "..", keep symlinks
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    crawl.references[tag] += 1
    try:
        target.resolve().relative_to(HTML.resolve())
    except ValueError:
        crawl.broken.append(f"{where}: points outside _build/html")
        return
    if not target.is_file():
        if target.relative_to(HTML).as_posix().startswith(SITE_DOWNLOADS):
            return  # made by make site, checked by tests/test_publish.py
        crawl.broken.append(f"{where}: no file {target.relative_to(HTML).as_posix()}")
        return
    if fragment:
        crawl.fragments += 1
        if target.suffix != ".html":
            crawl.broken.append(f"{where}: #fragment on a file that is not a page")
        elif fragment not in anchors(target.resolve()):
            crawl.broken.append(f"{where}: no id or name {fragment!r} in the target page")


def loaded_from_other_sites(soup: BeautifulSoup) -> list[str]:
    urls = [s["src"] for s in soup.find_all("script", src=True)]
    urls += [i["src"] for i in soup.find_all("img", src=True)]
    urls += [
        link["href"]
        for link in soup.find_all("link", href=True)
        if {r.lower() for r in link.get("rel", [])} & LOADED_RELS
    ]
    return [url for url in urls if OFFSITE.match(url)]


@cache
def crawl_site() -> Crawl:
    crawl = Crawl()
    toc = toc_pages()
    for page in sorted(HTML.rglob("*.html")):
        rel = page.relative_to(HTML).as_posix()
        text = page.read_text(encoding="utf-8")
        if is_template(text):
            crawl.templates.append(rel)
            continue
        crawl.pages.append(rel)
        soup = BeautifulSoup(text, "html.parser")
        for tag, attr in REFERENCES:
            for element in soup.find_all(tag, attrs={attr: True}):
                url = element[attr].strip()
                if OFFSITE.match(url):
                    crawl.offsite[tag] += 1
                elif SCHEME.match(url) or not url or url == "#":
                    continue  # mailto:, data:, javascript:; "#" is the top of the page
                else:
                    check(page, tag, attr, url, crawl)
        if rel not in toc:  # the toc pages are checked by test_book_html.py
            offsite = loaded_from_other_sites(soup)
            if offsite:
                crawl.loads_offsite[rel] = offsite
    return crawl


@pytest.fixture(scope="module")
def crawl() -> Crawl:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} is not built: run `make book` (or `make test`) first", False)
    return crawl_site()


def test_every_page_is_parsed(crawl):
    """Every toc page, the index, search and index pages are among the parsed pages."""
    expected = toc_pages() | {"index.html", "search.html", "genindex.html"}
    assert expected <= set(crawl.pages), sorted(expected - set(crawl.pages))
    # The only HTML files skipped are the themes' template fragments.
    assert all(t.startswith("_static/") for t in crawl.templates), crawl.templates


def test_internal_links_and_anchors_resolve(crawl):
    """Every internal <a href>, <img src>, <link href>, <script src> names an existing file
    of the site, and every #fragment an id (or <a name>) in the target page."""
    print(
        f"\nlinks: {len(crawl.pages)} pages parsed ({len(crawl.templates)} theme template "
        f"files skipped); {sum(crawl.references.values())} internal references checked "
        f"({dict(sorted(crawl.references.items()))}), {crawl.fragments} of them with a "
        f"#fragment checked against the target's ids; {sum(crawl.offsite.values())} links "
        f"to other sites not followed ({dict(sorted(crawl.offsite.items()))})"
    )
    assert sum(crawl.references.values()) > 0 and crawl.fragments > 0
    assert crawl.broken == [], f"{len(crawl.broken)} broken:\n" + "\n".join(crawl.broken)


def test_no_other_page_loads_from_other_sites(crawl):
    """Pages outside the toc (index.html, search, genindex, ...) load no script, stylesheet,
    icon or image from another site (the toc pages: test_book_html.py)."""
    assert crawl.loads_offsite == {}
