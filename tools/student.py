"""The course kit: the chapters as notebooks for participants, without outputs or solutions.

    python tools/student.py [--out _build/student] [--zip _build/student.zip]
    python tools/student.py --report      # what is kept and removed, cell by cell

The chapters are the toc entries under notebooks/ (book/_toc.yml, read at run time, so a
renumbered or new chapter needs no change here). For each chapter:

- every output and execution count is removed;
- the exercise section (from the ``## 演習`` heading, the last ``##`` heading of a chapter,
  to the end of the notebook) keeps only the cells tagged ``task``; the cells tagged
  ``solution`` go (the book folds the same cells, one dropdown per exercise:
  book/_ext/solutions.py);
- after each task cell comes one empty cell per exercise it states (tag ``task``): a code
  cell ``# 演習 N: ここにコードを書く`` when the book's solution has code, a Markdown cell
  otherwise;
- a short note after the title says what the notebook is.

Every cell of the exercise section carries one of the two tags; an untagged cell, a cell with
both, or a folded block (``:::{dropdown}``) inside a task cell stops the script with the
chapter and cell named, so no solution reaches the participants by a forgotten tag. A cell
tagged ``solution`` before the exercise section is removed too.

The body of a chapter (everything before ``## 演習``) is kept as the book has it, including
its hidden ``remove-cell`` cells (a later cell may use a name they define).

The kit also holds a README.md for participants, requirements.txt and a wheel of aeutil
(built with setuptools' PEP 517 hook from a copy of the sources, so the tree stays clean),
so that the zip alone is enough to set up a PC. This script imports nothing from aeutil.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
TASK_TAG = "task"
EXERCISES = "## 演習"

# A numbered item at the start of a line: "1. ...", "2. ..." (a task of the exercise list).
ITEM = re.compile(r"^(\d+)\.\s", re.M)
# The exercise a solution answers, from the first line of its first cell: "**解答例 (演習 2)**"
# (the title line that book/_ext/solutions.py turns into the dropdown's title).
LABEL = re.compile(r"解答例\s*[(（]演習\s*(\d+)[)）]")
# A folded block: ":::{dropdown} title ... :::" (any fence length, colons or backticks), or
# an admonition with ":class: dropdown".
FOLDED = re.compile(
    r"^(?P<fence>:{3,}|`{3,})\{(?P<name>[a-z-]+)\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$\n?",
    re.M | re.S,
)



def folded(block: re.Match) -> bool:
    """Whether a directive block (a FOLDED match) is folded in the book."""
    body = block.group("body")
    return block.group("name") == "dropdown" or bool(
        re.search(r"^:class:.*\bdropdown\b", body, re.M)
    )


NOTE = (
    "> **研修用のノートブック**です (`make student` で作ったもの)。出力と演習の解答例を"
    "取り除いてあります。\n"
    "> 上から順に実行し、最後の「演習」では、印の付いた空のセルに自分の答えを書いてください。\n"
    "> 文章の中の `{glue:text}` や `{doc}` などの記法は、本 (HTML と PDF) では実行結果の"
    "数値や章へのリンクとして表示されます。"
)


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks, in the order of book/_toc.yml (its entries under notebooks/)."""

    def walk(node) -> list[str]:
        found = []
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    found.append(re.sub(r"\.(md|ipynb)$", "", node[key]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []):
                    found += walk(child)
        return found

    toc = yaml.safe_load((root / "book" / "_toc.yml").read_text(encoding="utf-8"))
    paths = [root / f"{doc}.ipynb" for doc in walk(toc) if doc.startswith("notebooks/")]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"in book/_toc.yml but not on disk: {missing}")
    return paths


def exercises_start(cells: list[dict]) -> int | None:
    """Index of the ``## 演習`` heading cell (None if the chapter has no exercises)."""
    for i, cell in enumerate(cells):
        lines = source(cell).splitlines()
        if cell["cell_type"] == "markdown" and lines and lines[0].strip() == EXERCISES:
            return i
    return None


@dataclass
class Exercise:
    number: int
    task_cell: int  # index (in the book's notebook) of the cell that states it
    has_code: bool = False  # the book's solution has a code cell


@dataclass
class Plan:
    """What happens to each cell of one chapter."""

    path: Path
    roles: list[str]  # per cell: "body", "task" or "solution"
    exercises: list[Exercise] = field(default_factory=list)

    def solution_texts(self, cells: list[dict]) -> list[str]:
        """The text of every solution cell (what must not reach the participants)."""
        return [source(c) for c, r in zip(cells, self.roles, strict=True) if r == "solution"]


class UntaggedCell(ValueError):
    """A cell of an exercise section without exactly one of the tags task/solution."""


