"""Fold the exercise solutions: every notebook cell tagged ``solution`` goes into a dropdown.

The chapters mark their solutions with one cell tag, ``solution`` (Markdown and code cells
alike; ``tools/student.py`` removes the same cells from the participants' notebooks). The book
folds them here, so that a solution on the screen of a class is not seen before it is opened:

- A solution begins with a Markdown cell whose first line is ``**解答例 (演習 N)**``; that
  line becomes the dropdown's title. The cells tagged ``solution`` that follow it without a
  break (prose, code with its output, hidden ``remove-cell`` checks) go into the same
  dropdown.
- A solution cell may not hold a heading (a heading would start a section inside the fold),
  and a solution must start with its title line: both are build warnings, which the strict
  build turns into errors.

How: myst-nb renders a Markdown cell straight into the page, without a node of its own (see
``render_nb_cell_markdown`` in myst_nb/core/render.py), so the cell's tags are lost once it
is parsed. The two cell renderers are wrapped here to put an invisible marker before and after
each cell tagged ``solution``; a transform then moves what lies between the markers into a
``solution_fold`` node. In HTML the fold is written with sphinx-design's dropdown classes, so
it looks like the other dropdowns of the book; the PDF (printed from the single-page HTML)
opens every ``<details>`` before printing.
"""

from __future__ import annotations

import html
import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

TAG = "solution"
TITLE = re.compile(r"解答例 \(演習 \d+\)")

# sphinx-design's chevron (the same markup as its own dropdowns)
CHEVRON = (
    '<span class="sd-summary-state-marker sd-summary-chevron-right"><svg version="1.1" '
    'width="1.5em" height="1.5em" class="sd-octicon sd-octicon-chevron-right" '
    'viewBox="0 0 24 24" aria-hidden="true"><path d="M8.72 18.78a.75.75 0 0 1 0-1.06L14.44 '
    "12 8.72 6.28a.751.751 0 0 1 .018-1.042.751.751 0 0 1 1.042-.018l6.25 6.25a.75.75 0 0 1 "
    '0 1.06l-6.25 6.25a.75.75 0 0 1-1.06 0Z"></path></svg></span>'
)


class solution_marker(nodes.Element, nodes.Invisible):
    """Start (``edge="start"``) or end of one solution cell; removed by the transform."""


class solution_fold(nodes.General, nodes.Element):
    """One exercise's solution, folded (``title``: 解答例 (演習 N))."""


def visit_fold_html(self: Any, node: solution_fold) -> None:
    self.body.append('<details class="sd-sphinx-override sd-dropdown sd-card sd-mb-3 solution">\n')
    self.body.append('<summary class="sd-summary-title sd-card-header">\n')
    self.body.append(f'<span class="sd-summary-text">{html.escape(node["title"])}</span>')
    self.body.append(f"{CHEVRON}</summary>")
    self.body.append('<div class="sd-summary-content sd-card-body docutils">\n')


def depart_fold_html(self: Any, node: solution_fold) -> None:
    self.body.append("</div>\n</details>\n")


def _pass(self: Any, node: nodes.Node) -> None:
    pass


def _wrap(render):
    """A cell renderer that puts markers around the cells tagged ``solution``."""

    def wrapped(self, token) -> None:
        if TAG not in token.meta["metadata"].get("tags", []):
            return render(self, token)
        cell = token.meta["index"]
        self.current_node.append(solution_marker(edge="start", cell=cell))
        render(self, token)
        self.current_node.append(solution_marker(edge="end", cell=cell))

    wrapped.__wrapped__ = render
    return wrapped


def _install_markers() -> None:
    from myst_nb.core.render import MditRenderMixin

    for name in ("render_nb_cell_markdown", "render_nb_cell_code"):
        render = getattr(MditRenderMixin, name, None)
        if render is None:
            raise ExtensionError(f"myst-nb has no {name}: book/_ext/solutions.py needs updating")
        if not hasattr(render, "__wrapped__"):
            setattr(MditRenderMixin, name, _wrap(render))


class FoldSolutions(SphinxTransform):
    """Move each run of solution cells into one ``solution_fold`` titled by its first line."""

    default_priority = 500

    def apply(self, **kwargs: Any) -> None:
        markers = list(self.document.findall(solution_marker))
        fold: solution_fold | None = None
        i = 0
        while i < len(markers):
            start, end = markers[i], markers[i + 1]
            i += 2
            parent = start.parent
            if end["edge"] != "end" or end.parent is not parent:
                logger.warning(
                    "解答例のセル (セル %s) に見出しがあります。解答例は見出しを持てません",
                    start["cell"], location=start, type="solutions", subtype="heading",
                )
                for marker in (start, end):
                    marker.parent.remove(marker)
                fold = None
                continue
            first, last = parent.index(start), parent.index(end)
            content = parent.children[first + 1 : last]
            continues = fold is not None and fold.parent is parent and first > 0 and (
                parent.children[first - 1] is fold
            )
            title = self._title(content)
            if title is not None or not continues:
                if title is None:
                    logger.warning(
                        "解答例 (セル %s) が「**解答例 (演習 N)**」の行で始まっていません",
                        start["cell"], location=start, type="solutions", subtype="title",
                    )
                    title = "解答例"
                else:
                    content = content[1:]
                fold = solution_fold(title=title)
                fold.source, fold.line = start.source, start.line
                parent.children[first:last + 1] = [fold]
                fold.parent = parent
            else:
                del parent.children[first:last + 1]
            for node in content:
                fold.append(node)

    @staticmethod
    def _title(content: list[nodes.Node]) -> str | None:
        """The title line (a paragraph of one bold 解答例 (演習 N)), or None."""
        if not content or not isinstance(content[0], nodes.paragraph):
            return None
        # myst leaves empty text nodes around the bold part
        parts = [n for n in content[0].children
                 if not (isinstance(n, nodes.Text) and not n.astext().strip())]
        if len(parts) != 1 or not isinstance(parts[0], nodes.strong):
            return None
        paragraph = parts[0]
        text = paragraph.astext().strip()
        return text if TITLE.fullmatch(text) else None


def setup(app: Sphinx) -> dict[str, Any]:
    _install_markers()
    app.add_node(solution_marker)
    app.add_node(
        solution_fold,
        html=(visit_fold_html, depart_fold_html),
        latex=(_pass, _pass),
        text=(_pass, _pass),
        man=(_pass, _pass),
        texinfo=(_pass, _pass),
    )
    app.add_transform(FoldSolutions)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
