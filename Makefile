# オートエンコーダによる異常検知 — build and test entry points.
#
#   make book   .venv を作り、ノートブックを実行して HTML を _build/html に作る
#   make test   lint → 単体テスト → 本のビルド → HTML のテスト → ブラウザでのテスト → PDF とそのテスト
#   make quick  速い単体テストだけ（slow・book・browser・pdf の印のないもの）
#
# Everything installed comes from requirements.txt, the lock (exact pins, one file for every
# supported Python and platform), made from requirements.in by `make lock`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The Python to create .venv with: PYTHON=... if given, else the first of python3.13, python3.12,
# python3.11, python3, python on PATH that is CPython 3.11.2 to 3.13 (tools/find-python; it
# explains a refusal, e.g. 3.14, for which TensorFlow 2.21 has no wheels).
PYTHON ?=
FIND_PYTHON := sh tools/find-python

# The installer: uv, pinned in the lock, bootstrapped into .venv with pip (no script from the
# internet). INSTALLER=pip installs with pip instead; pip is also the fallback when uv cannot be
# installed. uv never downloads a Python of its own.
# uv does not compile .pyc files at install time (compiling every module of TensorFlow, SciPy,
# pandas ... took 15 of the 24 s of `make venv`): Python writes each module's .pyc into .venv
# the first time it is imported, and only the modules the book imports are ever compiled. So
# that this also holds where PYTHONDONTWRITEBYTECODE is set (some shells and containers set it;
# every kernel would then compile its imports again at each start), it is not passed on to the
# commands run here.
INSTALLER ?= uv
UV        := $(VENV)/bin/uv
UV_PIN     = $(shell grep -E '^uv==' requirements.txt)
export UV_PYTHON_DOWNLOADS := never
unexport PYTHONDONTWRITEBYTECODE
PIP_INSTALL := -m pip install --disable-pip-version-check --progress-bar off

# Quiet TensorFlow, headless matplotlib, reproducible hashing. Inherited by the notebook kernels.
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# Let the kernelspec inside .venv win over any user-level "python3" kernelspec in ~/.local.
export JUPYTER_PREFER_ENV_PATH := 1

# The Sphinx source root is the repository root (chapters live in notebooks/, front matter in
# book/, and Sphinx cannot include files outside its source dir); config and toc live in book/.
# only_build_toc_files in book/_config.yml keeps everything not in the toc out of the build.
# --all re-reads every page each time (executed outputs still come from the jupyter-cache), so a
# warning in an unchanged page is reported again instead of being hidden by an incremental build.
# BOOK_EXECUTE runs first: it executes the notebooks that are not in the cache, BOOK_JOBS at a
# time (default: one per CPU core), so that the build itself only reads the cache. On Linux its
# kernels are forked from a process that has already imported TensorFlow and the other heavy
# libraries (tools/forked_kernels.py): about 4 s less for each notebook.
# BOOK_EXECUTE runs again only when a notebook, the toc or the book's config is newer than the
# last run that left every notebook in the cache (EXECUTED, a stamp inside the cache's folder, so
# that removing the cache removes it too): its check of every notebook against the cache took
# about 1 s of each rebuild. `make test` always runs it.
# BOOK_BUILD is jupyter-book's own command line, started through tools/run_jupyter_book.py,
# which leaves out an import of 1.6 s that the build never uses.
BOOK_JOBS    ?= 0
BOOK_EXECUTE := $(PY) tools/execute_notebooks.py --jobs $(BOOK_JOBS)
BOOK_BUILD := $(PY) tools/run_jupyter_book.py build . --path-output . \
	--config book/_config.yml --toc book/_toc.yml --all -W -n --keep-going
