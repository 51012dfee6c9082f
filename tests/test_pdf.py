"""Checks on the printed book, _build/pdf/book.pdf (`make pdf` makes it; `make test` runs these
right after it, with `pytest -m pdf`).

What is checked with poppler-utils and qpdf (`make pdf` installs them): the fonts are embedded
and one is Japanese (pdffonts); every chapter title of book/_toc.yml is in the text and the
table of contents sends each one to the page where it starts (pdftotext); there are at least as
many images as figures in the book (pdfimages); the page count is plausible; no word stands out
past the right margin and every long code line of the chapters is printed whole (pdftotext
-bbox); the bookmarks list every chapter (qpdf); no link points at the local server that
printed the page (pdfinfo -url).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from functools import cache
from pathlib import Path

import pytest
import yaml
from booktoc import book_documents

pytestmark = pytest.mark.pdf

ROOT = Path(__file__).resolve().parents[1]
PDF = ROOT / "_build" / "pdf" / "book.pdf"
SINGLE_HTML = ROOT / "_build" / "singlehtml"
TOC = ROOT / "book" / "_toc.yml"
# A4, 18 mm side margins (tools/pdf/make_pdf.py's PAGE_MARGIN), in points.
MARGIN_PT = 18 / 25.4 * 72
# A full-width closing bracket at the end of a line may reach a little past the text block
# (its glyph box, not its ink); anything more than this is text out of place.
OVERSHOOT_PT = 6.0
# Code lines at least this wide (in columns, full-width characters counting 2 as ruff counts
# them) are the ones that could run off the page; the book's limit is 88.
LONG_CODE_LINE = 70


def run(*command: str) -> str:
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} not found: `make pdf` installs poppler-utils and qpdf", False)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def pdf() -> Path:
    if not PDF.is_file():
        pytest.fail(f"{PDF} is missing: run `make pdf` (make test does) first", False)
    return PDF


def squeeze(text: str) -> str:
    """Text without any whitespace, in NFKC (so a line broken anywhere still matches)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@pytest.fixture(scope="module")
def pages(pdf: Path) -> list[str]:
    """The text of each page (pdftotext -layout), first page first."""
    return run("pdftotext", "-layout", str(pdf), "-").split("\f")[:-1]


