"""The exercise solutions are folded in the built book, one dropdown per exercise.

The chapters tag their solution cells ``solution`` (tools/student.py removes the same cells
from the participants' notebooks); book/_ext/solutions.py folds them. Read from the built
HTML, so a change in myst-nb's rendering that breaks the folding fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from booktoc import book_documents
from bs4 import BeautifulSoup

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
CHAPTERS = [doc for doc in book_documents() if doc.startswith("notebooks/")]


def exercise_section(doc: str):
    path = HTML / f"{doc}.html"
    if not path.is_file():
        pytest.fail(f"{path} is not built: run `make book` (or `make test`) first", False)
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    heading = soup.select("article.bd-article section > h2")[-1]
    assert heading.get_text().strip().rstrip("#").strip().endswith("演習"), doc
    return heading.parent


def task_numbers(section) -> list[int]:
    """The numbers of the exercises as the reader sees them (ordered lists outside folds)."""
    numbers = []
    for ol in section.find_all("ol", recursive=False):
        start = int(ol.get("start", 1))
        numbers += range(start, start + len(ol.find_all("li", recursive=False)))
    return numbers


def solution_cells(doc: str) -> tuple[int, int]:
    """(solution cells, of which code cells shown in the book) of a chapter's notebook."""
    cells = json.loads((ROOT / f"{doc}.ipynb").read_text(encoding="utf-8"))["cells"]
    tagged = [c for c in cells if "solution" in c["metadata"].get("tags", [])]
    shown = [c for c in tagged if c["cell_type"] == "code"
             and "remove-cell" not in c["metadata"].get("tags", [])]
    return len(tagged), len(shown)


@pytest.mark.parametrize("doc", CHAPTERS)
def test_one_fold_per_exercise_titled_with_its_number(doc):
    section = exercise_section(doc)
    numbers = task_numbers(section)
    assert numbers == list(range(1, len(numbers) + 1)) and numbers, doc
    folds = section.find_all("details", class_="solution", recursive=False)
    titles = [f.select_one("summary .sd-summary-text").get_text(strip=True) for f in folds]
    assert titles == [f"解答例 (演習 {n})" for n in numbers]


@pytest.mark.parametrize("doc", CHAPTERS)
def test_nothing_of_a_solution_shows_unfolded(doc):
    """Outside the folds the exercise section holds only its heading and the task lists: every
    code cell (and so every output) and every solution paragraph is inside a fold."""
    section = exercise_section(doc)
    outside = [child.name for child in section.find_all(True, recursive=False)
               if child.name not in ("h2", "ol")
               and not (child.name == "details" and "solution" in child.get("class", []))]
    assert outside == [], f"{doc}: shown unfolded in the exercises: {outside}"
    total, shown_code = solution_cells(doc)
    assert total > 0
    cells = section.select("div.cell")
    assert len(cells) == shown_code
    assert all(cell.find_parent("details", class_="solution") for cell in cells)
