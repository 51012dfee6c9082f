"""The prose cannot contradict its outputs, and the book speaks with one voice.

Checked on the sources (the notebooks, chapters and notebook appendices, and book/*.md),
before the build:

- result-like numbers (decimals, percentages, numbers with thousands separators) are not typed
  into markdown cells: they are glued from the cell that computed them (``{glue:text}``);
- every chapter that reports results glues numbers and asserts its claims in hidden cells
  (tag ``remove-cell``) with a Japanese message;
- every glued key quoted in the text is glued in the same notebook;
- the retired variants of the book's terms do not come back (one word per idea, as in the
  glossary), bold markup has no space around it, and notebook code comments are Japanese;
- chapters keep at most one pointer to the source article (the comparisons live in the
  appendix ``book/article_differences.md``).
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import pytest
from booktoc import book_documents

ROOT = Path(__file__).resolve().parents[1]
DOCS = book_documents()


def _source(doc: str) -> Path:
    """The source of a toc entry: its notebook if it has one, else its Markdown page."""
    notebook = ROOT / f"{doc}.ipynb"
    return notebook if notebook.is_file() else ROOT / f"{doc}.md"


# Every notebook of the book is checked like a chapter: the chapters in notebooks/ and the
# appendices written as notebooks in book/ (book/engine.ipynb); the Markdown pages of book/
# by the term checks.
NOTEBOOKS = [_source(d) for d in DOCS if _source(d).suffix == ".ipynb"]
BOOK_PAGES = [_source(d) for d in DOCS if _source(d).suffix == ".md"]
# Chapters that only orient the reader and compute nothing they quote.
NO_RESULTS = {"00_introduction"}
# The appendix that exists to compare the book with the article.
ARTICLE_APPENDIX = "article_differences"

JA = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
JA_CHAR = re.compile(f"[{JA}]")

# Constants a reader sets or a convention names, not results: a short allow-list.
ALLOWED_NUMBERS = {
    "0.001", "0.01", "0.05", "0.1", "0.2", "0.3", "0.5", "1.0", "1.5", "2.0",
    "3.11", "3.12", "3.13", "3.14", "2.21",
    "1%", "5%", "10%", "50%", "95%", "99%", "99.9%", "0.1%",
    "0.13%", "99.7%", "97.5", "3.10",
    "1,000", "10,000", "100,000", "1,000,000",
}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def _markdown(path: Path) -> str:
    return "\n".join(_src(c) for c in _cells(path) if c["cell_type"] == "markdown")


def _captions(path: Path) -> str:
    out = []
    for c in _cells(path):
        fig = c.get("metadata", {}).get("mystnb", {}).get("figure", {})
        out.append(fig.get("caption", ""))
    return "\n".join(out)


def _comments(code: str) -> list[str]:
    """The ``#`` comments of a code cell (IPython magics and shell lines removed first)."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines()]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    return [t.string for t in tokens if t.type == tokenize.COMMENT]


def _prose_only(text: str) -> str:
    """Markdown without what is not prose: fenced blocks, math, code spans, roles, links."""
    # code blocks go; directive blocks (```{glossary}, :::{dropdown}) hold prose and stay
    text = re.sub(r"^(```|~~~)(?!\{).*?^\1", " ", text, flags=re.S | re.M)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", " ", text)
    text = re.sub(r"\{[a-z:-]+\}`[^`]*`", " ", text)  # {glue:text}`k:.3f`, {numref}`...`
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    return text


NUMBER = re.compile(
    r"(?<![\w.,])("
    r"\d+(?:\.\d+){2,}"                  # version-like: 3.11.2 (ignored)
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?%?"   # 26,304
    r"|\d+\.\d+\s*%?"                    # 0.982, 7.9%
    r"|\d+\s*%"                          # 15%
    r")(?![\w.])"
)


def typed_numbers(markdown: str) -> list[str]:
    """Result-like numbers typed into markdown (outside code, math, roles and links)."""
    found = []
    for match in NUMBER.finditer(_prose_only(markdown)):
        token = match.group(1).replace(" ", "")
        if token.count(".") >= 2 or token in ALLOWED_NUMBERS:
            continue
        found.append(token)
    return found


