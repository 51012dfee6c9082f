"""The built site in a real browser (Debian's chromium, headless, driven by Playwright).

Run after the book build (`make test` does): `pytest -m browser`. The site in _build/html is
served on 127.0.0.1; chromium cannot reach any other host, and any request to one is reported.

- every page of book/_toc.yml (and the index / search pages) loads with no console error,
  no uncaught exception, no failed request, no HTTP error and no request to another host;
- every image has loaded (naturalWidth > 0) after it has been scrolled into view;
- MathJax has rendered every formula on the pages that have math;
- the theme's "next" links walk through the toc in order, and "previous" walks back;
- the search box finds 再構成誤差 and 閾値 on every chapter whose text contains them.

The pages are visited in one tour, as a reader would (one browser context, so its cache is
warm after the first page): start at the first page, check it, click "next", check the page
that opens, and so on to the end; then click "previous" all the way back. Each page is loaded
once for the checks and once on the way back, and the per-page tests read the tour's records.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from booktoc import book_documents
from bs4 import BeautifulSoup

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"


DOCS = book_documents()
# Pages Sphinx adds to the toc's pages (linked from every page's header and sidebar).
SITE_PAGES = ["genindex", "py-modindex", "search"]
SEARCH_TERMS = ["再構成誤差", "閾値"]

# Inline or display math in the source: $...$, $$...$$, {math} roles/directives, LaTeX
# environments (amsmath). Which pages have math is read from the sources, so that a page whose
# formulas were lost in the build is still expected to show them.
MATH_MARKUP = re.compile(r"\$\$|\$[^$\n]+\$|\{math\}|\\begin\{")


def source_markdown(doc: str) -> str:
    path = ROOT / f"{doc}.md"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    notebook = json.loads((ROOT / f"{doc}.ipynb").read_text(encoding="utf-8"))
    return "\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"
    )


MATH_DOCS = [doc for doc in DOCS if MATH_MARKUP.search(source_markdown(doc))]


@cache
def article_text(doc: str) -> str:
    """The text of a built page's article (no header, sidebars or footer), as a reader sees it."""
    soup = BeautifulSoup((HTML / f"{doc}.html").read_text(encoding="utf-8"), "html.parser")
    article = soup.select_one("article.bd-article")
    assert article is not None, f"{doc}: no <article class='bd-article'> in the built page"
    return article.get_text()


def doc_of(url: str, base: str) -> str:
    """'http://127.0.0.1:port/notebooks/01_autoencoder.html#x' -> 'notebooks/01_autoencoder'."""
    assert url.startswith(base), f"{url} is not on the local site {base}"
    path = unquote(urlsplit(url).path)[len(urlsplit(base).path) :]
    return re.sub(r"\.html$", "", path)


