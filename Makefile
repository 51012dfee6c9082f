# オートエンコーダによる異常検知 — build and test entry points.
#
#   make book   .venv を作り、ノートブックを実行して HTML を _build/html に作る
#   make test   lint → 単体テスト → 本のビルド → HTML のテスト → ブラウザでのテスト
#   make quick  速い単体テストだけ（slow・book・browser の印のないもの）
#
# Everything pip installs comes from requirements.txt (exact pins).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Python 3.11 to create the venv with: python3.11 if on PATH, else python3 (version checked below).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
IS_PY311 := -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'

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
BOOK_BUILD := $(VENV)/bin/jupyter-book build . --path-output . \
	--config book/_config.yml --toc book/_toc.yml --all -W -n --keep-going

# The browser tests (tests/browser) drive Debian's chromium through Playwright's Python client;
# `playwright install` is never run, so no browser is ever downloaded.
CHROMIUM := /usr/bin/chromium

.PHONY: help venv book test quick lint chromium bench profile clean distclean

help:
	@echo "make book       build the HTML book into _build/html (creates .venv on first use)"
	@echo "make test       lint, unit tests, book build, checks on the built HTML, browser tests"
	@echo "make quick      unit tests without the slow ones (fuzz, properties, durability): a quick loop"
	@echo "make chromium   install Debian's chromium with apt-get if $(CHROMIUM) is missing"
	@echo "make lint       ruff check ."
	@echo "make bench      benchmark table (own .venv-bench with PyTorch and PyOD; not part of make test)"
	@echo "make profile    py-spy profile of one fit: what bounds the fit row of make bench"
	@echo "make student    participants' notebooks (no outputs, no solutions) in _build/student and _build/student.zip"
	@echo "make site       HTML + PDF + notebook zip in one folder, _build/site, for any static host"
	@echo "make serve      preview _build/site on http://127.0.0.1:$(PORT)/ (makes the site if missing)"
	@echo "make clean      remove _build (keeps .venv)"
	@echo "make distclean  remove _build and .venv"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: python3.11 (or python3) not found on PATH" >&2; exit 1; }
	@$(PYTHON) $(IS_PY311) || { echo "error: Python 3.11 is required, $(PYTHON) is $$($(PYTHON) --version 2>&1)" >&2; exit 1; }
	@if [ -x $(PY) ] && ! $(PY) $(IS_PY311) 2>/dev/null; then \
		echo "$(VENV) is not Python 3.11: recreating it"; rm -rf $(VENV); fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

book: $(STAMP)
	$(BOOK_BUILD)
	@echo "open _build/html/index.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not book and not browser"
	$(BOOK_BUILD)
	$(PY) -m pytest -m book
	$(PY) -m pytest -m browser

# The quick loop while working: the unit tests without the slow fuzz, property-based and
# durability tests (marked slow). make test runs those too.
quick: $(STAMP)
	$(PY) -m pytest -m "not book and not browser and not slow"

# Debian's chromium package, installed only when $(CHROMIUM) is missing (as root, or with sudo).
# `apt-get update` runs only if the install fails without it (e.g. no package lists yet).
APT_INSTALL_CHROMIUM := env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "error: $(CHROMIUM) is missing and apt-get is not available here: install Chromium" >&2; \
		echo "       so that $(CHROMIUM) exists (the browser tests never download a browser)" >&2; \
		exit 1; fi; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else echo "error: $(CHROMIUM) is missing; installing it with apt-get needs root or sudo" >&2; exit 1; fi; \
	echo "$(CHROMIUM) is missing: installing Debian's chromium package (apt-get)"; \
	$$sudo $(APT_INSTALL_CHROMIUM) || { \
		echo "apt-get install failed: running apt-get update and trying again"; \
		$$sudo apt-get update && $$sudo $(APT_INSTALL_CHROMIUM); }; \
	if [ ! -x $(CHROMIUM) ]; then \
		echo "error: the chromium package is installed but $(CHROMIUM) is missing" >&2; exit 1; fi

# The benchmark has its own environment: requirements.txt plus PyTorch and PyOD, which the
# book and the tests never need.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): requirements.txt requirements-bench.txt pyproject.toml
	@$(PYTHON) $(IS_PY311) || { echo "error: Python 3.11 is required" >&2; exit 1; }
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-bench.txt
	$(BENCH_VENV)/bin/python -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
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
# make site: the built HTML, the PDF and the notebook zip in one folder (tools/site.py). It
# depends on the pdf target as soon as this Makefile has one; without it the site has no PDF.
# make serve: http.server on 127.0.0.1 only (nothing is reachable from other machines).
SITE_PDF := $(if $(shell grep -E '^pdf:' $(firstword $(MAKEFILE_LIST)) 2>/dev/null),pdf)
PORT ?= 8000

.PHONY: student site serve

student: $(STAMP)
	$(PY) tools/student.py --out _build/student --zip _build/student.zip

site: book student $(SITE_PDF)
	$(PY) tools/site.py --html _build/html --zip _build/student.zip --pdf _build/pdf/book.pdf \
		--out _build/site $(if $(SITE_PDF),,--allow-missing-pdf)

serve:
	@test -f _build/site/index.html || $(MAKE) site
	@echo "serving _build/site on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(PY) -m http.server --bind 127.0.0.1 --directory _build/site $(PORT)