def role(path: Path, i: int, cell: dict, start: int | None) -> str:
    """The role of cell ``i``: "body", "task" or "solution" (``start``: the index of the
    ``## 演習`` heading)."""
    marked = {SOLUTION_TAG, TASK_TAG} & set(tags(cell))
    where = f"{path.name} のセル {i} (id {cell.get('id', '?')})"
    if len(marked) == 2:
        raise UntaggedCell(f"{where}: タグ task と solution の両方が付いています")
    if marked == {SOLUTION_TAG}:
        return "solution"
    if start is None or i < start:
        return "task" if marked else "body"
    if not marked:
        raise UntaggedCell(f"{where}: 演習の節のセルにタグ task か solution を付けてください")
    if any(folded(m) for m in FOLDED.finditer(source(cell))):
        raise UntaggedCell(f"{where}: 課題のセルに折りたたみ (dropdown) があります。"
                           "解答例は solution のセルに分けてください")
    return "task"


def plan(path: Path, cells: list[dict]) -> Plan:
    start = exercises_start(cells)
    result = Plan(path, [role(path, i, cell, start) for i, cell in enumerate(cells)])
    # Exercise numbers: stated by the task cells; a solution cell answers the exercise its
    # first line names, else the one being answered.
    by_number: dict[int, Exercise] = {}
    current = None
    for i, (cell, kind) in enumerate(zip(cells, result.roles, strict=True)):
        text = source(cell)
        if kind == "task":
            numbers = [int(n) for n in ITEM.findall(text)]
            for n in numbers:
                by_number.setdefault(n, Exercise(n, i))
            if numbers:
                current = numbers[0]
        elif kind == "solution":
            label = LABEL.search(text.lstrip().splitlines()[0] if text.strip() else "")
            if label:
                current = int(label.group(1))
            if cell["cell_type"] == "code" and current in by_number:
                by_number[current].has_code = True
    result.exercises = sorted(by_number.values(), key=lambda e: e.number)
    return result


def lines(text: str) -> list[str]:
    """A cell's source as Jupyter writes it (a list of lines)."""
    return text.splitlines(keepends=True)


def _markdown(cell_id: str, text: str, cell_tags: list[str] | None = None) -> dict:
    cell = {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": lines(text)}
    if cell_tags:
        cell["metadata"]["tags"] = cell_tags
    return cell


def _placeholder(exercise: Exercise) -> dict:
    cell_id = f"student-task-{exercise.number}"
    if exercise.has_code:
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": cell_id,
            "metadata": {"tags": [TASK_TAG]},
            "outputs": [],
            "source": lines(f"# 演習 {exercise.number}: ここにコードを書く\n"),
        }
    return _markdown(cell_id, f"**演習 {exercise.number} の答え**: (ここに書く)", [TASK_TAG])


def student_notebook(notebook: dict, path: Path) -> tuple[dict, Plan]:
    """The participants' notebook of one chapter, and the plan it was made from."""
    cells = notebook["cells"]
    the_plan = plan(path, cells)
    out = []
    for i, (cell, kind) in enumerate(zip(cells, the_plan.roles, strict=True)):
        if kind == "solution":
            continue
        cell = copy.deepcopy(cell)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if kind == "task":
            cell.setdefault("metadata", {})["tags"] = sorted(set(tags(cell)) | {TASK_TAG})
        out.append(cell)
        if i == 0:
            out.append(_markdown("student-note", NOTE))
        if kind == "task":
            out += [_placeholder(e) for e in the_plan.exercises if e.task_cell == i]
    # nbformat 4.5 wants an id on every cell; give one to a book cell that lacks it
    used = {cell["id"] for cell in out if "id" in cell}
    for i, cell in enumerate(out):
        if "id" not in cell:
            cell["id"] = next(f"cell-{i}-{n}" for n in range(len(out) + 1)
                              if f"cell-{i}-{n}" not in used)
            used.add(cell["id"])
    student = {key: copy.deepcopy(value) for key, value in notebook.items() if key != "cells"}
    student["cells"] = out
    return student, the_plan


