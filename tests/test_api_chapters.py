"""Which chapter introduces which aeutil name: one table, on the API page, checked here.

The table 「章ごとに初めて登場する名前」 in book/api.md lists, for each chapter, the public
names of ``aeutil`` (``aeutil.__all__``) and the ``aeutil.cli`` command that the chapter is the
first to use. This test recomputes it from the notebooks' code, so a chapter that starts (or
stops) using a name cannot leave the table wrong; on failure it prints the table to paste.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import aeutil

from booktoc import book_documents

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "book" / "api.md"
HEADING = "## 章ごとに初めて登場する名前"
NAMES = sorted(set(aeutil.__all__) | {"cli"})


def _chapters() -> list[str]:
    return [d.split("/")[1] for d in book_documents() if d.startswith("notebooks/")]


def _code(chapter: str) -> str:
    cells = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in cells["cells"] if c["cell_type"] == "code")


def uses(code: str, name: str) -> bool:
    """Whether notebook code uses ``aeutil.<name>`` or imports the name from aeutil."""
    if re.search(rf"\baeutil(?:\.\w+)*\.{re.escape(name)}\b", code):
        return True
    imports = re.findall(r"from aeutil(?:\.\w+)* import (?:\(([^)]*)\)|([^\n]+))", code)
    for imported in ("".join(parts).replace("\n", " ") for parts in imports):
        if name in {part.strip().split(" as ")[0] for part in imported.split(",")}:
            return True
    return False


def first_uses() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    seen: set[str] = set()
    for chapter in _chapters():
        code = _code(chapter)
        new = [n for n in NAMES if n not in seen and uses(code, n)]
        seen.update(new)
        if new:
            table[chapter] = new
    return table


def render(table: dict[str, list[str]]) -> str:
    lines = ["| 章 | 初めて登場する名前 |", "|---|---|"]
    for chapter, names in table.items():
        shown = "、".join(f"`{n}`" for n in names)
        lines.append(f"| {{doc}}`../notebooks/{chapter}` | {shown} |")
    return "\n".join(lines)


def documented() -> dict[str, list[str]]:
    text = API.read_text(encoding="utf-8")
    assert HEADING in text, f"book/api.md has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1]
    table = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*\{doc\}`\.\./notebooks/(\w+)`\s*\|(.*)\|\s*$", line)
        if m:
            table[m.group(1)] = re.findall(r"`([^`]+)`", m.group(2))
    return table


def test_uses_recognises_both_styles():
    assert uses("x = aeutil.make_three_clusters(seed=0)", "make_three_clusters")
    assert uses("from aeutil.evaluation import evaluate, plot_roc_pr", "plot_roc_pr")
    assert uses("from aeutil.thresholds import (\n    threshold_best_f1,\n)", "threshold_best_f1")
    assert uses("aeutil.timeseries.simulate_machine(seed=0)", "simulate_machine")
    assert not uses("aeutil.make_three_clusters_2()", "make_three_clusters")
    assert not uses("evaluate(x)", "evaluate")


def test_api_page_table_matches_the_notebooks():
    expected = first_uses()
    assert documented() == expected, "book/api.md is out of date; the table is:\n\n" + render(expected)


def test_every_name_listed_is_used_in_its_chapter():
    for chapter, names in documented().items():
        code = _code(chapter)
        for name in names:
            assert uses(code, name), f"{chapter}: {name} is listed but not used"
