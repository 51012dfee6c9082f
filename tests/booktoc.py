"""The book's page order, read from book/_toc.yml (shared by the tests that need it)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_documents(node) -> list[str]:
    """Every `root`/`file` entry of a jb-book toc, in order, without suffix."""
    docs = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                docs.append(re.sub(r"\.(md|ipynb)$", "", node[key]))
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                docs += toc_documents(child)
    return docs


def book_documents() -> list[str]:
    """The documents of book/_toc.yml in reading order (``book/intro``, ``notebooks/01_...``)."""
    return toc_documents(yaml.safe_load((ROOT / "book" / "_toc.yml").read_text(encoding="utf-8")))
