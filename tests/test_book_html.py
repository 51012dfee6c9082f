"""Checks on the built book in _build/html (run after the build: `make test` does).

Every page in the toc exists, images are local files, nothing is loaded from another site,
no executed cell printed an error or a warning, and Japanese search works.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from booktoc import book_documents
from bs4 import BeautifulSoup

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"

OFFSITE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""(?:url\(|@import\s+)\s*['"]?\s*((?:https?:)?//[^'")\s;]*)""", re.I)
# Python's traceback and warning markers in printed output, e.g. "Traceback (most recent call
# last)", "UserWarning: ...". Uncaught exceptions already fail the build (raise_on_error) and
# show as .output.error; an "XxxError: message" that a chapter prints on purpose, after
# catching it to show the reader aeutil's error messages, is content, not noise.
BAD_OUTPUT = re.compile(r"Traceback \(most recent call last\)|\b[A-Za-z]*Warning:")
# Named anywhere in a page, these mean a CDN is used (cdn.jsdelivr.net is Sphinx's default MathJax).
# (sphinx-thebe always writes an inert THEBE_JS_URL constant pointing at unpkg.com; it is only
# fetched when thebe is launched, and the book has no launch buttons, so it is not listed here.)
KNOWN_CDNS = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "fonts.googleapis.com")


DOCS = book_documents()


@pytest.fixture(scope="module")
def html_dir() -> Path:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} is not built: run `make book` (or `make test`) first", False)
    return HTML


def page(html_dir: Path, doc: str) -> tuple[Path, BeautifulSoup]:
    path = html_dir / f"{doc}.html"
    assert path.is_file(), f"no HTML page for toc entry {doc!r}"
    return path, BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_toc_is_not_empty():
    assert DOCS and DOCS[0] == "book/intro"


@pytest.mark.parametrize("doc", DOCS)
def test_page_exists(html_dir, doc):
    page(html_dir, doc)


@pytest.mark.parametrize("doc", DOCS)
def test_images_are_local_and_non_empty(html_dir, doc):
    path, soup = page(html_dir, doc)
    for img in soup.find_all("img"):
        src = img.get("src", "")
        assert src, f"{doc}: <img> without src"
        if src.startswith("data:"):
            continue
        assert not OFFSITE.match(src), f"{doc}: image from another site: {src}"
        target = (path.parent / unquote(urlsplit(src).path)).resolve()
        assert target.is_file(), f"{doc}: missing image {src}"
        assert target.stat().st_size > 0, f"{doc}: empty image {src}"


@pytest.mark.parametrize("doc", DOCS)
def test_nothing_loaded_from_other_sites(html_dir, doc):
    _, soup = page(html_dir, doc)
    offsite = [s["src"] for s in soup.find_all("script", src=True) if OFFSITE.match(s["src"])]
    for link in soup.find_all("link", href=True):
        rels = {r.lower() for r in link.get("rel", [])}
        if rels & {"stylesheet", "preload", "modulepreload", "icon"} and OFFSITE.match(
            link["href"]
        ):
            offsite.append(link["href"])
    for style in soup.find_all("style"):
        offsite += CSS_URL.findall(style.get_text())
    for tag in soup.find_all(style=True):
        offsite += CSS_URL.findall(tag["style"])
    assert offsite == [], f"{doc}: loads from other sites: {offsite}"
    text = str(soup)
    assert not [cdn for cdn in KNOWN_CDNS if cdn in text], f"{doc}: mentions a CDN"


def test_stylesheets_load_nothing_from_other_sites(html_dir):
    offsite = {}
    for css in (html_dir / "_static").rglob("*.css"):
        found = CSS_URL.findall(css.read_text(encoding="utf-8", errors="replace"))
        if found:
            offsite[css.relative_to(html_dir).as_posix()] = found
    assert offsite == {}


def test_mathjax_is_served_from_the_site(html_dir):
    # book/intro.md has math, so its page must load MathJax, from _static.
    path, soup = page(html_dir, "book/intro")
    srcs = [s["src"] for s in soup.find_all("script", src=True) if "mathjax" in s["src"].lower()]
    assert srcs, "the intro page has math but loads no MathJax"
    for src in srcs:
        assert not OFFSITE.match(src), src
        target = (path.parent / urlsplit(src).path).resolve()
        assert target.is_file() and target.stat().st_size > 0, f"missing {src}"