def test_typed_numbers_finds_results_and_spares_constants():
    text = (
        "ROC-AUC は 0.982、誤検知率は 7.9%、26,304 行を計算しました。\n"
        "学習率 0.001、95 パーセンタイル、99.9%、Python 3.11.2、`scale=0.37`、$p = 0.25$、"
        "{glue:text}`auc:.3f`、[図](https://example.com/0.75) は除きます。\n"
        "```python\nx = 0.123\n```\n"
    )
    assert typed_numbers(text) == ["0.982", "7.9%", "26,304"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_result_numbers_typed_into_markdown(path):
    found = typed_numbers(_markdown(path))
    assert not found, (
        f"{path.name}: numbers typed into the prose: {found}. Glue them from the cell that "
        "computes them ({glue:text}`key:fmt`), or put a parameter in a code span."
    )


def _glued_keys(path: Path) -> set[str]:
    code = "\n".join(_src(c) for c in _cells(path) if c["cell_type"] == "code")
    return set(re.findall(r"""\bglue\(\s*(?:f?["'])([^"']+)["']""", code))


def _quoted_keys(path: Path) -> list[str]:
    keys = re.findall(r"\{glue(?::\w+)?\}`([^`]+)`", _markdown(path))
    # "doc::key:fmt" -> "key"
    return [k.split("::")[-1].split(":")[0] for k in keys]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_glues_its_numbers_and_asserts_its_claims(path):
    if path.stem in NO_RESULTS:
        return
    quoted = _quoted_keys(path)
    assert quoted, f"{path.name}: no number in the text is glued from the outputs"
    missing = sorted(set(quoted) - _glued_keys(path))
    assert not missing, f"{path.name}: glued keys quoted but never glued: {missing}"
    hidden = [
        c for c in _cells(path)
        if c["cell_type"] == "code" and "remove-cell" in c["metadata"].get("tags", [])
        and re.search(r"^\s*assert\b", _src(c), flags=re.M)
    ]
    assert hidden, f"{path.name}: no claim is asserted in a hidden (remove-cell) cell"
    for cell in hidden:
        messages = re.findall(r"""["']([^"']*)["']""", _src(cell))
        assert any(JA_CHAR.search(m) for m in messages), (
            f"{path.name}: a hidden assert without a Japanese message:\n{_src(cell)}"
        )


# Retired variant -> the word the book uses (book/glossary.md).
RETIRED = {
    r"採点": "異常度の計算 / 判定",
    r"(?<!z )(?<!F1 )(?<!F1)(?<!Z )スコア": "異常度 (z スコア と F1 スコア だけは残す)",
    r"ずらし幅": "ストライド",
    r"当てずっぽう": "でたらめ",
    r"(?<![出初改再第\d])版(?![元社])": "バージョン",
    r"％": "半角の %",
    r"(?<![\d.])\d+次元": "「1 次元」(数字と漢字の間に半角スペース)",
    r"包み紙": "ラッパー",
    r"率直に言うと": "実務上の注意",
    r"第\s*\d+\s*章": "章のタイトルへのリンク ({doc})",
}
# A space between Japanese text and bold Japanese text shows as a visible gap
# (「閾値が **学習データ** の」); around a bold Latin word it is the book's usual spacing.
BOLD_SPACE = re.compile(
    f"[{JA}、。）」][ \\t]+\\*\\*[{JA}「（][^*\\n]*\\*\\*"
    f"|\\*\\*[^*\\n]*[{JA}」）]\\*\\*[ \\t]+[{JA}、。（「]"
)


def retired_terms(text: str) -> list[str]:
    found = []
    for pattern, use in RETIRED.items():
        for m in re.finditer(pattern, text):
            found.append(f"{m.group(0)!r} → {use}: …{text[max(0, m.start() - 12):m.end() + 12]}…")
    for m in BOLD_SPACE.finditer(text):
        found.append(f"space around bold: …{m.group(0)}…")
    return found


def test_retired_terms_are_found():
    text = "26,304 行の採点、異常スコア、ずらし幅、**学習データ** の、版、1次元、5％"
    assert len(retired_terms(text)) == 7
    ok = "z スコア、F1 スコア、出版、第2版、1 次元、5%、閾値が**学習データ**の、した **Adam** は"
    assert retired_terms(ok) == []


@pytest.mark.parametrize("path", NOTEBOOKS + BOOK_PAGES, ids=lambda p: p.stem)
def test_one_word_per_idea(path):
    if path.suffix == ".ipynb":
        code = [_src(c) for c in _cells(path) if c["cell_type"] == "code"]
        text = "\n".join([_markdown(path), _captions(path)] + [
            comment for cell in code for comment in _comments(cell)
        ])
    else:
        text = path.read_text(encoding="utf-8")
        if path.stem == "bibliography":
            return
    text = _prose_only(text) if path.suffix == ".md" else text
    found = retired_terms(text)
    assert not found, f"{path.name}:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_comments_are_japanese(path):
    english = []
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        for comment in _comments(_src(cell)):
            body = comment.lstrip("#").strip()
            if not body or body.startswith(("noqa", "type:", "fmt:")):
                continue
            if not JA_CHAR.search(body):
                english.append(comment)
    assert not english, f"{path.name}: comments not in Japanese: {english}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_point_to_the_article_at_most_once(path):
    count = "\n".join(_src(c) for c in _cells(path)).count("元の記事")
    assert count <= 1, (
        f"{path.name}: 「元の記事」 {count} times; comparisons with the article belong in "
        f"book/{ARTICLE_APPENDIX}.md (a chapter keeps at most a one-line pointer)"
    )


def test_article_differences_appendix_is_in_the_book():
    assert f"book/{ARTICLE_APPENDIX}" in DOCS
    text = (ROOT / "book" / f"{ARTICLE_APPENDIX}.md").read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("|"))
    for column in ("項目", "元の記事", "本書", "理由", "章"):
        assert column in header
    assert "{doc}" in text
