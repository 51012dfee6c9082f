"""Print the book to a PDF: the single-page build (_build/singlehtml) through Debian's chromium.

    .venv/bin/python tools/pdf/make_pdf.py [--html _build/singlehtml] [--out _build/pdf/book.pdf]

`make pdf` builds the single-page HTML first (from the same jupyter-cache as `make book`, so no
notebook runs twice) and then runs this script, which

1. serves the single-page build on 127.0.0.1 (like the browser tests) together with the fonts
   and print.css under /_pdf/: IPAexGothic from japanize-matplotlib and DejaVu Sans Mono from
   matplotlib, both pinned in requirements.txt, so the PDF looks the same on every machine and
   nothing is downloaded;
2. opens it in /usr/bin/chromium through Playwright (as the browser tests do: chromium cannot
   resolve any host name), waits for MathJax, the fonts and the images, and reshapes the page
   into a book: a cover, a table of contents, a page for each part of book/_toc.yml, each
   chapter on a new page, every folded solution and hidden code cell unfolded;
3. scales any table, formula or figure still wider than the text down to the text width (CSS
   zoom; code wraps) and stops with an error if anything would still stick out on the right or
   be clipped by its box; marks short blocks to stay in one piece (print.css: .pdf-keep);
4. prints A4 pages with page numbers, tagged, with bookmarks (part > chapter > section), reads
   from that first PDF on which page each heading of the table of contents is (`pdfinfo
   -dests`, poppler-utils), writes those page numbers into it and prints again;
5. makes the file reproducible and smaller: the creation and modification dates become the
   date of the last commit (or SOURCE_DATE_EPOCH), the structure IDs are numbered in order,
   and qpdf packs the objects into compressed object streams with an ID made from the content.
   The same sources and packages give the same bytes.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _load(name: str):
    """A module of tools/ (not a package), loaded from its file."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The local server and Debian's chromium, set up as for the browser tests (tools/localsite.py):
# no calls home, and no host name resolves, so the page can reach nothing but the local server.
localsite = _load("localsite")
# A4 with 18 mm side margins: the text is 174 mm wide, 657 CSS pixels (96 per inch).
PAGE_MARGIN = {"top": "16mm", "bottom": "18mm", "left": "18mm", "right": "18mm"}
TEXT_WIDTH_PX = int((210 - 2 * 18) / 25.4 * 96)
TEXT_HEIGHT_PX = int((297 - 16 - 18) / 25.4 * 96)
# The page number at the foot of each page. Chromium renders this template apart from the page,
# without its web fonts: the digits come from the system's sans-serif (fontconfig; Debian's
# fonts-dejavu-core), embedded like every other font.
FOOTER = (
    '<div style="width:100%;text-align:center;font-size:8pt;color:#444;'
    'font-family:sans-serif"><span class="pageNumber"></span></div>'
)
TIMEOUT_MS = 120_000


