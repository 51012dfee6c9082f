"""The site on a phone: no page scrolls sideways at 390 px (issue 14, "readable on a phone").

Every page of book/_toc.yml and the pages Sphinx adds (genindex, py-modindex, search) is opened
in a 390 x 844 viewport, as on a phone (mobile emulation, touch, a device pixel ratio of 3),
after its images, formulas (MathJax) and fonts are in. The page must be no wider than the
screen (document.documentElement.scrollWidth <= 390), and neither may the theme's main column,
which would otherwise hide a too-wide text behind its own horizontal scroll bar. Code blocks,
notebook outputs and tables may still scroll inside their own boxes: that is the fix for them.

When a page is too wide, the message names the elements that stick out past the right edge
(those not inside a box that scrolls or clips by itself), so that the cause can be fixed in
book/_static/narrow.css.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from booktoc import book_documents

pytestmark = pytest.mark.browser

DOCS = book_documents()
SITE_PAGES = ["genindex", "py-modindex", "search"]
PAGES = DOCS + SITE_PAGES

PHONE = {"width": 390, "height": 844}  # a current phone in portrait (CSS pixels)
# The theme's columns, outermost first: none of them may be wider than what it shows.
MAIN_COLUMNS = [".bd-container", ".bd-main", ".bd-article-container", "article.bd-article"]

# Wait for what changes the layout after the load event: MathJax's typesetting, web fonts.
SETTLE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
  return true;
}"""

# The widths, and the elements that stick out past the right edge of the screen (the deepest
# ones: an element whose child sticks out too is left out), skipping what is inside a box that
# scrolls or clips horizontally within the screen and what is fixed (off-canvas sidebars).
MEASURE = """(columns) => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const outside = (el) => el.getBoundingClientRect().right > width + 0.5;
  const contained = (el) => {
    for (let p = el; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (style.position === "fixed" || style.visibility === "hidden") return true;
      if (p !== el && ["auto", "scroll", "hidden", "clip"].includes(style.overflowX)
          && !outside(p)) return true;
    }
    return false;
  };
  const culprits = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.getBoundingClientRect().width === 0 || !outside(el) || contained(el)) continue;
    if (Array.from(el.children).some((child) => outside(child) && !contained(child))) continue;
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + Array.from(el.classList).map((c) => "." + c).join("");
    const text = (el.textContent || "").replace(/\\s+/g, " ").trim().slice(0, 60);
    culprits.push(`${name} (right edge ${Math.round(el.getBoundingClientRect().right)} px): ${text}`);
  }
  return {
    width,
    scrollWidth: root.scrollWidth,
    columns: columns.map((selector) => {
      const el = document.querySelector(selector);
      return el ? {selector, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth} : null;
    }).filter((c) => c !== null),
    culprits: culprits.slice(0, 10),
  };
}"""


@dataclass
class NarrowVisit:
    doc: str
    status: int | None
    width: int
    scroll_width: int
    columns: list[dict]
    culprits: list[str]
    problems: dict[str, list[str]]


@pytest.fixture(scope="module")
def narrow_visits(browser, new_page) -> dict[str, NarrowVisit]:
    """Every page, opened once in one phone-sized browser context."""
    context = browser.new_context(
        locale="ja-JP",
        viewport=PHONE,
        screen=PHONE,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(20_000)
    visits: dict[str, NarrowVisit] = {}
    try:
        watched = new_page(context)
        page = watched.page
        for doc in PAGES:
            response = page.goto(watched.url(f"{doc}.html"), wait_until="load")
            page.evaluate(SETTLE)
            measured = page.evaluate(MEASURE, MAIN_COLUMNS)
            watched.settle()
            visits[doc] = NarrowVisit(
                doc,
                response.status if response else None,
                measured["width"],
                measured["scrollWidth"],
                measured["columns"],
                measured["culprits"],
                watched.problems(),
            )
            watched.restart_log()
    finally:
        context.close()
    return visits


def test_the_pages_are_checked_at_phone_width(narrow_visits):
    """ページは幅 390 px (スクロールバーに幅を取られない、スマートフォンと同じ表示) で調べている。"""
    assert {v.width for v in narrow_visits.values()} == {PHONE["width"]}


@pytest.mark.parametrize("doc", PAGES)
def test_page_does_not_scroll_sideways_on_a_phone(narrow_visits, doc):
    """幅 390 px の画面で、ページが横にスクロールしない (はみ出す要素を原因として示す)。"""
    v = narrow_visits[doc]
    assert v.status == 200, f"{doc}: HTTP {v.status}"
    assert v.scroll_width <= v.width, (
        f"{doc}: {v.scroll_width} px wide on a {v.width} px screen; sticking out: {v.culprits}"
    )


@pytest.mark.parametrize("doc", PAGES)
def test_main_column_does_not_scroll_sideways_on_a_phone(narrow_visits, doc):
    """本文の列 (.bd-main、記事) も、その中で横にスクロールしない (コードや表は自分の箱の中で動く)。"""
    v = narrow_visits[doc]
    assert v.columns, f"{doc}: none of {MAIN_COLUMNS} in the page"
    wide = [c for c in v.columns if c["scrollWidth"] > c["clientWidth"]]
    assert wide == [], f"{doc}: columns wider than they show: {wide}; sticking out: {v.culprits}"


@pytest.mark.parametrize("doc", PAGES)
def test_page_works_on_a_phone(narrow_visits, doc):
    """幅 390 px の画面でも、コンソールのエラー・捕捉されない例外・失敗したリクエストがない。"""
    v = narrow_visits[doc]
    assert v.problems == {}, f"{doc}: {v.problems}"
