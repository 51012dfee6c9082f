"""Japanese full-text search that works in the browser.

Sphinx's own Japanese search splits the text into words with TinySegmenter when it builds
the index, but the browser does not split the query at all (sphinx-doc/sphinx#5318) and the
index drops one-character words. So a search for a compound word such as 再構成誤差 (indexed
as 再構 / 成誤, "差" dropped) finds nothing.

This extension indexes runs of Japanese characters as overlapping character bigrams
(再構成誤差 -> 再構 構成 成誤 誤差) and gives the browser the same splitter, so a query
matches every page that contains all of its bigrams. Other text (latin words, numbers) is
indexed word by word, as usual. A one-character query finds nothing (too unspecific anyway).
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx
from sphinx.search import languages
from sphinx.search.ja import SearchJapanese

# Hiragana, katakana (incl. ー), CJK ideographs (+ extension A, compatibility), 々 〆,
# half-width katakana.
_CJK = "\u3005\u3006\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_WORD = re.compile(r"\w+")
_RUN = re.compile(f"[{_CJK}]+|[^{_CJK}]+")
_IS_CJK = re.compile(f"[{_CJK}]")

# The same splitting in the browser (replaces searchtools.js' default splitQuery).
_JS_SPLITTER = r"""
function splitQuery(query) {
  const cjk = "@CJK@";
  const isCjk = new RegExp("[" + cjk + "]", "u");
  const run = new RegExp("[" + cjk + "]+|[^" + cjk + "]+", "gu");
  const words = [];
  query.split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu).forEach((piece) => {
    (piece.match(run) || []).forEach((part) => {
      if (isCjk.test(part) && part.length > 1) {
        for (let i = 0; i + 2 <= part.length; i++) words.push(part.slice(i, i + 2));
      } else if (part) {
        words.push(part);
      }
    });
  });
  return words;
}
""".replace("@CJK@", _CJK.encode("unicode_escape").decode("ascii").replace("\\", "\\\\"))


def split_japanese(text: str) -> list[str]:
    """Split text into search terms: bigrams for Japanese runs, whole words otherwise."""
    words: list[str] = []
    for piece in _WORD.findall(text):
        for part in _RUN.findall(piece):
            if _IS_CJK.match(part) and len(part) > 1:
                words += [part[i : i + 2] for i in range(len(part) - 1)]
            else:
                words.append(part)
    return words


class BigramSearchJapanese(SearchJapanese):
    js_splitter_code = _JS_SPLITTER

    def init(self, options: dict[str, str]) -> None:
        pass  # no TinySegmenter needed

    def split(self, input: str) -> list[str]:
        return split_japanese(input)


def setup(app: Sphinx) -> dict[str, object]:
    languages["ja"] = BigramSearchJapanese
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