@pytest.fixture(scope="module")
def page_count(pdf: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", str(pdf)), re.M).group(1))


def plain_heading(markdown: str) -> str:
    """A MyST heading as it reads: no `code` marks, emphasis or link targets."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    return re.sub(r"[`*_]", "", text).strip()


@cache
def chapter_titles() -> dict[str, str]:
    """Document -> its title: the first `# ` heading of the .md file or of the notebook."""
    titles = {}
    for doc in book_documents():
        notebook = ROOT / f"{doc}.ipynb"
        if notebook.is_file():
            cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        else:
            source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
        match = re.search(r"^# (.+)$", source, re.M)
        assert match, f"{doc} has no `# ` title"
        titles[doc] = plain_heading(match.group(1))
    return titles


def test_fonts_are_embedded_and_one_is_japanese(pdf: Path) -> None:
    rows = run("pdffonts", str(pdf)).splitlines()[2:]
    assert rows, "pdffonts lists no font"
    fonts = []
    for row in rows:
        fields = row.split()
        # name type... encoding emb sub uni object-id generation
        fonts.append({"name": fields[0], "emb": fields[-5], "row": row})
    not_embedded = [f["row"] for f in fonts if f["emb"] != "yes"]
    assert not not_embedded, f"fonts not embedded: {not_embedded}"
    japanese = [f["name"] for f in fonts if re.search(r"IPAex|CJK|Gothic|Mincho", f["name"])]
    assert japanese, f"no Japanese font among {sorted({f['name'] for f in fonts})}"


def test_text_is_japanese(pages: list[str]) -> None:
    """The Japanese font is really used: the text extracts as Japanese, not as boxes."""
    text = "".join(pages)
    assert "異常検知" in text and "再構成誤差" in text
    assert "\ufffd" not in text, "characters the PDF cannot map back to Unicode"


def test_every_chapter_title_is_in_the_text(pages: list[str]) -> None:
    text = squeeze("".join(pages))
    missing = [title for title in chapter_titles().values() if squeeze(title) not in text]
    assert not missing, f"chapter titles not in the PDF's text: {missing}"


def toc_chapters(pages: list[str]) -> dict[str, int]:
    """Entry -> page for the parts and chapters of the table of contents, the lines that
    start at the left edge ("1. タイトル ..... 14"; its sections are indented)."""
    assert "目次" in pages[1], "page 2 is not the table of contents"
    entries = {}
    for page in pages[1:12]:
        for line in page.splitlines():
            match = re.match(r"^(\S.*?)\s{2,}(\d+)\s*$", line)
            if match:
                entries.setdefault(squeeze(match.group(1)), int(match.group(2)))
    return entries


def test_table_of_contents_leads_to_each_chapter(pages: list[str]) -> None:
    entries = toc_chapters(pages)
    wrong = []
    for doc, title in chapter_titles().items():
        wanted = squeeze(title)
        # A numbered chapter's entry is "1. タイトル"; in the PDF its page opens the same way.
        hits = [
            page
            for entry, page in entries.items()
            if re.fullmatch(r"(\d+\.)?" + re.escape(wanted), entry)
        ]
        if len(hits) != 1:
            wrong.append(f"{doc}: 「{title}」 is {len(hits)} times in the table of contents")
            continue
        opening = squeeze(pages[hits[0] - 1])
        if not re.match(r"(\d+\.)?" + re.escape(wanted), opening):
            wrong.append(f"{doc}: page {hits[0]} does not open with 「{title}」: {opening[:40]!r}")
    assert not wrong, "\n".join(wrong)


def test_bookmarks_list_every_part_and_chapter(pdf: Path) -> None:
    outline = json.loads(run("qpdf", "--json", "--json-key=outlines", str(pdf)))["outlines"]
    titles = []

    def walk(items: list[dict]) -> None:
        for item in items:
            titles.append(squeeze(item["title"]))
            walk(item.get("kids", []))

    walk(outline)
    parts = [p["caption"] for p in yaml.safe_load(TOC.read_text(encoding="utf-8"))["parts"]]
    wanted = list(chapter_titles().values()) + parts
    missing = [t for t in wanted if not any(squeeze(t) in title for title in titles)]
    assert not missing, f"no bookmark for {missing}"


def book_figures() -> int:
    """The images in the book: <img> in the article of the single-page build."""
    html = (SINGLE_HTML / "book" / "intro.html").read_text(encoding="utf-8")
    article = re.search(r'<article class="bd-article".*?</article>', html, re.S)
    assert article, "no article in the single-page build"
    return len(re.findall(r"<img\s", article.group(0)))


def test_every_figure_is_in_the_pdf(pdf: Path) -> None:
    rows = run("pdfimages", "-list", str(pdf)).splitlines()[2:]
    images = [row for row in rows if row.split()[2] == "image"]
    figures = book_figures()
    assert figures >= 40, f"only {figures} images in the single-page build"
    assert len(images) >= figures, f"{len(images)} images in the PDF, {figures} in the book"


def test_page_count_is_plausible(pages: list[str], page_count: int) -> None:
    assert len(pages) == page_count
    assert 150 <= page_count <= 700, f"{page_count} pages"
    # A4 at 10 pt holds at most about 2,000 characters; much less per page on average would
    # mean mostly empty pages.
    per_page = len(squeeze("".join(pages))) / page_count
    assert 400 <= per_page <= 2500, f"{per_page:.0f} characters per page"


def test_nothing_sticks_out_past_the_margins(pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "bbox.html"
    run("pdftotext", "-bbox", str(pdf), str(out))
    page = 0
    width = 0.0
    outside = []
    for line in out.read_text(encoding="utf-8").splitlines():
        if m := re.search(r'<page width="([\d.]+)"', line):
            page += 1
            width = float(m.group(1))
        elif m := re.search(
            r'xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>(.*)</word>', line
        ):
            x_min, x_max, word = float(m.group(1)), float(m.group(2)), m.group(3)
            if x_max > width - MARGIN_PT + OVERSHOOT_PT or x_min < MARGIN_PT - OVERSHOOT_PT:
                outside.append(f"page {page}: {word!r} at x = {x_min:.0f}..{x_max:.0f} pt")
    assert page > 0
    assert not outside, f"{len(outside)} words outside the text block:\n" + "\n".join(outside[:20])


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def long_code_lines() -> list[tuple[str, str]]:
    """(notebook, line) for every code line of LONG_CODE_LINE columns or more that the book
    shows (cells tagged remove-cell / remove-input are not printed)."""
    found = []
    for doc in book_documents():
        notebook = ROOT / f"{doc}.ipynb"
        if not notebook.is_file():
            continue
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            tags = set(cell.get("metadata", {}).get("tags", []))
            if cell["cell_type"] != "code" or tags & {"remove-cell", "remove-input"}:
                continue
            for line in "".join(cell["source"]).splitlines():
                if columns(line) >= LONG_CODE_LINE:
                    found.append((doc, line))
    return found


def test_long_code_lines_are_printed_whole(pages: list[str]) -> None:
    lines = long_code_lines()
    assert lines, f"no code line of {LONG_CODE_LINE} columns or more: lower LONG_CODE_LINE"
    text = squeeze("".join(pages))
    cut = [f"{doc}: {line.strip()}" for doc, line in lines if squeeze(line) not in text]
    assert not cut, f"{len(cut)} of {len(lines)} long code lines not whole in the PDF:\n" + (
        "\n".join(cut[:10])
    )


def test_no_link_points_at_the_local_server(pdf: Path) -> None:
    urls = run("pdfinfo", "-url", str(pdf)).splitlines()[1:]
    local = [u for u in urls if re.search(r"//(127\.0\.0\.1|localhost)[:/]", u)]
    assert not local, f"links to the server that printed the page: {local[:5]}"
    assert urls, "no link to the bibliography's sources"



def test_the_folded_solutions_are_printed_open(pages: list[str]) -> None:
    # the web pages fold each exercise's solution (book/_ext/solutions.py); the PDF prints every
    # fold open, with its title: one 解答例 (演習 N) per solution in the chapters
    folds = 0
    for doc in book_documents():
        path = ROOT / f"{doc}.ipynb"
        if doc.startswith("notebooks/") and path.is_file():
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            folds += sum("solution" in c["metadata"].get("tags", [])
                         and "".join(c["source"]).startswith("**解答例 (演習") for c in cells)
    titles = re.findall(r"解答例\(演習\d+\)", squeeze("".join(pages)))
    assert folds >= 30 and len(titles) == folds