EXECUTED := _build/.jupyter_cache/executed.stamp
$(EXECUTED): $(STAMP) $(wildcard notebooks/*.ipynb book/*.ipynb) book/_toc.yml book/_config.yml \
		tools/execute_notebooks.py tools/forked_kernels.py
	$(BOOK_EXECUTE)
	touch $@

# The browser tests (tests/browser) drive Debian's chromium through Playwright's Python client;
# `playwright install` is never run, so no browser is ever downloaded.
CHROMIUM := /usr/bin/chromium

.PHONY: help venv book test quick lint chromium lock lockcheck bench profile clean distclean

help:
	@echo "make book       build the HTML book into _build/html (creates .venv on first use)"
	@echo "make test       lint, unit tests, book build, checks on the built HTML, browser tests, the PDF and its checks"
	@echo "make quick      unit tests without the slow ones (fuzz, properties, durability): a quick loop"
	@echo "make chromium   install Debian's chromium with apt-get if $(CHROMIUM) is missing"
	@echo "make lint       ruff check ."
	@echo "make lock       requirements.txt (the lock) from requirements.in, with uv"
	@echo "make lockcheck  the lock is up to date and resolves for Linux/Windows/macOS x Python 3.11.2/3.12/3.13"
	@echo "make bench      benchmark table (own .venv-bench with PyTorch and PyOD; not part of make test)"
	@echo "make profile    py-spy profile of one fit: what bounds the fit row of make bench"
	@echo "make pdf        the whole book as one PDF, _build/pdf/book.pdf (chromium prints the single-page HTML)"
	@echo "make student    participants' notebooks (no outputs, no solutions) in _build/student and _build/student.zip"
	@echo "make site       HTML + PDF + notebook zip in one folder, _build/site, for any static host"
	@echo "make serve      preview _build/site on http://127.0.0.1:$(PORT)/ (makes the site if missing)"
	@echo "make clean      remove _build (keeps .venv)"
	@echo "make distclean  remove _build and .venv"

venv: $(STAMP)

# An existing .venv is kept if its Python is supported (and, with PYTHON=..., is that version);
# otherwise it is made again.
$(STAMP): requirements.txt pyproject.toml
	@version() { "$$1" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null; }; \
	if [ -e $(PY) ]; then \
		if ! $(FIND_PYTHON) $(PY) >/dev/null 2>&1; then \
			echo "$(VENV)'s Python is missing or not supported: making $(VENV) again"; rm -rf $(VENV); \
		elif [ -n "$(PYTHON)" ]; then \
			base=$$($(FIND_PYTHON) $(PYTHON)); \
			if [ "$$(version $(PY))" != "$$(version $$base)" ]; then \
				echo "$(VENV) is Python $$(version $(PY)), $(PYTHON) is $$(version $$base): making $(VENV) again"; \
				rm -rf $(VENV); fi; fi; fi; \
	if [ ! -e $(PY) ]; then \
		base=$$($(FIND_PYTHON) $(PYTHON)); \
		echo "$$base -m venv $(VENV)   # Python $$(version $$base)"; "$$base" -m venv $(VENV); fi
	@if [ "$(INSTALLER)" = uv ] && { [ -x $(UV) ] || $(PY) $(PIP_INSTALL) --quiet "$(UV_PIN)"; }; then \
		set -x; \
		$(UV) pip install --python $(PY) -r requirements.txt; \
		$(UV) pip install --python $(PY) --no-deps --no-build-isolation -e .; \
	else \
		[ "$(INSTALLER)" = pip ] || echo "warning: uv could not be installed: installing with pip (slower)" >&2; \
		set -x; \
		$(PY) $(PIP_INSTALL) -r requirements.txt; \
		$(PY) $(PIP_INSTALL) --no-deps --no-build-isolation -e .; \
	fi
	touch $@

book: $(EXECUTED)
	$(BOOK_BUILD)
	@echo "open _build/html/index.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) chromium pdftools
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not book and not browser and not pdf"
	$(BOOK_EXECUTE)
	$(BOOK_BUILD)
	$(PY) -m pytest -m book
	$(PY) -m pytest -m browser
	$(PDF_HTML_BUILD)
	$(PY) tools/pdf/make_pdf.py
	$(PY) -m pytest -m pdf

# The lock: requirements.in (direct pins) -> requirements.txt, one file for every supported
# Python and platform (uv's universal resolver; pins already in requirements.txt are kept).
# lockcheck asks PyPI, installs nothing: see tools/lockcheck.py.
lock: $(STAMP)
	$(PY) tools/lockcheck.py lock

lockcheck: $(STAMP)
	$(PY) tools/lockcheck.py check

# The quick loop while working: the unit tests without the slow fuzz, property-based and
# durability tests (marked slow). make test runs those too.
quick: $(STAMP)
	$(PY) -m pytest -m "not book and not browser and not slow and not pdf"

# Debian's chromium package, installed only when $(CHROMIUM) is missing (tools/apt-install:
# as root, or with sudo; `apt-get update` only if the install fails without it).
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	sh tools/apt-install "$(CHROMIUM) is missing (the browser tests never download a browser)" \
		chromium; \
	if [ ! -x $(CHROMIUM) ]; then \
		echo "error: the chromium package is installed but $(CHROMIUM) is missing" >&2; exit 1; fi

# The benchmark has its own environment: requirements.txt plus PyTorch and PyOD, which the
# book and the tests never need.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

# pip, not uv: pip takes PyTorch's CPU build from this machine's disk (PIP_FIND_LINKS), where
# uv would download a CUDA build of several GB.
$(BENCH_STAMP): requirements.txt requirements-bench.txt pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || { base=$$($(FIND_PYTHON) $(PYTHON)); set -x; "$$base" -m venv $(BENCH_VENV); }
	$(BENCH_VENV)/bin/python $(PIP_INSTALL) -r requirements-bench.txt
	$(BENCH_VENV)/bin/python $(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $@

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

profile: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/profile_fit.py

clean:
	rm -rf _build .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) $(BENCH_VENV)

# --- The course kit and the published site -----------------------------------------------------
# make student: every chapter of book/_toc.yml (notebooks/) without outputs and solutions, for
# participants, with requirements.txt and a wheel of aeutil, zipped (tools/student.py).
# make site: the built HTML, the PDF and the notebook zip in one folder (tools/gather_site.py).
# It depends on the pdf target as soon as this Makefile has one; without it the site has no PDF.
# make serve: http.server on 127.0.0.1 only (nothing is reachable from other machines).
SITE_PDF := $(if $(shell grep -E '^pdf:' $(firstword $(MAKEFILE_LIST)) 2>/dev/null),pdf)
PORT ?= 8000

.PHONY: student site serve

student: $(STAMP)
	$(PY) tools/student.py --out _build/student --zip _build/student.zip

site: book student $(SITE_PDF)
	$(PY) tools/gather_site.py --html _build/html --zip _build/student.zip \
		--pdf _build/pdf/book.pdf --out _build/site $(if $(SITE_PDF),,--allow-missing-pdf)

serve:
	@test -f _build/site/index.html || $(MAKE) site
	@echo "serving _build/site on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(PY) -m http.server --bind 127.0.0.1 --directory _build/site $(PORT)

# --- The PDF -------------------------------------------------------------------------------------
# make pdf: the book as one HTML page (Sphinx's singlehtml builder), printed to
# _build/pdf/book.pdf by Debian's chromium through Playwright (tools/pdf/make_pdf.py; fonts from
# japanize-matplotlib and matplotlib, A4, a table of contents with page numbers, bookmarks).
# The notebooks' outputs come from the same jupyter-cache as make book: after make book nothing
# runs again; without a cache BOOK_EXECUTE runs each notebook once.
# pdftools: Debian's poppler-utils (pdfinfo gives make_pdf.py the page of each heading;
# pdffonts, pdftotext, pdfimages, pdftoppm check and show the PDF: tests/test_pdf.py) and qpdf
# (object streams: the tagged PDF at half the size), with apt-get when a command is missing.
PDF_HTML_BUILD := $(PY) tools/run_jupyter_book.py build . --path-output . \
	--config book/_config.yml --toc book/_toc.yml --builder singlehtml --all -W -n --keep-going
PDF_COMMANDS := pdfinfo pdffonts pdftotext pdfimages pdftoppm qpdf

.PHONY: pdf pdftools

pdf: $(EXECUTED) chromium pdftools
	$(PDF_HTML_BUILD)
	$(PY) tools/pdf/make_pdf.py

pdftools:
	@missing=""; for c in $(PDF_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	sh tools/apt-install "missing:$$missing" poppler-utils qpdf
