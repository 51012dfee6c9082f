"""Publishing in one step: make site / make serve (tools/gather_site.py) and the Pages workflow.

Unit tests (no build needed): tools/gather_site.py on a made-up build, the Makefile targets, the
GitHub Pages workflow (its only build step is `make site`), the licence files.

After the book build (marked ``book``): the landing page links to the PDF and the notebook
zip, every page carries the licence in its footer, and in a site assembled from the real
_build/html and a freshly made kit every link into downloads/ resolves (tests/test_links.py
leaves those links to this file, because `make book` alone does not make the downloads).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from booktoc import book_documents
from bs4 import BeautifulSoup
from tooling import load_tool

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


site = load_tool("gather_site")
student = load_tool("student")


def _fake_build(tmp: Path) -> tuple[Path, Path, Path]:
    html = tmp / "html"
    (html / "book").mkdir(parents=True)
    (html / "index.html").write_text("<a href='book/intro.html'>x</a>", encoding="utf-8")
    (html / "book" / "intro.html").write_text("intro", encoding="utf-8")
    (html / ".buildinfo").write_text("sphinx", encoding="utf-8")
    zip_path = tmp / "student.zip"
    zip_path.write_bytes(b"PK zip")
    pdf = tmp / "pdf" / "book.pdf"
    pdf.parent.mkdir()
    pdf.write_bytes(b"%PDF-1.7")
    return html, zip_path, pdf


# --- tools/gather_site.py ----------------------------------------------------------------------------


def test_site_gathers_html_pdf_and_zip(tmp_path):
    html, zip_path, pdf = _fake_build(tmp_path)
    out = tmp_path / "site"
    (out / "stale").mkdir(parents=True)  # a previous site is replaced, not merged
    copied = site.assemble(html, zip_path, pdf, out)
    assert sorted(p.relative_to(out).as_posix() for p in copied) == [
        "downloads/book.pdf", "downloads/student.zip"]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [".nojekyll", "book/intro.html", "downloads/book.pdf",
                     "downloads/student.zip", "index.html"]
    assert (out / "downloads" / "book.pdf").read_bytes() == b"%PDF-1.7"


def test_site_without_pdf_only_when_allowed(tmp_path):
    html, zip_path, pdf = _fake_build(tmp_path)
    pdf.unlink()
    with pytest.raises(site.SiteError, match="make pdf"):
        site.assemble(html, zip_path, pdf, tmp_path / "site")
    copied = site.assemble(html, zip_path, pdf, tmp_path / "site", allow_missing_pdf=True)
    assert [p.name for p in copied] == ["student.zip"]


@pytest.mark.parametrize("missing, target", [("html", "make book"), ("zip", "make student")])
def test_site_says_which_target_is_missing(tmp_path, missing, target):
    html, zip_path, pdf = _fake_build(tmp_path)
    if missing == "html":
        (html / "index.html").unlink()
    else:
        zip_path.unlink()
    with pytest.raises(site.SiteError, match=target):
        site.assemble(html, zip_path, pdf, tmp_path / "site")


def test_site_command_line(tmp_path):
    html, zip_path, pdf = _fake_build(tmp_path)
    args = [sys.executable, str(ROOT / "tools" / "gather_site.py"), "--html", str(html), "--zip",
            str(zip_path), "--pdf", str(tmp_path / "nothing.pdf"), "--out", str(tmp_path / "s")]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 1 and "make pdf" in done.stderr
    done = subprocess.run(args + ["--allow-missing-pdf"], capture_output=True, text=True)
    assert done.returncode == 0 and "student.zip" in done.stdout and "PDF" in done.stdout


# --- the Makefile ----------------------------------------------------------------------------


def _rule(target: str) -> tuple[str, str]:
    """The prerequisites and the recipe of a Makefile rule."""
    match = re.search(rf"^{target}:(.*)\n((?:\t.*\n?)*)", MAKEFILE, re.M)
    assert match, f"no {target} target in the Makefile"
    return match.group(1), match.group(2)


def test_make_targets_and_help():
    for target in ("student", "site", "serve"):
        _rule(target)
        assert re.search(rf'@echo "make {target}\s', MAKEFILE), f"make help lacks {target}"
    prerequisites, recipe = _rule("student")
    assert "tools/student.py" in recipe and "_build/student.zip" in recipe
    prerequisites, recipe = _rule("site")
    assert {"book", "student"} <= set(prerequisites.split())
    assert "tools/gather_site.py" in recipe and "_build/site" in recipe


def test_site_depends_on_pdf_once_the_makefile_has_it():
    has_pdf = re.search(r"^pdf:", MAKEFILE, re.M) is not None
    done = subprocess.run(["make", "-n", "-p", "site"], cwd=ROOT, capture_output=True,
                          text=True)
    site_rule = re.search(r"^site: (.*)$", done.stdout, re.M)
    assert site_rule, done.stdout[-2000:]
    assert ("pdf" in site_rule.group(1).split()) == has_pdf
    commands = subprocess.run(["make", "-n", "site"], cwd=ROOT, capture_output=True, text=True)
    lines = commands.stdout.replace("\\\n", " ").splitlines()  # join continued lines
    gather = [line for line in lines if "gather_site.py" in line]
    assert gather, commands.stdout[-2000:]
    assert ("--allow-missing-pdf" in gather[-1]) == (not has_pdf)


def test_serve_listens_on_localhost_only():
    _, recipe = _rule("serve")
    assert "http.server" in recipe and "--bind 127.0.0.1" in recipe
    assert "_build/site" in recipe


# --- the GitHub Pages workflow -----------------------------------------------------------------


def test_pages_workflow_runs_only_make_site():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = [step["run"].strip() for step in steps if "run" in step]
    assert runs == ["make site"]
    actions = [step["uses"].split("@")[0] for step in steps if "uses" in step]
    assert actions == ["actions/checkout", "actions/upload-pages-artifact",
                       "actions/deploy-pages"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "_build/site"
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    # built on Debian with Python 3.11, like CI (.ci/run): make installs Debian's packages
    assert workflow["jobs"]["build"]["container"] == "python:3.11-bookworm"


# --- licences ---------------------------------------------------------------------------------


def test_licence_files():
    mit = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert mit.startswith("MIT License") and "Permission is hereby granted, free of charge" in mit
    cc = (ROOT / "LICENSE-CONTENT").read_text(encoding="utf-8")
    assert "Creative Commons Attribution 4.0 International Public License" in cc
    sections = re.findall(r"^Section (\d) -- ", cc, re.M)
    assert sections == [str(n) for n in range(1, 9)], "the full legal code, sections 1-8"
    assert "CC BY 4.0" in cc and "MIT" in cc  # the preamble says what is under which
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "LICENSE-CONTENT" in readme and "CC BY 4.0" in readme and "MIT" in readme


def test_footer_text_in_config():
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text(encoding="utf-8"))
    footer = config["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and "MIT" in footer


# --- after the book build -------------------------------------------------------------------

DOWNLOAD_LINKS = {"../downloads/book.pdf", "../downloads/student.zip"}


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def html_dir() -> Path:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML} is not built: run `make book` (or `make test`) first", False)
    return HTML


@pytest.mark.book
def test_landing_page_links_to_pdf_and_zip(html_dir):
    hrefs = {a["href"] for a in _soup(html_dir / "book" / "intro.html").find_all("a", href=True)}
    assert DOWNLOAD_LINKS <= hrefs


@pytest.mark.book
def test_training_page_hands_out_the_zip(html_dir):
    page = html_dir / "book" / "training.html"
    assert page.is_file(), "book/training is not in the toc"
    hrefs = {a["href"] for a in _soup(page).find_all("a", href=True)}
    assert "../downloads/student.zip" in hrefs


@pytest.mark.book
@pytest.mark.parametrize("doc", book_documents())
def test_every_page_names_the_licences(html_dir, doc):
    footer = _soup(html_dir / f"{doc}.html").find("footer", class_="bd-footer-content")
    assert footer is not None
    text = footer.get_text(" ", strip=True)
    assert "CC BY 4.0" in text and "MIT" in text, text


@pytest.mark.book
def test_links_into_downloads_resolve_in_the_assembled_site(html_dir, tmp_path):
    """The site made from the real build: every link into downloads/ from any page names a
    file that tools/gather_site.py put there. (Without a built PDF a stand-in file is used: the
    check is about where the links point.)"""
    kit = tmp_path / "student"
    student.make_kit(kit, tmp_path / "student.zip", wheel=False)
    pdf = ROOT / "_build" / "pdf" / "book.pdf"
    if not pdf.is_file():
        pdf = tmp_path / "book.pdf"
        pdf.write_bytes(b"%PDF-1.7 stand-in")
    out = tmp_path / "site"
    site.assemble(html_dir, tmp_path / "student.zip", pdf, out)
    checked = []
    for page in out.rglob("*.html"):
        for a in _soup(page).find_all("a", href=True):
            path = unquote(urlsplit(a["href"]).path)
            if urlsplit(a["href"]).scheme or not path:
                continue
            target = (page.parent / path).resolve()
            if not target.is_relative_to(out.resolve()):
                continue  # test_links.py reports links that leave the site
            if target.relative_to(out.resolve()).parts[:1] == (site.DOWNLOADS,):
                assert target.is_file(), f"{page.relative_to(out)}: {a['href']}"
                checked.append(target.name)
    assert {"book.pdf", "student.zip"} <= set(checked)
