"""Execute the book's notebooks in parallel into the jupyter-cache, before the Sphinx build.

    .venv/bin/python tools/execute_notebooks.py [--jobs N]

`make book` and `make test` run this first. jupyter-book (myst-nb, `execute_notebooks: cache`
in book/_config.yml) then finds every notebook's outputs in the cache (_build/.jupyter_cache)
and executes nothing itself; on its own it would run the notebooks one after another.

- Which notebooks: the .ipynb files of book/_toc.yml. One whose code is already in the cache
  (same code cells, same metadata: jupyter-cache's hash) is not run again.
- How: each notebook in its own kernel, N at a time (default: the number of CPU cores), the
  longest first (by its last run's time, else by file size), with the settings of
  book/_config.yml's `execute:` section (timeout per cell, the notebook's folder as the working
  folder, allow_errors), the same calls myst-nb makes (jupyter_cache's single_nb_execution),
  so the cached notebook is the one the build would have made. Two differences: the kernel is
  killed after the last cell instead of being shut down (see run_one); and on Linux it is
  forked from a process that has already imported the heavy libraries, instead of starting
  from nothing (tools/forked_kernels.py: about 4 s less per notebook).
- Failures: a notebook that raises (or times out) is not cached; its traceback is printed and
  the exit status is 1, so `make` stops before the Sphinx build. (Were the build started
  anyway, myst-nb would execute that notebook again and fail the build: raise_on_error.)
  Output on stderr is cached like any output; the build turns it into a warning
  (stderr_output: warn), which -W makes an error, as before.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

# nbformat imports jsonschema, whose optional URI/IRI format checks compile a grammar with
# rfc3987-syntax when it is installed (jupyter-events' dependencies install it): 0.7 s of every
# run of this script, for a check the notebook schema never makes. Blocked here, jsonschema
# leaves that one format check out, as it does where the package is not installed.
sys.modules.setdefault("rfc3987_syntax", None)

import forked_kernels  # noqa: E402  (tools/forked_kernels.py)
import nbformat  # noqa: E402
import yaml  # noqa: E402
from jupyter_cache import get_cache  # noqa: E402
from jupyter_cache.base import CacheBundleIn  # noqa: E402
from jupyter_cache.executors.utils import single_nb_execution  # noqa: E402
from nbformat.warnings import MissingIDFieldWarning  # noqa: E402
from traitlets.config import Config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "book" / "_config.yml"
TOC = ROOT / "book" / "_toc.yml"
#: Where jupyter-book keeps the cache when it builds with `--path-output .` (the Makefile).
DEFAULT_CACHE = ROOT / "_build" / ".jupyter_cache"


def toc_files(node) -> list[str]:
    """Every `root`/`file` entry of a jb-book toc, in order."""
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(node[key])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                found += toc_files(child)
    return found


def toc_notebooks(toc: Path = TOC, root: Path = ROOT) -> list[Path]:
    """The .ipynb documents of the toc (entries without a suffix are looked up as .ipynb)."""
    notebooks = []
    for entry in toc_files(yaml.safe_load(toc.read_text(encoding="utf-8"))):
        path = root / entry
        if path.suffix == "":
            path = path.with_suffix(".ipynb")
        if path.suffix == ".ipynb" and path.is_file():
            notebooks.append(path)
    return notebooks


def execute_settings(config: Path = CONFIG) -> dict:
    """book/_config.yml's execute: section, with jupyter-book's defaults for what it leaves out."""
    execute = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("execute", {})
    if execute.get("execute_notebooks", "cache") != "cache":
        raise SystemExit(f"{config}: execute_notebooks must be 'cache' for this script")
    if execute.get("exclude_patterns"):
        raise SystemExit(f"{config}: execute.exclude_patterns is not supported by this script")
    if execute.get("run_in_temp", False):
        raise SystemExit(f"{config}: run_in_temp is not supported here (notebooks run in place)")
    return {
        "timeout": execute.get("timeout", 30),
        "allow_errors": execute.get("allow_errors", False),
        "cache": ROOT / execute["cache"] if execute.get("cache") else DEFAULT_CACHE,
    }


def read_notebook(path: Path) -> nbformat.NotebookNode:
    # as myst-nb reads an .ipynb file (myst_nb.core.read: nbformat version 4). nbformat warns
    # on cells without an id (older notebooks) and leaves them as they are: the same notebook
    # and hash as myst-nb's, without the warning in the build log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingIDFieldWarning)
        return nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)


def run_one(job: tuple[str, int, bool]) -> tuple[str, object, float, str | None]:
    """Execute one notebook in its own folder: (path, executed notebook, seconds, traceback).

    Once the last cell has run, the kernel is killed (its process group, SIGKILL) instead of
    being asked to shut down: a kernel that has imported TensorFlow took 2 to 3 s to exit, about
    a fifth of the whole execution of the book. Nothing is lost: the outputs are already here,
    and what a kernel would clean up as it exits (its temporary folders, Dask's scratch space)
    lies in a temporary folder of its own (TMPDIR), removed here after each notebook.
    """
    path, timeout, allow_errors = job
    nb = read_notebook(Path(path))
    with tempfile.TemporaryDirectory(prefix="aeutil-book-") as tmp, kernel_tmpdir(tmp):
        result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout,
                                     allow_errors=allow_errors, meta_override=True,
                                     shutdown_kernel="immediate", config=kernel_config(tmp),
                                     kernel_manager_class=forked_kernels.kernel_manager_class())
    return path, result.nb, result.time, result.exc_string if result.err else None


def kernel_config(folder: str) -> Config:
    """Where the kernel listens: Unix sockets in `folder` where there are any, else TCP.

    Over TCP (127.0.0.1) without CurveZMQ keys, every kernel logs "Kernel is running over TCP
    without encryption" to the build log; Unix sockets are private to this user and quiet.
    Windows has no Unix sockets for ZeroMQ: there the kernel keeps TCP.
    """
    if os.name != "posix":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(folder) / "kernel")}})


@contextlib.contextmanager
def kernel_tmpdir(folder: str):
    """TMPDIR (TEMP and TMP on Windows) = folder for the kernels started inside the block."""
    names = ("TMPDIR", "TEMP", "TMP")
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, folder))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def previous_seconds(cache) -> dict[str, float]:
    """{path: execution seconds} of each notebook's latest cached run."""
    seconds = {}
    for record in sorted(cache.list_cache_records(), key=lambda r: r.created):
        if "execution_seconds" in record.data:
            seconds[record.uri] = record.data["execution_seconds"]
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=0,
                        help="notebooks executed at once (default 0: the number of CPU cores)")
    args = parser.parse_args(argv)
    settings = execute_settings()
    cache = get_cache(str(settings["cache"]))
    try:
        return execute(cache, settings, args.jobs)
    finally:
        cache.db.dispose()  # close the cache's SQLite connections