@pytest.mark.parametrize("doc", DOCS)
def test_cell_outputs_have_no_errors_or_warnings(html_dir, doc):
    _, soup = page(html_dir, doc)
    stderr = soup.select(".output.stderr, .output.traceback, .output.error")
    assert stderr == [], f"{doc}: stderr/traceback outputs: {[s.get_text()[:200] for s in stderr]}"
    bad = [
        m.group(0)
        for out in soup.select(".cell_output")
        for m in BAD_OUTPUT.finditer(out.get_text())
    ]
    assert bad == [], f"{doc}: cell outputs show {bad}"


# Pages built from notebooks: the chapters and the appendices written as notebooks
# (book/engine.ipynb). They are executed in the build and read in one sitting, like chapters.
NOTEBOOK_PAGES = [d for d in DOCS if (ROOT / f"{d}.ipynb").is_file()]


def test_notebook_pages_have_outputs(html_dir):
    # The notebooks were executed during the build (they are committed without outputs).
    assert "book/engine" in NOTEBOOK_PAGES
    for doc in NOTEBOOK_PAGES:
        _, soup = page(html_dir, doc)
        assert soup.select(".cell_output"), f"{doc}: no executed outputs"


def search_index(html_dir: Path) -> dict:
    text = (html_dir / "searchindex.js").read_text(encoding="utf-8")
    assert text.startswith("Search.setIndex(") and text.rstrip().endswith(")")
    return json.loads(text[len("Search.setIndex(") : text.rstrip().rindex(")")])


def pages_found(index: dict, query: str) -> set[str]:
    """What the browser's search finds for `query`: pages that contain every query term.

    Same rule as searchtools.js, with the splitter that book/_ext/ja_search.py gives it.
    """
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        from ja_search import split_japanese
    finally:
        sys.path.pop(0)
    found = None
    for term in {w.lower() for w in split_japanese(query)}:
        files = set()
        for table in (index["terms"], index["titleterms"]):
            hit = table.get(term, [])
            files |= {hit} if isinstance(hit, int) else set(hit)
        found = files if found is None else found & files
    return {index["docnames"][i] for i in found or ()}


def test_search_finds_japanese_words(html_dir):
    index = search_index(html_dir)
    language_data = (html_dir / "_static" / "language_data.js").read_text(encoding="utf-8")
    assert "function splitQuery" in language_data, "the Japanese query splitter is not shipped"
    assert "book/intro" in pages_found(index, "再構成誤差")
    assert "book/intro" in pages_found(index, "異常度")
    assert "notebooks/00_introduction" in pages_found(index, "前提知識")
    assert "notebooks/03_tuning" in pages_found(index, "閾値")
    assert pages_found(index, "存在しない語") == set()


# A chapter (or a notebook appendix) is read in one sitting: under about 25,000 non-space
# characters (prose, code and outputs as the reader sees them) and at most 10 figures.
# Plotting code folded behind hide-input is not read unless the reader unfolds it, so it is
# not counted.
MAX_CHARACTERS = 25_000
MAX_FIGURES = 10


def chapter_size(soup: BeautifulSoup) -> tuple[int, int]:
    """(non-space characters, figures) of a chapter page's main text."""
    article = soup.select_one("article.bd-article") or soup.body
    folded = ".tag_hide-input .cell_input"
    for hidden in article.select(f"script, style, .headerlink, .copybtn, .toggle-button, {folded}"):
        hidden.decompose()
    characters = len(re.sub(r"\s", "", article.get_text()))
    figures = len(article.select("figure, div.figure"))
    return characters, figures


@pytest.mark.parametrize("doc", NOTEBOOK_PAGES)
def test_chapter_fits_the_size_budget(html_dir, doc):
    _, soup = page(html_dir, doc)
    characters, figures = chapter_size(soup)
    assert characters <= MAX_CHARACTERS, f"{doc}: {characters:,} characters (budget {MAX_CHARACTERS:,})"
    assert figures <= MAX_FIGURES, f"{doc}: {figures} figures (budget {MAX_FIGURES})"