def package_dir(name: str) -> Path:
    """A package's folder, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: the Python package {name} is not installed (run `make venv`)")
    return Path(next(iter(spec.submodule_search_locations)))


def pdf_files() -> dict[str, Path]:
    """What the server offers under /_pdf/: print.css and the fonts it names."""
    mpl_fonts = package_dir("matplotlib") / "mpl-data" / "fonts" / "ttf"
    files = {
        "print.css": HERE / "print.css",
        "fonts/ipaexg.ttf": package_dir("japanize_matplotlib") / "fonts" / "ipaexg.ttf",
        "fonts/DejaVuSansMono.ttf": mpl_fonts / "DejaVuSansMono.ttf",
        "fonts/DejaVuSansMono-Bold.ttf": mpl_fonts / "DejaVuSansMono-Bold.ttf",
    }
    for path in files.values():
        if not path.is_file():
            sys.exit(f"error: {path} is missing")
    return files


def book_outline(config: Path, toc: Path) -> dict:
    """Title, author, the root document and the parts (caption, documents) of the toc."""
    conf = yaml.safe_load(config.read_text(encoding="utf-8"))
    tree = yaml.safe_load(toc.read_text(encoding="utf-8"))

    def strip(name: str) -> str:
        return re.sub(r"\.(md|ipynb)$", "", name)

    parts = [
        {
            "caption": part.get("caption", ""),
            "docs": [strip(chapter["file"]) for chapter in part.get("chapters", [])],
        }
        for part in tree.get("parts", [])
    ]
    if tree.get("chapters"):
        parts.insert(0, {"caption": "", "docs": [strip(c["file"]) for c in tree["chapters"]]})
    return {
        "title": str(conf.get("title", "")),
        "author": str(conf.get("author", "")),
        "root": strip(tree["root"]),
        "parts": parts,
    }


# Reshape the single page into a book. Runs in the page; `book` comes from book_outline().
PREPARE_JS = r"""
(book) => {
  const article = document.querySelector("article.bd-article");
  if (!article) throw new Error("no article.bd-article in the page");
  for (const d of article.querySelectorAll("details")) d.open = true;
  // No shadows on paper: Chromium prints each blurred shadow as a 300 dpi image. (Inline and
  // !important, to win over the theme's own !important box-shadow rules.)
  for (const e of document.querySelectorAll("*")) {
    const cs = getComputedStyle(e);
    if (cs.boxShadow !== "none") e.style.setProperty("box-shadow", "none", "important");
    if (cs.textShadow !== "none") e.style.setProperty("text-shadow", "none", "important");
  }
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const plain = (h) => {
    const c = h.cloneNode(true);
    c.querySelectorAll(".headerlink").forEach((a) => a.remove());
    return c.textContent.replace(/\s+/g, " ").trim();
  };
  // Links: one to a place in the book becomes a link inside the PDF ("#id"); one to another
  // page of the local server (the search page, the index) is no link at all on paper;
  // links to other sites stay.
  for (const a of document.querySelectorAll("a[href]")) {
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin) continue;
    if (url.pathname === "/" + book.root + ".html" || url.pathname === location.pathname) {
      if (url.hash) a.setAttribute("href", url.hash);
      else a.removeAttribute("href");
    } else {
      a.removeAttribute("href");
    }
  }
  const entries = [];  // {id, level, text}
  // The root document: its <h1> is the first heading of the article.
  const rootH1 = article.querySelector("h1");
  rootH1.id = "pdf-doc-root";
  entries.push({ id: rootH1.id, level: "chapter", text: plain(rootH1) });
  let n = 0;
  book.parts.forEach((part, p) => {
    part.docs.forEach((doc, i) => {
      const anchor = document.getElementById("document-" + doc);
      if (!anchor) throw new Error("document " + doc + " is not in the single page");
      const section = anchor.nextElementSibling;
      const h = section && section.querySelector("h1, h2");
      if (!h) throw new Error("no title heading for " + doc);
      if (i === 0 && part.caption) {
        const ph = el("h1", "pdf-part", part.caption);
        ph.id = "pdf-part-" + p;
        anchor.before(ph);
        entries.push({ id: ph.id, level: "part", text: part.caption });
      }
      n += 1;
      h.id = "pdf-doc-" + n;
      h.classList.add("pdf-chapter");
      section.classList.add("pdf-chapter-start");
      entries.push({ id: h.id, level: "chapter", text: plain(h), doc });
      let s = 0;
      for (const sub of section.querySelectorAll(":scope > section > h3")) {
        s += 1;
        sub.id = h.id + "-" + s;
        entries.push({ id: sub.id, level: "section", text: plain(sub) });
      }
    });
  });
  // The root document's own sections.
  let s = 0;
  for (const sub of rootH1.parentElement.querySelectorAll(":scope > section > h2")) {
    s += 1;
    sub.id = "pdf-doc-root-" + s;
    entries.splice(s, 0, { id: sub.id, level: "section", text: plain(sub) });
  }
  // Cover and table of contents, in front of everything.
  const cover = el("div", "pdf-cover");
  cover.append(el("p", "pdf-title", book.title), el("p", "pdf-author", book.author));
  const toc = el("nav", "pdf-toc");
  toc.append(el("h1", "pdf-toc-heading", "目次"));
  const list = el("ol");
  for (const e of entries) {
    const li = el("li", "pdf-toc-" + e.level);
    const a = el("a");
    a.href = "#" + e.id;
    a.append(el("span", "pdf-toc-title", e.text), el("span", "pdf-toc-dots"),
             el("span", "pdf-toc-page", "000"));
    a.lastChild.dataset.target = e.id;
    li.append(a);
    list.append(li);
  }
  toc.append(list);
  article.prepend(cover, toc);
  return entries;
}
"""

READY_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
  await Promise.all([...document.images].map((img) => img.decode().catch(() => null)));
  const missing = [...document.images].filter((img) => !img.complete || !img.naturalWidth);
  return missing.map((img) => img.getAttribute("src"));
}
"""

