"""Gather the book into one folder for any static host (make site).

    python tools/gather_site.py [--html _build/html] [--zip _build/student.zip]
                         [--pdf _build/pdf/book.pdf] [--out _build/site] [--allow-missing-pdf]

The folder is the built HTML as it is, plus

    downloads/book.pdf      the PDF (make pdf)
    downloads/student.zip   the participants' notebooks (make student)
    .nojekyll               so that a host running Jekyll (GitHub Pages from a branch) keeps
                            the folders whose names start with "_" (_static, _images)

The landing page (book/intro.md) links to ../downloads/... from book/intro.html, so the
links work wherever the folder is served from, and from the file system. `make book` alone
does not make these two files; tests/test_links.py leaves links into downloads/ to
tests/test_publish.py, which checks them in an assembled site.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOWNLOADS = "downloads"
PDF_NAME = "book.pdf"
ZIP_NAME = "student.zip"


class SiteError(Exception):
    """Something the site needs is missing (the message says which make target makes it)."""


def assemble(html: Path, zip_path: Path, pdf: Path, out: Path, allow_missing_pdf: bool = False
             ) -> list[Path]:
    """Write the site into ``out`` (replaced) and return the downloads it holds."""
    if not (html / "index.html").is_file():
        raise SiteError(f"{html}/index.html がありません。先に make book を実行してください")
    if not zip_path.is_file():
        raise SiteError(f"{zip_path} がありません。先に make student を実行してください")
    if not pdf.is_file() and not allow_missing_pdf:
        raise SiteError(f"{pdf} がありません。先に make pdf を実行してください")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(html, out, ignore=shutil.ignore_patterns(".buildinfo"))
    (out / ".nojekyll").write_text("", encoding="utf-8")
    downloads = out / DOWNLOADS
    downloads.mkdir()
    copied = [Path(shutil.copy2(zip_path, downloads / ZIP_NAME))]
    if pdf.is_file():
        copied.append(Path(shutil.copy2(pdf, downloads / PDF_NAME)))
    return copied


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--zip", type=Path, default=ROOT / "_build" / ZIP_NAME)
    parser.add_argument("--pdf", type=Path, default=ROOT / "_build" / "pdf" / PDF_NAME)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "site")
    parser.add_argument("--allow-missing-pdf", action="store_true",
                        help="build the site without the PDF (its link is then broken)")
    args = parser.parse_args(argv)
    try:
        copied = assemble(args.html, args.zip, args.pdf, args.out, args.allow_missing_pdf)
    except SiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    files = sum(1 for f in args.out.rglob("*") if f.is_file())
    print(f"{args.out}: {files} files, {size(args.out) / 1e6:.1f} MB; downloads: "
          + ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.1f} MB)" for p in copied))
    if not args.pdf.is_file():
        print(f"note: {args.pdf} is missing, so the site has no PDF and the landing page's "
              "PDF link is broken (make pdf makes it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
