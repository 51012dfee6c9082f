"""The build's own tools: which Python the Makefile takes (tools/find-python), the lock check's
helpers (tools/lockcheck.py, offline parts) and the parallel notebook execution
(tools/execute_notebooks.py).

No network. The interpreters here are stand-ins: small shell scripts that answer the probe of
tools/find-python with the version they pretend to be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from booktoc import book_documents
from tooling import load_tool

ROOT = Path(__file__).resolve().parent.parent
FIND_PYTHON = ROOT / "tools" / "find-python"
NEEDS_SH = pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")


lockcheck = load_tool("lockcheck")
execute_notebooks = load_tool("execute_notebooks")


# tools/find-python ---------------------------------------------------------------------------


def fake_python(folder: Path, name: str, answer: str | None) -> Path:
    """A stand-in interpreter on PATH: prints `answer` to the probe (None: fails like a pyenv
    shim for a version that is not selected)."""
    path = folder / name
    if answer is None:
        path.write_text("#!/bin/sh\necho 'pyenv: command not found' >&2\nexit 127\n")
    else:
        path.write_text(f"#!/bin/sh\necho '{answer}'\n")
    path.chmod(0o755)
    return path


def find_python(folder: Path, *args: str) -> subprocess.CompletedProcess:
    # PATH holds the stand-ins and the basic commands only (no real python)
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("sh", "cat"):
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": f"{folder}:{bin_dir}", "LANG": "C.UTF-8"}
    return subprocess.run(["sh", str(FIND_PYTHON), *args], env=env, capture_output=True,
                          text=True, cwd=folder)


@NEEDS_SH
@pytest.mark.parametrize(
    ("answers", "chosen"),
    [
        # the first supported one in the order python3.13, python3.12, python3.11, python3
        ({"python3.13": "CPython 3 13 0", "python3.12": "CPython 3 12 1"}, "python3.13"),
        ({"python3.13": "CPython 3 14 0", "python3.12": "CPython 3 12 1"}, "python3.12"),
        # a pyenv shim that does not run is skipped (this machine: python3.13 -> exit 127)
        ({"python3.13": None, "python3.11": "CPython 3 11 7"}, "python3.11"),
        # Debian 12's python3.11 is 3.11.2: supported
        ({"python3.11": "CPython 3 11 2"}, "python3.11"),
        ({"python3.11": "CPython 3 11 1", "python3": "CPython 3 12 3"}, "python3"),
        ({"python3": "PyPy 3 11 13", "python": "CPython 3 13 5"}, "python"),
    ],
)
def test_find_python_takes_the_first_supported(tmp_path, answers, chosen):
    for name, answer in answers.items():
        fake_python(tmp_path, name, answer)
    result = find_python(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / chosen)


@NEEDS_SH
@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("CPython 3 14 0", "TensorFlow 2.21 has no wheels for Python 3.14"),
        ("CPython 3 15 0", "TensorFlow 2.21 has no wheels for Python 3.14 or later"),
        ("CPython 3 11 1", "Python 3.11.1 is older than 3.11.2"),
        ("CPython 3 10 12", "older than 3.11.2"),
        ("PyPy 3 11 13", "not CPython"),
        (None, "does not run"),
    ],
)
def test_find_python_explains_a_refusal(tmp_path, answer, reason):
    fake_python(tmp_path, "python3", answer)
    result = find_python(tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert reason in result.stderr
    assert "CPython 3.11.2 to 3.13" in result.stderr
    assert "make book PYTHON=" in result.stderr


@NEEDS_SH
def test_find_python_given_one_checks_only_that_one(tmp_path):
    fake_python(tmp_path, "python3.13", "CPython 3 13 0")
    mine = fake_python(tmp_path, "mine", "CPython 3 14 1")
    result = find_python(tmp_path, str(mine))
    assert result.returncode == 1
    assert "(tried " + str(mine) + ")" in result.stderr
    assert "3.14" in result.stderr
    ok = fake_python(tmp_path, "other", "CPython 3 12 8")
    assert find_python(tmp_path, str(ok)).stdout.strip() == str(ok)
    assert find_python(tmp_path, "").stdout.strip() == str(tmp_path / "python3.13")


@NEEDS_SH
def test_find_python_accepts_this_interpreter():
    # the real probe on the Python running the tests (CI: 3.11)
    result = subprocess.run(["sh", str(FIND_PYTHON), sys.executable], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sys.executable


@NEEDS_SH
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_venv_stops_before_making_a_venv_on_314(tmp_path):
    # `make venv PYTHON=python3.14` in a copy of the build files: the clear message, no .venv
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "tools").mkdir()
    shutil.copy(FIND_PYTHON, tmp_path / "tools" / "find-python")
    fake = fake_python(tmp_path, "python3.14", "CPython 3 14 0")
    result = subprocess.run(["make", "venv", f"PYTHON={fake}"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode != 0
    assert "TensorFlow 2.21 has no wheels for Python 3.14" in result.stderr
    assert not (tmp_path / ".venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_book_executes_notebooks_only_after_one_changed(tmp_path):
    # `make -n book` (prints the commands, runs none) in a copy of the build files
    for name in ("Makefile", "requirements.txt", "pyproject.toml", "book/_toc.yml",
                 "book/_config.yml", "tools/execute_notebooks.py", "tools/forked_kernels.py",
                 "notebooks/00_introduction.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    venv_stamp = tmp_path / ".venv" / ".installed"
    executed = tmp_path / "_build" / ".jupyter_cache" / "executed.stamp"

    def commands() -> str:
        result = subprocess.run(["make", "-n", "book"], cwd=tmp_path, capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def touch(path: Path, age: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (time.time() - age, time.time() - age))

    for name in ("requirements.txt", "pyproject.toml", "book/_toc.yml", "book/_config.yml",
                 "tools/execute_notebooks.py", "tools/forked_kernels.py",
                 "notebooks/00_introduction.ipynb"):
        touch(tmp_path / name, 300)
    touch(venv_stamp, 200)
    assert "tools/execute_notebooks.py" in commands()  # no stamp: never executed here
    touch(executed, 100)
    out = commands()
    assert "tools/execute_notebooks.py" not in out and "run_jupyter_book.py build" in out
    touch(tmp_path / "notebooks" / "00_introduction.ipynb", 0)  # a chapter was edited
    assert "tools/execute_notebooks.py" in commands()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lets_python_write_pyc_files_even_where_the_shell_forbids_it():
    # uv installs without compiling .pyc files; Python writes them on first import. Were
    # PYTHONDONTWRITEBYTECODE passed on, every kernel would compile its imports at each start.
    probe = "probe: ; @echo \"[$${PYTHONDONTWRITEBYTECODE:-}]\"; python3 -c 'import sys; " \
            "print(sys.flags.dont_write_bytecode)'"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("MAKEFLAGS", None)
    result = subprocess.run(["make", "-s", "--eval", probe, "probe"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "0"]


def test_supported_range_is_the_same_everywhere():
    # find-python's bounds, the lock's oldest Python and the versions lockcheck resolves
    text = FIND_PYTHON.read_text(encoding="utf-8")
    assert '[ "$4" -lt 2 ]' in text and '[ "$3" -ge 14 ]' in text  # 3.11.2 <= v < 3.14
    assert lockcheck.OLDEST == "3.11.2"
    assert lockcheck.PYTHONS == ("3.11.2", "3.12", "3.13")
    assert lockcheck.UNSUPPORTED == ("3.14",)


# tools/lockcheck.py (its offline parts) --------------------------------------------------------

LOCK = """\
# This file was autogenerated by uv via the following command:
#    make lock
numpy==2.4.6
    # via pandas