# Scale what is wider than its box down to fit (CSS zoom), then list anything that still
# sticks out of the text block or is clipped by a box that would scroll on screen.
FIT_JS = r"""
(PAGE_HEIGHT_PX) => {
  const article = document.querySelector("article.bd-article");
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.split(/\s+/).join(".") : "");
  const where = (e) => {
    const sec = e.closest("section");
    const title = sec && sec.querySelector("h2, h3, h4");
    return name(e) + " in " + (title ? title.textContent.trim().slice(0, 60) : "?");
  };
  const inner = (box) => {
    const cs = getComputedStyle(box);
    return box.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  };
  const zoomed = [];
  const selector = 'table, mjx-container[display="true"], img, svg:not(mjx-container svg)';
  for (const e of article.querySelectorAll(selector)) {
    if (!e.getClientRects().length) continue;
    const avail = inner(e.parentElement);
    const need = Math.max(e.scrollWidth, e.getBoundingClientRect().width);
    if (avail > 0 && need > avail + 0.5) {
      const z = Math.floor((avail / need) * 1000) / 1000;
      e.style.zoom = z;
      zoomed.push(where(e) + " x" + z);
    }
  }
  // Short blocks stay in one piece on paper (print.css: .pdf-keep); long ones may break.
  const keep = 0.3 * PAGE_HEIGHT_PX;
  const blocks = "div.cell, div.cell_input, div.cell_output, table, .admonition, details, " +
    "figure, div.highlight, div.math";
  for (const e of article.querySelectorAll(blocks)) {
    if (e.getBoundingClientRect().height < keep) e.classList.add("pdf-keep");
  }
  const left = article.getBoundingClientRect().left - 1;
  const right = article.getBoundingClientRect().right + 1;
  const problems = [];
  for (const e of article.querySelectorAll("*")) {
    if (e.closest("mjx-container") && e.tagName !== "MJX-CONTAINER") continue;
    const r = e.getBoundingClientRect();
    if (!r.width) continue;
    if (r.right > right) problems.push(where(e) + ": right edge at " + Math.round(r.right) +
      " px, the text ends at " + Math.round(right) + " px");
    if (r.left < left) problems.push(where(e) + ": left edge at " + Math.round(r.left) +
      " px, the text starts at " + Math.round(left) + " px");
    const ox = getComputedStyle(e).overflowX;
    if (ox !== "visible" && e.scrollWidth > e.clientWidth + 1) {
      problems.push(where(e) + ": " + e.scrollWidth + " px of content in a box " +
        e.clientWidth + " px wide (overflow-x: " + ox + ")");
    }
  }
  return { zoomed, problems };
}
"""

SET_PAGES_JS = r"""
(pages) => {
  for (const span of document.querySelectorAll(".pdf-toc-page")) {
    span.textContent = String(pages[span.dataset.target] ?? "?");
  }
}
"""


def destinations(pdf: Path) -> dict[str, int]:
    """Named destination -> page number (1-based), from `pdfinfo -dests`.

    Chromium writes a named destination for every element that a link in the page points to,
    so each heading that the table of contents links to has one.
    """
    out = run(["pdfinfo", "-dests", str(pdf)])
    dests = {}
    for line in out.splitlines():
        match = re.match(r'\s*(\d+)\s+\[[^\]]*\]\s+"(.*)"\s*$', line)
        if match:
            dests[match.group(2)] = int(match.group(1))
    return dests


