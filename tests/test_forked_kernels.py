"""Kernels forked from the zygote (tools/forked_kernels.py) are ordinary kernels.

tools/execute_notebooks.py runs the book's notebooks in kernels forked from a process that has
already imported the heavy libraries. These tests run the same probe notebook in an ordinary
kernel and in a forked one, through the executor's own run_one, and compare what the notebook
can see; and they check that a forked kernel dies with everything it started, and that the
executor falls back to ordinary kernels when the zygote is gone.
"""

from __future__ import annotations

import json
import os
import time

import nbformat
import pytest
from tooling import load_tool

execute_notebooks = load_tool("execute_notebooks")
forked_kernels = execute_notebooks.forked_kernels  # the module the executor uses

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not forked_kernels.supported(), reason="kernels are forked on Linux only"),
]

# What a notebook can see of its kernel's start: working folder, sys.path, environment,
# temporary folder, library settings (pandas, matplotlib, NumPy, Keras), warning filters,
# signal handlers, threads, logging; and what it draws from unseeded generators.
PROBE = r'''
%matplotlib inline
import json, logging, os, random, signal, subprocess, sys, tempfile, threading, warnings
import numpy as np
import pandas as pd
import matplotlib
import matplotlib.pyplot as plt
from pandas._config.config import _registered_options
from aeutil import _keras  # sets KERAS_BACKEND, as the zygote's imports did
import keras

unseeded = [random.random(), float(np.random.random())]  # before set_random_seed below
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="tanh"),
                          keras.layers.Dense(3)])
keras.utils.set_random_seed(0)
model = keras.models.clone_model(model)
model.compile(optimizer="adam", loss="mse")
x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
model.fit(x, x, epochs=2, batch_size=16, verbose=0)
report = {
    "cwd": os.getcwd(),
    "argv0": os.path.basename(sys.argv[0]),
    "path": sys.path,
    "environ": {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"},
    "tempdir": tempfile.gettempdir(),
    "pandas": {k: [repr(o.defval), repr(pd.get_option(k))]
               for k, o in _registered_options.items()},
    "rc": {k: repr(v) for k, v in matplotlib.rcParams.items()},
    "backend": matplotlib.get_backend(),
    "numpy": repr(np.get_printoptions()),
    "warnings": [repr(f) for f in warnings.filters],
    "signals": {s.name: repr(signal.getsignal(s))
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE)},
    "threads": sorted(t.name for t in threading.enumerate()),
    "logging": [logging.getLogger().level,
                [type(h).__name__ for h in logging.getLogger().handlers]],
    "hooks": [type(sys.displayhook).__name__, type(sys.stdout).__name__],
    "keras": [keras.config.backend(), keras.config.floatx()],
    "weights": [w.tobytes().hex() for w in model.get_weights()],
    "own_process_group": os.getpgid(0) == os.getpid(),
    "subprocess": subprocess.run([sys.executable, "-c", "print(6 * 7)"],
                                 capture_output=True, text=True).stdout.strip(),
    "unseeded": unseeded,
}
print(json.dumps(report, ensure_ascii=False, sort_keys=True))
'''


def write_notebook(folder, name: str, *sources: str):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3",
                              "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def run(path):
    """The notebook at `path` run as the executor runs it: its outputs, or the traceback."""
    _, nb, _, traceback = execute_notebooks.run_one((str(path), 120, False))
    assert traceback is None, traceback
    return nb


def probe(path) -> dict:
    outputs = run(path).cells[0].outputs
    return json.loads(next(o.text for o in outputs if o.get("name") == "stdout"))


@pytest.fixture
def zygote():
    forked_kernels.start()
    assert forked_kernels._zygote is not None
    yield forked_kernels._zygote
    forked_kernels.stop()


def test_a_forked_kernel_sees_what_an_ordinary_kernel_sees(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    path = write_notebook(tmp_path, "probe", PROBE)
    ordinary = probe(path)
    forked_kernels.start()
    try:
        forked, again = probe(path), probe(path)
    finally:
        forked_kernels.stop()

    assert ordinary["cwd"] == str(tmp_path)
    assert ordinary["subprocess"] == "42" and ordinary["own_process_group"] is True
    # every item is the same, but for the temporary folder (one per run, as TMPDIR says) ...
    per_run = {"TMPDIR", "TEMP", "TMP"}
    for report in (ordinary, forked, again):
        assert os.path.basename(report["tempdir"]).startswith("aeutil-book-")
        assert report["environ"]["TMPDIR"] == report["tempdir"]
    for report in (forked, again):
        for key in ordinary.keys() - {"tempdir", "environ", "unseeded", "warnings"}:
            assert report[key] == ordinary[key], key
        # The same warning filters. Their order follows the order of the imports (each module
        # puts its filters first), which in an ordinary kernel depends on the notebook too;
        # none of them matches a warning that another one matches.
        assert sorted(report["warnings"]) == sorted(ordinary["warnings"])
        assert ({k: v for k, v in report["environ"].items() if k not in per_run}
                == {k: v for k, v in ordinary["environ"].items() if k not in per_run})
    # ... and for the unseeded draws, which each kernel makes anew, as a new interpreter does
    for i in (0, 1):  # random, NumPy
        assert len({r["unseeded"][i] for r in (ordinary, forked, again)}) == 3


def test_a_forked_kernel_is_killed_with_what_it_started(tmp_path, monkeypatch, zygote):
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    path = write_notebook(tmp_path, "sleeper",
                          "import subprocess\nprint(subprocess.Popen(['sleep', '300']).pid)")
    nb = run(path)
    sleeper = int(nb.cells[0].outputs[0].text)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(sleeper, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(sleeper, 9)
        pytest.fail("the kernel's child outlived the kernel")


def test_without_its_zygote_the_executor_starts_ordinary_kernels(tmp_path, monkeypatch,
                                                                 capfd, zygote):
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    zygote.process.kill()
    zygote.process.wait()
    path = write_notebook(tmp_path, "plain", "print(1 + 1)")
    assert run(path).cells[0].outputs[0].text == "2\n"
    assert "no forked kernels" in capfd.readouterr().err
    assert forked_kernels._zygote is None
    assert run(path).cells[0].outputs[0].text == "2\n"