soupsieve==2.10 ; python_full_version < '3.11.5'
soupsieve==4.1.3 ; python_full_version >= '3.11.5'
"""


def test_pins_reads_a_lock():
    assert lockcheck.pins(LOCK) == {"numpy": {"==2.4.6"}, "soupsieve": {"==2.10", "==4.1.3"}}


def test_not_in_lock_finds_a_missing_package_or_version():
    assert lockcheck.not_in_lock("numpy==2.4.6\nsoupsieve==2.10\n", LOCK) == []
    assert lockcheck.not_in_lock("numpy==2.4.7\nwheel==0.48.0\n", LOCK) == [
        "numpy==2.4.7", "wheel==0.48.0"]


def test_resolve_command_is_wheels_only_but_for_japanize():
    command = lockcheck.resolve_command("uv", "3.12", "x86_64-pc-windows-msvc", "out.txt")
    assert command[:4] == ["uv", "pip", "compile", "requirements.txt"]
    joined = " ".join(command)
    assert "--python-version 3.12 --python-platform x86_64-pc-windows-msvc" in joined
    assert "--only-binary :all:" in joined and "--no-binary japanize-matplotlib" in joined
    assert "--no-python-downloads" in joined
    loose = lockcheck.resolve_command("uv", "3.14", "x", "o", wheels_only=False)
    assert "--only-binary" not in loose


def test_lock_command_makes_one_universal_lock():
    command = lockcheck.lock_command("uv", "requirements.txt")
    joined = " ".join(command)
    assert command[:4] == ["uv", "pip", "compile", "requirements.in"]
    assert "--universal --python-version 3.11.2" in joined
    assert "--custom-compile-command make lock" in joined


def test_first_error_line_prefers_the_hint():
    stderr = "error: No solution found\n  cause: Because x\n\nhint: You require CPython 3.14\n"
    assert lockcheck.first_error_line(stderr) == "hint: You require CPython 3.14"
    assert lockcheck.first_error_line("boom\n") == "boom"


# tools/execute_notebooks.py ------------------------------------------------------------------


def test_toc_notebooks_are_the_ipynb_pages_of_the_toc():
    found = [p.relative_to(ROOT).with_suffix("").as_posix()
             for p in execute_notebooks.toc_notebooks()]
    expected = [d for d in book_documents() if (ROOT / f"{d}.ipynb").is_file()]
    assert found == expected
    assert "notebooks/01_autoencoder" in found and "book/engine" in found


def test_execute_settings_follow_the_book_config():
    settings = execute_notebooks.execute_settings()
    assert settings["timeout"] == 600
    assert settings["allow_errors"] is False
    assert settings["cache"] == ROOT / "_build" / ".jupyter_cache"


def small_book(folder: Path, cells: dict[str, list[str]]) -> Path:
    """A book with one notebook per entry of `cells` and the project's _config.yml."""
    (folder / "book").mkdir()
    (folder / "tools").mkdir()
    (folder / "nb").mkdir()
    shutil.copy(ROOT / "book" / "_config.yml", folder / "book" / "_config.yml")
    shutil.copy(ROOT / "tools" / "execute_notebooks.py", folder / "tools")
    shutil.copy(ROOT / "tools" / "forked_kernels.py", folder / "tools")
    chapters = "\n".join(f"  - file: nb/{name}" for name in cells)
    (folder / "book" / "_toc.yml").write_text(
        f"format: jb-book\nroot: nb/{next(iter(cells))}\nchapters:\n{chapters}\n",
        encoding="utf-8")
    for name, sources in cells.items():
        nb = {
            "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                       "metadata": {}, "outputs": [], "source": src}
                      for i, src in enumerate(sources)],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5,
        }
        (folder / "nb" / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return folder / "tools" / "execute_notebooks.py"


def run_script(script: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, JUPYTER_PREFER_ENV_PATH="1")
    return subprocess.run([sys.executable, str(script), "--jobs", "2"], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.mark.slow
def test_execute_notebooks_caches_what_myst_nb_matches_and_fails_on_an_error(tmp_path):
    from jupyter_cache import get_cache

    script = small_book(tmp_path, {
        "good": ["import os\nprint(os.getcwd())", "import sys\nprint('to stderr', file=sys.stderr)",
                 # left behind, as a notebook's TemporaryDirectory would be by a killed kernel
                 "import tempfile\nprint(tempfile.mkdtemp())"],
        "bad": ["x = 1", "raise ValueError('boom')"],
    })
    result = run_script(script)
    assert result.returncode == 1
    assert "FAILED nb/bad.ipynb" in result.stderr and "boom" in result.stderr
    assert "error: 1 notebook(s) raised: nb/bad.ipynb" in result.stderr
    # the kernels listen on Unix sockets, so they log nothing about unencrypted TCP
    if os.name == "posix":
        assert "without encryption" not in result.stderr

    cache = get_cache(str(tmp_path / "_build" / ".jupyter_cache"))
    try:
        good = execute_notebooks.read_notebook(tmp_path / "nb" / "good.ipynb")
        bad = execute_notebooks.read_notebook(tmp_path / "nb" / "bad.ipynb")
        # the good notebook is found the way myst-nb looks (the hash of the notebook as read) ...
        record = cache.match_cache_notebook(good)
        outputs = cache.get_cache_bundle(record.pk).nb.cells
        # ... ran in its own folder, and its stderr output is kept (the build warns on it)
        assert outputs[0].outputs[0].text.strip() == str(tmp_path / "nb")
        assert outputs[1].outputs[0].name == "stderr"
        # the kernel's temporary files went into a folder of its own, removed afterwards
        left = Path(outputs[2].outputs[0].text.strip())
        assert left.parent.name.startswith("aeutil-book-")
        assert not left.parent.exists()
        # the failed one is not cached: the build would execute it and fail
        with pytest.raises(KeyError):
            cache.match_cache_notebook(bad)
    finally:
        # close the SQLite connections now (Python 3.13 warns about one left open)
        cache.db.dispose()

    # once fixed, only that one runs; then nothing runs
    path = tmp_path / "nb" / "bad.ipynb"
    path.write_text(path.read_text(encoding="utf-8").replace("raise ValueError('boom')", "x"),
                    encoding="utf-8")
    again = run_script(script)
    assert again.returncode == 0, again.stderr
    assert "executing 1 in 1 kernel(s)" in again.stdout
    assert "nothing to execute" in run_script(script).stdout


def test_execute_notebooks_does_not_compile_the_uri_grammar():
    # rfc3987-syntax builds a parser when imported (0.7 s); nbformat's schema never needs it
    result = subprocess.run([sys.executable, "-X", "importtime",
                             str(ROOT / "tools" / "execute_notebooks.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "nbformat" in imported  # the import report is there ...
    assert "lark" not in imported  # ... without the parser library the grammar is built with


def test_kernel_tmpdir_sets_and_restores_the_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", "/somewhere")
    monkeypatch.delenv("TEMP", raising=False)
    with execute_notebooks.kernel_tmpdir(str(tmp_path)):
        assert [os.environ[name] for name in ("TMPDIR", "TEMP", "TMP")] == [str(tmp_path)] * 3
    assert os.environ["TMPDIR"] == "/somewhere"
    assert "TEMP" not in os.environ


APT_INSTALL = ROOT / "tools" / "apt-install"


def _bin_with(folder: Path, **scripts: str) -> str:
    """A PATH of stand-ins (name -> sh body) plus the few real commands the script needs."""
    folder.mkdir()
    for name in ("env", "id"):
        (folder / name).symlink_to(shutil.which(name))
    for name, body in scripts.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return str(folder)


@NEEDS_SH
def test_apt_install_says_what_is_missing_without_apt_get(tmp_path):
    result = subprocess.run(["/bin/sh", str(APT_INSTALL), "missing: qpdf", "qpdf"],
                            env={"PATH": _bin_with(tmp_path / "bin")}, capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert "missing: qpdf and apt-get is not available here: install qpdf" in result.stderr


@NEEDS_SH
@pytest.mark.skipif(os.geteuid() != 0, reason="the stand-in apt-get runs as root only")
def test_apt_install_updates_the_package_lists_only_when_the_install_fails(tmp_path):
    log = tmp_path / "calls"
    # fails until `apt-get update` has run, as in a container without package lists
    apt = (f'echo "$*" >> {log}\n'
           f'if [ "$1" = update ]; then : > {tmp_path}/lists; exit 0; fi\n'
           f'[ -e {tmp_path}/lists ]')
    path = _bin_with(tmp_path / "bin", **{"apt-get": apt})
    result = subprocess.run(["/bin/sh", str(APT_INSTALL), "x is missing", "poppler-utils", "qpdf"],
                            env={"PATH": path}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    install = "install -y --no-install-recommends poppler-utils qpdf"
    assert log.read_text().splitlines() == [install, "update", install]
    # with the lists present, one install and no update
    log.unlink()
    result = subprocess.run(["/bin/sh", str(APT_INSTALL), "x is missing", "qpdf"],
                            env={"PATH": path}, capture_output=True, text=True)
    assert result.returncode == 0
    assert log.read_text().splitlines() == ["install -y --no-install-recommends qpdf"]


def test_run_jupyter_book_does_not_compile_the_uri_grammar():
    # jsonschema imports rfc3987-syntax, which builds a parser (1.6 s); jupyter-book never needs it
    result = subprocess.run([sys.executable, "-X", "importtime",
                             str(ROOT / "tools" / "run_jupyter_book.py"), "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Jupyter Book" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "jsonschema" in imported  # jupyter-book's config check is there ...
    assert "lark" not in imported  # ... without the parser library the grammar is built with


def test_the_book_build_keeps_keras_mocked_after_autodoc_imported_a_module():
    # autodoc looks up overloaded signatures in the module of each class of a documented class's
    # MRO, the mocked Keras base classes included, after its own mock is gone: without the
    # extension's mock that imported the real aeutil._keras, and TensorFlow (2.3 s per build).
    code = """
import sys, types
sys.path.insert(0, "book/_ext")
import mocked_source
from sphinx.ext.autodoc.mock import mock
from sphinx.pycode import ModuleAnalyzer
from sphinx.errors import PycodeError
app = types.SimpleNamespace(config=types.SimpleNamespace(autodoc_mock_imports=["aeutil._keras"]))
with mock(["aeutil._keras"]):
    import aeutil.model
base = aeutil.model.ReconstructionError.__mro__[1]
assert base.__module__.startswith("aeutil._keras"), base.__module__
mocked_source._mock_on(app)
try:
    ModuleAnalyzer.for_module(base.__module__)
except PycodeError:
    pass
print("tensorflow" in sys.modules, "keras" in sys.modules)
mocked_source._mock_off(app, None)
assert "aeutil._keras" not in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