def execute(cache, settings: dict, jobs: int) -> int:
    """Run what the cache lacks, `jobs` at a time; 1 if a notebook raised."""
    todo = []
    for path in toc_notebooks():
        try:
            cache.match_cache_notebook(read_notebook(path))
        except KeyError:
            todo.append(str(path))
    if not todo:
        print("notebooks: all outputs are in the cache, nothing to execute")
        return 0
    before = previous_seconds(cache)
    todo.sort(key=lambda p: (before.get(p, 0.0), os.path.getsize(p)), reverse=True)
    jobs = min(jobs or os.cpu_count() or 1, len(todo))
    print(f"notebooks: executing {len(todo)} in {jobs} kernel(s) at a time", flush=True)

    failed = []
    started = time.perf_counter()
    work = [(p, settings["timeout"], settings["allow_errors"]) for p in todo]
    with multiprocessing.get_context("spawn").Pool(jobs, initializer=forked_kernels.start) as pool:
        for path, nb, seconds, traceback in pool.imap_unordered(run_one, work, chunksize=1):
            name = Path(path).relative_to(ROOT).as_posix()
            if traceback is not None:
                failed.append(name)
                print(f"  FAILED {name} ({seconds:.1f} s):\n{traceback}", file=sys.stderr,
                      flush=True)
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, path, data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True,
            )
            print(f"  {name}: {seconds:.1f} s", flush=True)
    print(f"notebooks: {time.perf_counter() - started:.1f} s in all", flush=True)
    if failed:
        print(f"error: {len(failed)} notebook(s) raised: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