# Wait until MathJax (if the page loads it) has finished its first typesetting.
WAIT_FOR_MATHJAX = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    return true;
  }
  return false;
}"""

# Scroll every image into view (so lazy ones start loading), wait for it, report its size.
LOAD_IMAGES = """async () => {
  const images = Array.from(document.images);
  for (const img of images) {
    img.scrollIntoView({block: "center"});
    if (!img.complete) {
      await new Promise((resolve) => {
        img.addEventListener("load", resolve, {once: true});
        img.addEventListener("error", resolve, {once: true});
        setTimeout(resolve, 10000);
      });
    }
  }
  window.scrollTo(0, 0);
  return images.map((img) => ({
    src: img.getAttribute("src"),
    complete: img.complete,
    naturalWidth: img.naturalWidth,
  }));
}"""

# Sphinx writes math as <span class="math">\\(...\\)</span> / <div class="math">\\[...\\]</div>;
# MathJax replaces the TeX inside with an <mjx-container>. A TeX error shows as <mjx-merror>,
# an undefined macro (MathJax's noundefined extension) as its name in red <mjx-mtext>; TeX that
# MathJax cannot parse at all (e.g. an unclosed brace) is left as it is, without a container.
MATH_STATE = """() => {
  const maths = Array.from(document.querySelectorAll(".math"));
  return {
    total: maths.length,
    unrendered: maths.filter((m) => !m.querySelector("mjx-container"))
                     .map((m) => m.textContent.trim().slice(0, 80)),
    containers: document.querySelectorAll("mjx-container").length,
    errors: Array.from(document.querySelectorAll('mjx-merror, mjx-mtext[style*="color: red"]'))
                 .map((e) => e.textContent.trim().slice(0, 80)),
  };
}"""


# The page's declared site icons, fetched: without one, the browser asks for /favicon.ico.
ICONS = """async () => {
  const links = Array.from(document.querySelectorAll('link[rel~="icon"]'));
  return Promise.all(links.map(async (link) => {
    const response = await fetch(link.href);
    return {href: link.href, status: response.status, type: response.headers.get("content-type")};
  }));
}"""


@dataclass
class Visit:
    """What the browser saw on one page, once it had finished loading."""

    doc: str
    status: int | None
    url: str
    mathjax: bool
    images: list[dict]
    math: dict
    icons: list[dict]
    problems: dict[str, list[str]]


@dataclass
class Tour:
    visits: dict[str, Visit]
    # Where the theme's "next" / "previous" link of each page took the browser
    # (None: the page has no such link).
    next_of: dict[str, str | None]
    previous_of: dict[str, str | None]
    # Problems seen while walking back (pages not waited for, so only offsite requests count).
    walk_back: dict[str, list[str]]


def inspect(watched, doc: str, status: int | None) -> Visit:
    """Wait until the current page has finished loading (MathJax, images, fonts) and record it."""
    page = watched.page
    page.wait_for_load_state("load")
    mathjax = page.evaluate(WAIT_FOR_MATHJAX)
    images = page.evaluate(LOAD_IMAGES)
    math = page.evaluate(MATH_STATE)
    icons = page.evaluate(ICONS)
    page.evaluate("document.fonts.ready.then(() => true)")  # MathJax's web fonts
    watched.settle()
    return Visit(doc, status, page.url, mathjax, images, math, icons, watched.problems())


def follow(watched, link: str) -> tuple[str | None, int | None]:
    """Click the theme's `link` ('a.right-next' / 'a.left-prev') at the foot of the page.

    Returns the page it leads to and the HTTP status, or (None, None) if there is no link.
    """
    page = watched.page
    page.wait_for_load_state("domcontentloaded")  # the links are at the end of the page
    anchor = page.locator(f".prev-next-area {link}")
    count = anchor.count()
    if count != 1:
        return (None if count == 0 else f"<{count} '{link}' links>"), None
    with page.expect_navigation(wait_until="commit") as navigation:
        anchor.click()
    response = navigation.value
    return doc_of(page.url, watched.base), (response.status if response else None)


@pytest.fixture(scope="session")
def tour(new_page) -> Tour:
    """Visit every page of the toc by its "next" links, then walk back by "previous"."""
    watched = new_page()
    visits: dict[str, Visit] = {}
    next_of: dict[str, str | None] = {}
    previous_of: dict[str, str | None] = {}
    page = watched.page

    def go(doc: str) -> int | None:
        response = page.goto(watched.url(f"{doc}.html"))
        return response.status if response else None

    try:
        status = go(DOCS[0])
        for i, doc in enumerate(DOCS):
            visits[doc] = inspect(watched, doc, status)
            watched.restart_log()
            next_of[doc], status = follow(watched, "a.right-next")
            want = DOCS[i + 1] if i + 1 < len(DOCS) else None
            if next_of[doc] != want and want is not None:
                # Broken chain (a test reports it): let the wrong page finish loading (leaving
                # it early would log its aborted requests against the next page), then go on
                # from the right page, so that every page is still checked.
                if next_of[doc] is not None:
                    page.wait_for_load_state("load")
                    watched.settle()
                watched.restart_log()
                status = go(want)
        if doc_of(page.url, watched.base) != DOCS[-1]:
            go(DOCS[-1])
        for i in range(len(DOCS) - 1, -1, -1):
            previous_of[DOCS[i]], _ = follow(watched, "a.left-prev")
            want = DOCS[i - 1] if i > 0 else None
            if previous_of[DOCS[i]] != want and want is not None:
                go(want)
        walk_back = watched.problems()
        # The pages Sphinx adds, each on a new page (so nothing of the walk's last page, which
        # was not waited for, is logged against them).
        page.close()
        watched = new_page(page.context)
        page = watched.page
        for doc in SITE_PAGES:
            status = go(doc)
            visits[doc] = inspect(watched, doc, status)
            watched.restart_log()
    finally:
        page.context.close()
    return Tour(visits, next_of, previous_of, walk_back)


@pytest.mark.parametrize("doc", DOCS + SITE_PAGES)
def test_page_loads_without_errors(tour, doc):
    """ページが 200 で開き、コンソールのエラーも捕捉されない例外もない。"""
    v = tour.visits[doc]
    assert v.status == 200, f"{doc}: HTTP {v.status}"
    assert v.problems.get("console_errors", []) == [], f"{doc}: console errors {v.problems}"
    assert v.problems.get("page_errors", []) == [], f"{doc}: uncaught exceptions {v.problems}"


@pytest.mark.parametrize("doc", DOCS + SITE_PAGES)
def test_page_requests_only_the_local_site(tour, doc):
    """失敗したリクエスト・HTTP エラー・他のホストへのリクエストがない。"""
    v = tour.visits[doc]
    for kind in ("offsite_requests", "bad_responses", "failed_requests", "server_errors"):
        assert v.problems.get(kind, []) == [], f"{doc}: {kind} {v.problems}"


@pytest.mark.parametrize("doc", DOCS + SITE_PAGES)
def test_page_has_a_site_icon(tour, doc):
    """サイトのアイコンが宣言されて読み込める（ないとブラウザが /favicon.ico を要求して 404 になる）。"""
    v = tour.visits[doc]
    assert v.icons, f"{doc}: no <link rel=icon>"
    for icon in v.icons:
        assert icon["status"] == 200, f"{doc}: {icon}"
        assert (icon["type"] or "").startswith("image/"), f"{doc}: {icon}"


@pytest.mark.parametrize("doc", DOCS)
def test_images_have_loaded(tour, doc):
    """画像はすべて読み込まれている（スクロールして表示させたあと naturalWidth > 0）。"""
    v = tour.visits[doc]
    broken = [img["src"] for img in v.images if not (img["complete"] and img["naturalWidth"] > 0)]
    assert broken == [], f"{doc}: images that did not load: {broken}"


@pytest.mark.parametrize("doc", DOCS + SITE_PAGES)
def test_no_math_left_unrendered(tour, doc):
    """数式の要素はどれも MathJax で描画され、TeX のエラーもない（数式のないページでも確認）。"""
    v = tour.visits[doc]
    assert v.math["unrendered"] == [], f"{doc}: math not rendered by MathJax"
    assert v.math["errors"] == [], f"{doc}: MathJax TeX errors"


def test_math_pages_are_known():
    """数式を含むページ（ソースから判定）に、本文の章が含まれている。"""
    assert "book/intro" in MATH_DOCS
    assert [doc for doc in MATH_DOCS if doc.startswith("notebooks/")], MATH_DOCS


@pytest.mark.parametrize("doc", MATH_DOCS)
def test_math_is_rendered(tour, doc):
    """数式を含むページでは MathJax が読み込まれ、すべての数式が描画されている。"""
    v = tour.visits[doc]
    assert v.mathjax, f"{doc}: has math in its source but MathJax did not start"
    assert v.math["total"] > 0, f"{doc}: has math in its source but none in the page"
    assert v.math["containers"] >= v.math["total"], f"{doc}: {v.math}"
    assert v.math["unrendered"] == [] and v.math["errors"] == [], f"{doc}: {v.math}"


@pytest.mark.parametrize("doc", DOCS)
def test_next_link(tour, doc):
    """「次へ」のリンクは _toc.yml の次のページへ移る（最後のページにはない）。"""
    i = DOCS.index(doc)
    want = DOCS[i + 1] if i + 1 < len(DOCS) else None
    assert tour.next_of[doc] == want, f"'next' on {doc} leads to {tour.next_of[doc]}, not {want}"


@pytest.mark.parametrize("doc", DOCS)
def test_previous_link(tour, doc):
    """「前へ」のリンクは _toc.yml の前のページへ移る（最初のページにはない）。"""
    i = DOCS.index(doc)
    want = DOCS[i - 1] if i > 0 else None
    got = tour.previous_of[doc]
    assert got == want, f"'previous' on {doc} leads to {got}, not {want}"


def chain(links: dict[str, str | None], start: str) -> list[str]:
    pages = [start]
    while links.get(pages[-1]) is not None and len(pages) <= len(links):
        pages.append(links[pages[-1]])
    return pages


def test_next_links_reach_every_page_in_toc_order(tour):
    """最初のページから「次へ」をたどると、_toc.yml の順にすべてのページを通って終わる。"""
    assert chain(tour.next_of, DOCS[0]) == DOCS


def test_previous_links_walk_back_the_same_way(tour):
    """最後のページから「前へ」をたどると、同じ順を逆にたどって最初のページに戻る。"""
    assert chain(tour.previous_of, DOCS[-1]) == DOCS[::-1]
    assert tour.walk_back.get("offsite_requests", []) == []


def test_index_redirects_to_the_first_page(watched):
    """サイトのトップ（index.html）は toc の最初のページへ移る。"""
    page = watched.page
    page.goto(watched.url("index.html"))
    page.wait_for_url(watched.url(f"{DOCS[0]}.html"))
    inspect(watched, DOCS[0], None)
    assert watched.problems() == {}


@pytest.mark.parametrize("term", SEARCH_TERMS, ids=["reconstruction-error", "threshold"])
def test_search_box_finds_the_chapters(watched, term):
    """検索ボックスに入力した語が、本文にその語を含むページをすべて結果に出す。"""
    expected = {doc for doc in DOCS if term in article_text(doc)}
    assert expected, f"no page contains {term}: the test needs another term"
    page = watched.page
    # Open the theme's search dialog from the first page (as a reader does), type, press Enter.
    page.goto(watched.url(f"{DOCS[0]}.html"))
    watched.settle()
    page.keyboard.press("Control+k")
    box = page.locator("#pst-search-dialog input[name=q]")
    box.fill(term)
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\.html\?q="))
    # searchtools.js retitles the results "Search Results" (in the page's language) when done.
    page.wait_for_function(
        """() => {
          const title = document.querySelector("#search-results h2");
          return title && title.textContent === Documentation.gettext("Search Results");
        }"""
    )
    hrefs = page.eval_on_selector_all(
        "#search-results ul.search li > a", "els => els.map(e => e.href)"
    )
    found = {doc_of(href.split("#")[0], watched.base) for href in hrefs}
    watched.settle()  # the result summaries are fetched afterwards
    assert expected - found == set(), f"{term}: pages with the term that the search missed"
    assert found <= set(DOCS), f"{term}: results outside the book: {found - set(DOCS)}"
    assert watched.problems() == {}, term


def test_server_answered_no_request_with_an_error(server_errors):
    """Last: nothing any test made the browser ask for was missing (e.g. a late /favicon.ico)."""
    assert server_errors == []