def write_notebook(notebook: dict, path: Path) -> None:
    path.write_text(json.dumps(notebook, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def build_wheel(out: Path, root: Path = ROOT) -> Path:
    """A wheel of aeutil, built from a copy of its sources (no build/ or egg-info left in
    the tree), with the setuptools of the running interpreter, offline."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, src / name)
        shutil.copytree(root / "aeutil", src / "aeutil",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        dist = Path(tmp) / "dist"
        dist.mkdir()
        hook = "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))"
        done = subprocess.run([sys.executable, "-c", hook, str(dist)], cwd=src, check=True,
                              capture_output=True, text=True)
        name = done.stdout.strip().splitlines()[-1]
        out.mkdir(parents=True, exist_ok=True)
        target = out / name
        shutil.copy2(dist / name, target)
    return target


def readme(chapter_files: list[tuple[str, str]], wheel: str | None) -> str:
    lines = [
        "# オートエンコーダによる異常検知: 研修用のノートブック",
        "",
        "本『オートエンコーダによる異常検知』の各章を、出力と演習の解答例を除いたノートブックにしたものです。",
        "本 (HTML と PDF) を読みながら、上から順にセルを実行してください。演習では、`task` の印が付いた",
        "空のセル (`# 演習 N: ここにコードを書く` など) に自分の答えを書きます。",
        "",
        "## 章",
        "",
    ]
    lines += [f"- `{name}`: {title}" for name, title in chapter_files]
    lines += [
        "",
        "## 準備",
        "",
        "Python の仮想環境を作り、固定したバージョンのパッケージと aeutil を入れてから、",
        "JupyterLab でこのフォルダーを開きます。Python のバージョンは、本書の README の",
        "「動作環境」にあるものを使います。",
        "",
        "```bash",
        "python3 -m venv .venv",
        f".venv/bin/python -m pip install -r requirements.txt {wheel or 'aeutil'}",
        ".venv/bin/jupyter lab",
        "```",
        "",
        "Windows の PowerShell では、次のようにします。",
        "",
        "```powershell",
        "py -m venv .venv",
        f".venv\\Scripts\\python -m pip install -r requirements.txt {wheel or 'aeutil'}",
        ".venv\\Scripts\\jupyter lab",
        "```",
        "",
        "インターネットにつながらない教室では、講師が用意したフォルダー (wheelhouse) から入れます。",
        "",
        "```bash",
        ".venv/bin/python -m pip install --no-index --find-links wheelhouse \\",
        f"    -r requirements.txt {wheel or 'aeutil'}",
        "```",
        "",
        "研修の進め方と PC の準備は、本の「研修で使う」のページにあります。",
        "コードは MIT ライセンス、文章と図は CC BY 4.0 で提供しています (LICENSE、LICENSE-CONTENT)。",
    ]
    return "\n".join(lines) + "\n"


def title(notebook: dict) -> str:
    first = source(notebook["cells"][0]).splitlines()[0] if notebook["cells"] else ""
    return first.lstrip("#").strip()


def make_kit(out: Path, zip_path: Path | None, root: Path = ROOT, wheel: bool = True) -> list[Plan]:
    """Write the kit into ``out`` (emptied first) and, if given, zip it as ``student/...``."""
    made, plans, listing = [], [], []
    for path in chapters(root):  # every chapter is checked before anything is written
        notebook = json.loads(path.read_text(encoding="utf-8"))
        student, the_plan = student_notebook(notebook, path)
        made.append((path.name, student))
        plans.append(the_plan)
        listing.append((path.name, title(notebook)))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, student in made:
        write_notebook(student, out / name)
    wheel_name = build_wheel(out, root).name if wheel else None
    shutil.copy2(root / "requirements.txt", out / "requirements.txt")
    for name in ("LICENSE", "LICENSE-CONTENT"):
        if (root / name).is_file():
            shutil.copy2(root / name, out / name)
    (out / "README.md").write_text(readme(listing, wheel_name), encoding="utf-8")
    if zip_path is not None:
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(out.rglob("*")):
                if file.is_file():
                    archive.write(file, Path("student") / file.relative_to(out))
    return plans


def report(plans: list[Plan], root: Path = ROOT) -> str:
    """Cell by cell: which cells of each chapter's exercise section are tasks and which are
    solutions, and what each exercise's answer is (code or text)."""
    lines = []
    for p in plans:
        cells = json.loads(p.path.read_text(encoding="utf-8"))["cells"]
        tasks = [i for i, r in enumerate(p.roles) if r == "task"]
        solutions = [i for i, r in enumerate(p.roles) if r == "solution"]
        lines.append(f"{p.path.relative_to(root)}: {len(cells)} cells")
        lines.append(f"  task cells      {tasks}")
        lines.append(f"  solution cells  {solutions}")
        for e in p.exercises:
            kind = "code" if e.has_code else "text"
            lines.append(f"  exercise {e.number}: stated in cell {e.task_cell}, answer in {kind}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument("--zip", type=Path, default=ROOT / "_build" / "student.zip")
    parser.add_argument("--report", action="store_true",
                        help="print the task/solution cells per chapter and write nothing")
    args = parser.parse_args(argv)
    if args.report:
        plans = []
        for path in chapters():
            notebook = json.loads(path.read_text(encoding="utf-8"))
            plans.append(plan(path, notebook["cells"]))
        print(report(plans))
        return 0
    plans = make_kit(args.out, args.zip)
    n_tasks = sum(len(p.exercises) for p in plans)
    n_removed = sum(r == "solution" for p in plans for r in p.roles)
    print(f"{len(plans)} chapter notebooks -> {args.out} ({n_tasks} exercises kept as tasks, "
          f"{n_removed} solution cells removed); zip: {args.zip}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
