"""Every chapter follows the book's skeleton and house rules (checked on the sources)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _toc_notebooks(folder: str) -> list[Path]:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8"))
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    paths = [ROOT / f"{f}.ipynb" for f in files if f.startswith(f"{folder}/")]
    return [p for p in paths if p.is_file()]


NOTEBOOKS = _toc_notebooks("notebooks")
# Appendices written as notebooks (book/engine.ipynb): executed in every build like the
# chapters and held to the same rules for code, but without the chapter skeleton.
APPENDIX_NOTEBOOKS = _toc_notebooks("book")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def test_every_notebook_in_the_folder_is_in_the_toc():
    on_disk = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert on_disk == sorted(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_file_name_carries_its_number(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name)


def test_chapter_numbers_follow_the_toc_order():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(len(NOTEBOOKS)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_skeleton(path):
    cells = _cells(path)
    first = _src(cells[0])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# ")
    assert not re.match(r"# 第\d+章", first), "the toc numbers chapters; titles carry no 第N章"
    headings = [
        line[3:].strip()
        for c in cells
        if c["cell_type"] == "markdown"
        for line in _src(c).splitlines()
        if line.startswith("## ")
    ]
    assert headings[0] == "学習目標"
    assert "まとめ" in headings and "演習" in headings
    assert headings.index("まとめ") < headings.index("演習") == len(headings) - 1
    # the setup cell is the first code cell, after the learning goals
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    goals = next(i for i, c in enumerate(cells) if "## 学習目標" in _src(c))
    assert goals < first_code
    assert "import aeutil" in _src(cells[first_code])


@pytest.mark.parametrize("path", NOTEBOOKS + APPENDIX_NOTEBOOKS, ids=lambda p: p.stem)
def test_aeutil_is_imported_before_tensorflow(path):
    code = "\n".join(_src(c) for c in _cells(path) if c["cell_type"] == "code")
    aeutil_at = code.find("import aeutil")
    for name in ("import keras", "import tensorflow", "from keras", "from tensorflow"):
        at = code.find(name)
        assert at == -1 or aeutil_at < at, f"{name} before import aeutil"


@pytest.mark.parametrize("path", NOTEBOOKS + APPENDIX_NOTEBOOKS, ids=lambda p: p.stem)
def test_house_rules_in_code(path):
    code = "\n".join(_src(c) for c in _cells(path) if c["cell_type"] == "code")
    for forbidden in ("sys.path.append", "sys.path.insert", "plt.show()", "np.random.seed(",
                      "tensorflow.keras", "font.family"):
        assert forbidden not in code, f"{path.name}: {forbidden}"


def test_the_engine_appendix_is_a_notebook_in_the_toc():
    assert ROOT / "book" / "engine.ipynb" in APPENDIX_NOTEBOOKS


@pytest.mark.parametrize("path", APPENDIX_NOTEBOOKS, ids=lambda p: p.stem)
def test_appendix_notebooks_run_without_tensorflow(path):
    # an appendix runs in every build: it stays quick (NumPy only, no Keras model)
    code = "\n".join(_src(c) for c in _cells(path) if c["cell_type"] == "code")
    for name in ("keras", "tensorflow", "aeutil._keras", "aeutil.model"):
        pattern = rf"^\s*(?:import|from)\s+{re.escape(name)}\b"
        assert not re.search(pattern, code, flags=re.M), f"{path.name}: imports {name}"


def _figure_cells(path: Path) -> list[dict]:
    return [c for c in _cells(path) if c["cell_type"] == "code" and "figure" in c["metadata"].get("mystnb", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_have_captions_and_chapter_names(path):
    figures = _figure_cells(path)
    for cell in figures:
        fig = cell["metadata"]["mystnb"]["figure"]
        assert fig.get("caption", "").strip(), f"{path.name}: a figure without a caption"
        assert fig.get("name", "").startswith(f"fig-ch{path.name[:2]}-")
    if figures:
        setup = next(c for c in _cells(path) if c["cell_type"] == "code")
        assert "%matplotlib inline" in _src(setup), "figures need the inline backend"


def test_figure_names_are_unique_across_the_book():
    names = [
        c["metadata"]["mystnb"]["figure"]["name"] for p in NOTEBOOKS for c in _figure_cells(p)
    ]
    assert len(names) == len(set(names))


def test_chapters_refer_to_their_figures():
    # figures inside exercise solutions ("-ex-") stand on their own
    for path in NOTEBOOKS:
        text = "\n".join(_src(c) for c in _cells(path) if c["cell_type"] == "markdown")
        for cell in _figure_cells(path):
            name = cell["metadata"]["mystnb"]["figure"]["name"]
            if "-ex-" in name:
                continue
            assert f"{{numref}}`{name}`" in text, f"{path.name}: {name} is never referred to"


@pytest.mark.parametrize("path", NOTEBOOKS + APPENDIX_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_unique_id(path):
    """nbformat 4.5 wants a cell id; a cell without one makes nbformat warn at every read."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    if (nb["nbformat"], nb["nbformat_minor"]) < (4, 5):
        pytest.fail(f"{path.name}: nbformat {nb['nbformat']}.{nb['nbformat_minor']} (4.5 以上に)")
    ids = [cell.get("id") for cell in nb["cells"]]
    assert None not in ids, f"{path.name}: id のないセルが {ids.count(None)} 個"
    assert len(set(ids)) == len(ids), f"{path.name}: id が重複している"