def run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def source_date() -> datetime:
    """SOURCE_DATE_EPOCH, else the time of the last commit, else 1970-01-01."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not epoch:
        git = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True
        )
        epoch = git.stdout.strip() if git.returncode == 0 else ""
    return datetime.fromtimestamp(int(epoch or 0), UTC)


def fixed_dates(data: bytes, when: datetime) -> bytes:
    """The PDF with its /CreationDate and /ModDate set to `when`.

    Chromium writes them as literal strings in the uncompressed document information
    dictionary; the new value has the same length (padded if needed), so no offset moves.
    """
    stamp = when.strftime("D:%Y%m%d%H%M%S+00'00'").encode()

    def replace(match: re.Match) -> bytes:
        old = match.group(2)
        return match.group(1) + stamp[: len(old)].ljust(len(old)) + b")"

    return re.sub(rb"(/(?:CreationDate|ModDate) \()(D:[^)]*)\)", replace, data)


def renumbered_nodes(data: bytes) -> bytes:
    """The tagged PDF with its structure IDs numbered 1, 2, 3... in their original order.

    Chromium names each structure element after its DOM node's id ("node00002389"), a counter
    that depends on how many nodes the page happened to create before (scripts that run
    asynchronously, such as MathJax, vary it from run to run). Renumbering by rank keeps the
    IDs distinct, of the same length (no offset moves) and in the same order (the ID name tree
    stays sorted), and makes the file the same on every run.
    """
    found = sorted({int(n) for n in re.findall(rb"\(node(\d{8})\)", data)})
    rank = {n: i for i, n in enumerate(found, start=1)}
    return re.sub(rb"\(node(\d{8})\)", lambda m: b"(node%08d)" % rank[int(m.group(1))], data)


def open_book(browser, base: str, book: dict):
    """The single page, reshaped for print and checked; returns (page, toc entries)."""
    context = browser.new_context(
        viewport={"width": TEXT_WIDTH_PX, "height": 1000}, color_scheme="light"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "book.html", wait_until="load")
    page.emulate_media(media="print")
    page.add_style_tag(url=base + "_pdf/print.css")
    entries = page.evaluate(PREPARE_JS, book)
    missing = page.evaluate(READY_JS)
    if missing:
        sys.exit(f"error: images that did not load: {missing}")
    fit = page.evaluate(FIT_JS, TEXT_HEIGHT_PX)
    for line in fit["zoomed"]:
        print(f"  scaled down to the text width: {line}")
    if fit["problems"]:
        print("error: wider than the text (it would be cut off on paper):", file=sys.stderr)
        for line in fit["problems"][:40]:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)
    if errors:
        sys.exit(f"error: the page raised: {errors}")
    return page, entries


def print_with_page_numbers(page, entries: list[dict], path: Path) -> int:
    """Print to `path` until the table of contents gives the pages the PDF has; page count."""
    pages: dict[str, int | None] = {}
    for _ in range(4):
        page.pdf(
            path=str(path),
            format="A4",
            margin=PAGE_MARGIN,
            print_background=True,
            display_header_footer=True,
            header_template="<span></span>",
            footer_template=FOOTER,
            outline=True,  # PDF bookmarks from the headings: part > chapter > section
            tagged=True,  # needed for the outline; structure for screen readers
        )
        dests = destinations(path)
        found = {e["id"]: dests.get(e["id"]) for e in entries}
        lost = [e["text"] for e in entries if found[e["id"]] is None]
        if lost:
            sys.exit(f"error: the PDF has no destination for {lost[:5]}")
        if found == pages:
            return int(run(["pdfinfo", str(path)]).split("Pages:")[1].split()[0])
        pages = found
        page.evaluate(SET_PAGES_JS, pages)
    sys.exit("error: the page numbers of the table of contents do not settle")


def print_book(html_dir: Path, out: Path, config: Path, toc: Path) -> None:
    from playwright.sync_api import sync_playwright

    book = book_outline(config, toc)
    start = html_dir / f"{book['root']}.html"
    if not start.is_file():
        sys.exit(f"error: {start} is missing: build the single-page HTML first (make pdf does)")
    if (missing := localsite.chromium_missing()) is not None:
        sys.exit(f"error: {missing}")
    for tool in ("pdfinfo", "qpdf"):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} not found: install poppler-utils and qpdf (make pdf does)")

    t0 = time.monotonic()
    # Sphinx's singlehtml builder writes the page as book/intro.html (the root document's
    # name) but makes every link in it relative to the output folder: serve it from there.
    extra = {"book.html": start} | {f"_pdf/{k}": v for k, v in pdf_files().items()}
    server = localsite.serve(html_dir, extra)
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
            browser = localsite.launch(playwright)
            page, entries = open_book(browser, server.url, book)
            print(f"  page laid out for print in {time.monotonic() - t0:.0f} s")
            printed = Path(tmp) / "chromium.pdf"
            count = print_with_page_numbers(page, entries, printed)
            browser.close()
            dated = Path(tmp) / "dated.pdf"
            dated.write_bytes(renumbered_nodes(fixed_dates(printed.read_bytes(), source_date())))
            # Object streams shrink the tagged PDF to about half; --deterministic-id makes the
            # file's /ID a hash of its content (Chromium's is random).
            out.parent.mkdir(parents=True, exist_ok=True)
            run(
                [
                    "qpdf",
                    "--object-streams=generate",
                    "--compression-level=9",
                    "--recompress-flate",
                    "--deterministic-id",
                    str(dated),
                    str(out),
                ]
            )
    finally:
        server.stop()
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    size = out.stat().st_size / 1e6
    print(f"wrote {shown}: {count} pages, {size:.1f} MB, in {time.monotonic() - t0:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "singlehtml")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf")
    parser.add_argument("--config", type=Path, default=ROOT / "book" / "_config.yml")
    parser.add_argument("--toc", type=Path, default=ROOT / "book" / "_toc.yml")
    args = parser.parse_args(argv)
    print_book(args.html.resolve(), args.out.resolve(), args.config, args.toc)


if __name__ == "__main__":
    main()