@pytest.mark.parametrize("doc", DOCS)
def test_no_markup_left_visible(html_dir, doc):
    # bold that CommonMark did not parse (e.g. ** next to Japanese punctuation) shows as "**"
    _, soup = page(html_dir, doc)
    article = soup.select_one("article.bd-article") or soup.body
    # (dt.sig and field-list names are API signatures: **kwargs is a parameter, not markup)
    for code in article.select(
        "pre, code, .cell_input, .cell_output, script, style, dt.sig, dl.field-list strong"
    ):
        code.decompose()
    text = article.get_text()
    for marker in ("**", "{glue", "{numref}", "{doc}", "{cite}"):
        at = text.find(marker)
        assert at < 0, f"{doc}: {marker!r} visible: …{text[max(0, at - 30):at + 30]}…"


@pytest.mark.parametrize("doc", NOTEBOOK_PAGES)
def test_glued_numbers_are_pasted(html_dir, doc):
    # every {glue:text} of the source became text in the page
    source = json.loads((ROOT / f"{doc}.ipynb").read_text(encoding="utf-8"))
    quoted = sum(
        len(re.findall(r"\{glue(?::\w+)?\}`", "".join(c["source"])))
        for c in source["cells"] if c["cell_type"] == "markdown"
    )
    _, soup = page(html_dir, doc)
    pasted = soup.select(".pasted-text, .pasted-inline")
    assert len(pasted) >= quoted, f"{doc}: {quoted} glued in the source, {len(pasted)} in the page"


def test_figure_references_give_the_number_in_the_figures_caption(html_dir):
    # book/_ext/numref_cache.py resolves {numref} from cached doctrees: the numbers must be
    # those Sphinx gives the figures, and every reference must point at a numbered figure
    checked = 0
    for doc in DOCS:
        path, soup = page(html_dir, doc)
        for span in soup.select("a.reference span.std-numref"):
            link = urlsplit(span.find_parent("a")["href"])
            target_path = (path.parent / unquote(link.path)).resolve() if link.path else path
            target = page(html_dir, target_path.relative_to(html_dir).with_suffix("")
                          .as_posix())[1].find(id=link.fragment)
            assert target is not None and target.name == "figure", (doc, link.geturl())
            caption = target.find("span", class_="caption-number").get_text().strip()
            assert span.get_text().strip() == caption, (doc, link.geturl())
            checked += 1
    assert checked >= 50  # the chapters refer to their figures by number


def test_api_page_links_to_highlighted_source(html_dir):
    _, soup = page(html_dir, "book/api")
    links = {a["href"] for a in soup.select("a.reference.internal") if "_modules/" in a.get("href", "")}
    assert len(links) >= 10, "the API page should link every function to its source (viewcode)"
    for href in links:
        target = (html_dir / "book" / urlsplit(href).path).resolve()
        assert target.is_file(), href
        assert "highlight" in target.read_text(encoding="utf-8"), f"{href} is not highlighted source"


# The Sphinx build reads aeutil.model and aeutil.kerastrain with aeutil._keras mocked (no
# TensorFlow in the build process, book/_config.yml): their names must still be documented
# with their own docstrings, and the two Keras layers must keep their [ソース] links
# (book/_ext/mocked_source.py).
KERAS_BACKED = (
    "aeutil.model.Standardize",
    "aeutil.model.ReconstructionError",
    "aeutil.model.build_autoencoder",
    "aeutil.kerastrain.train_autoencoder",
    "aeutil.kerastrain.reconstruction_error",
)


@pytest.mark.parametrize("name", KERAS_BACKED)
def test_api_page_documents_the_keras_backed_names(html_dir, name):
    _, soup = page(html_dir, "book/api")
    signature = soup.find(id=name)
    assert signature is not None, f"{name} is not documented on the API page"
    module, _, attribute = name.rpartition(".")
    first_line = inspect.getdoc(getattr(importlib.import_module(module), attribute))
    first_line = first_line.splitlines()[0].replace("``", "")
    body = signature.find_next_sibling("dd")
    assert body is not None and first_line[:20] in body.get_text(), name
    source = [a for a in signature.select("a") if "_modules/" in a.get("href", "")]
    assert source, f"{name} has no [ソース] link"


# Every figure says what it shows to a reader who cannot see it (a screen reader, an image that
# did not load): the notebooks set a Japanese alt text per figure cell (metadata
# mystnb.image.alt). Without one, myst-nb's <img> carries the file's path as its alt text,
# e.g. "../_images/fe124f64…c3eba5fe.png".
JA_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
FILE_NAME = re.compile(r"\.(png|jpe?g|gif|svg|webp|pdf)\b|_images/|[0-9a-f]{16,}", re.IGNORECASE)
MIN_ALT_CHARACTERS = 20


def figure_images(soup: BeautifulSoup) -> list:
    article = soup.select_one("article.bd-article")
    assert article is not None, "no <article class='bd-article'> in the page"
    return article.find_all("img")


def figure_cells(doc: str) -> list[dict]:
    source = json.loads((ROOT / f"{doc}.ipynb").read_text(encoding="utf-8"))
    return [
        c for c in source["cells"]
        if c["cell_type"] == "code" and "figure" in c["metadata"].get("mystnb", {})
    ]


def test_alt_text_rules_catch_file_names():
    assert FILE_NAME.search("../_images/fe124f6468729b1ecc8202fe0b678d2eafb582f52ec6d61b.png")
    assert FILE_NAME.search("fe124f6468729b1ecc8202fe0b678d2e")
    assert not FILE_NAME.search("学習データ (緑) とテストデータ (赤) の散布図。ROC-AUC は 8-4-8 で")


@pytest.mark.parametrize("doc", DOCS)
def test_images_have_japanese_alt_text(html_dir, doc):
    """どの図にも、何を示すかを日本語で書いた代替テキストがある (ファイル名やハッシュではない)。"""
    _, soup = page(html_dir, doc)
    for img in figure_images(soup):
        src = img.get("src", "")
        alt = (img.get("alt") or "").strip()
        assert alt, f"{doc}: <img src={src!r}> has no alt text"
        assert not FILE_NAME.search(alt), f"{doc}: the alt text of {src} is a file name: {alt!r}"
        assert alt != src and alt != src.rsplit("/", 1)[-1], f"{doc}: alt = src ({src})"
        assert JA_CHAR.search(alt), f"{doc}: the alt text of {src} is not Japanese: {alt!r}"
        assert len(alt) >= MIN_ALT_CHARACTERS, f"{doc}: alt text too short to say what {src} shows: {alt!r}"
        figure = img.find_parent("figure")
        caption = figure.select_one("figcaption .caption-text") if figure else None
        if caption is not None:
            # The caption is read right after the image: the alt text describes the picture,
            # it does not repeat the caption.
            assert alt != caption.get_text().strip(), f"{doc}: the alt text of {src} repeats its caption"


@pytest.mark.parametrize("doc", NOTEBOOK_PAGES)
def test_every_figure_cell_gives_its_image_an_alt_text(html_dir, doc):
    """図のセルはすべて mystnb.image.alt を持ち、それがページの <img> の alt になっている。"""
    cells = figure_cells(doc)
    alts = [c["metadata"]["mystnb"].get("image", {}).get("alt", "") for c in cells]
    missing = [c["metadata"]["mystnb"]["figure"]["name"] for c, a in zip(cells, alts, strict=True) if not a.strip()]
    assert missing == [], f"{doc}: figure cells without mystnb.image.alt: {missing}"
    _, soup = page(html_dir, doc)
    in_page = [(img.get("alt") or "").strip() for img in figure_images(soup)]
    assert sorted(in_page) == sorted(a.strip() for a in alts), (
        f"{doc}: {len(cells)} figure cells, {len(in_page)} images; their alt texts differ"
    )


def test_figures_have_alt_texts_of_their_own():
    """図ごとに別の代替テキスト (コピーしたままの説明がない)。本の章には図が少なくとも 1 つある。"""
    alts = [
        c["metadata"]["mystnb"].get("image", {}).get("alt", "").strip()
        for doc in NOTEBOOK_PAGES for c in figure_cells(doc)
    ]
    assert alts, "the book has no figure cells"
    repeated = sorted({a for a in alts if alts.count(a) > 1})
    assert repeated == [], f"the same alt text on several figures: {repeated}"
