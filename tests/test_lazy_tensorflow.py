"""TensorFlow is imported only when a model needs it (issue 12)."""

from __future__ import annotations

import subprocess
import sys

import pytest

GUARD = "import sys"
#: Scoring on Dask from Parquet (issue 15) loads these; `import aeutil` and the CSV path never do.
#: (pyarrow itself is imported by pandas 3, which backs its text columns with it, as soon as
#: pandas is; the Parquet reader and writer, pyarrow.parquet, only on the Parquet path.)
DASK = {"dask", "distributed"}
NO_PARQUET = "assert 'pyarrow.parquet' not in sys.modules, 'the CSV path loaded pyarrow.parquet'\n"
CHECK = "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"


def _run(code: str) -> None:
    subprocess.run([sys.executable, "-c", f"{GUARD}\n{code}\n{CHECK}\n"], check=True)


def test_import_data_thresholds_evaluation_and_csv_need_no_tensorflow(tmp_path):
    csv = tmp_path / "d.csv"
    _run(
        "import aeutil, numpy as np\n"
        "df = aeutil.make_three_clusters(seed=1)\n"
        "aeutil.make_uniform_points(n=10); aeutil.make_1d_data()\n"
        "aeutil.simulate_machine(n_samples=2000)\n"
        "s = np.arange(10.0)\n"
        "aeutil.threshold_percentile(s, 90); aeutil.threshold_mean_std(s)\n"
        "aeutil.evaluate(s, np.array([0, 1] * 5), 4.5)\n"
        f"df.to_csv({str(csv)!r}, index=False); aeutil.read_csv({str(csv)!r}, encoding='utf-8')\n"
    )


def test_fitting_and_scoring_a_dense_model_needs_no_tensorflow(tmp_path):
    path = tmp_path / "m.keras"
    _run(
        "import aeutil\n"
        "df = aeutil.make_three_clusters(seed=1)[['feature1', 'feature2']]\n"
        "d = aeutil.AutoEncoderDetector(epochs=2).fit(df)\n"
        f"d.save({str(path)!r})\n"
        f"aeutil.AutoEncoderDetector.load({str(path)!r}).predict(df)\n"
        "u = aeutil.AutoEncoderUtil(df=df).fit(['feature1', 'feature2'], epochs=2)\n"
        "u.predict(['feature1', 'feature2'])\n"
    )


def _loaded_after(code: str) -> set[str]:
    """Top-level packages a fresh interpreter has loaded after running ``code``."""
    script = f"import sys\n{code}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                            text=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["score", "--help"]])
def test_cli_help_needs_no_tensorflow(argv):
    # nor scikit-learn, nor even NumPy and pandas: the help is argparse alone
    loaded = _loaded_after(
        "import contextlib, io, aeutil.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert aeutil.cli.main({argv!r}) == 0\n"
    )
    assert not loaded & {"tensorflow", "keras", "sklearn", "scipy", "numpy", "pandas", *DASK}, loaded


def test_import_aeutil_loads_neither_dask_nor_pyarrow():
    loaded = _loaded_after("import aeutil\nassert aeutil.__version__")
    assert not loaded & {*DASK, "pyarrow", "pandas"}, loaded


def test_python_dash_m_help_loads_only_the_parser():
    loaded = _loaded_after(
        "import contextlib, io, runpy\n"
        "sys.argv = ['aeutil', 'score', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        runpy.run_module('aeutil', run_name='__main__')\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0\n"
    )
    assert "aeutil" in loaded
    assert not loaded & {"tensorflow", "keras", "sklearn", "scipy", "numpy", "pandas"}, loaded


def test_cli_fit_and_score_of_a_dense_model_need_neither_tensorflow_nor_sklearn(tmp_path):
    csv, model, out = tmp_path / "d.csv", tmp_path / "m.keras", tmp_path / "scored.csv"
    rows = [f"{0.1 * i:.3f},{(-1) ** i * 0.05 * i:.3f},x{i}" for i in range(60)]
    csv.write_text("a,b,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    fit = ["fit", str(csv), "--encoding", "utf-8", "--columns", "a,b", "--model", str(model),
           "--epochs", "3"]
    score = ["score", str(csv), "--encoding", "utf-8", "--model", str(model),
             "--output", str(out)]
    loaded = _loaded_after(
        "import contextlib, io, aeutil.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert aeutil.cli.main({fit!r}) == 0\n"
        f"    assert aeutil.cli.main({score!r}) == 0\n"
        + NO_PARQUET
    )
    assert out.read_text(encoding="utf-8").count("\n") == 61
    assert not loaded & {"tensorflow", "keras", "sklearn", "scipy", *DASK}, loaded


def test_cli_score_with_explain_needs_neither_tensorflow_nor_sklearn(tmp_path):
    # --explain computes the contributions with the NumPy engine too
    csv, model, out = tmp_path / "d.csv", tmp_path / "m.keras", tmp_path / "scored.csv"
    rows = [f"{0.1 * i:.3f},{(-1) ** i * 0.05 * i:.3f},x{i}" for i in range(60)]
    rows[30] = "0.100,9.000,x30"  # far from the rest: flagged
    csv.write_text("a,b,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    fit = ["fit", str(csv), "--encoding", "utf-8", "--columns", "a,b", "--model", str(model),
           "--epochs", "3"]
    score = ["score", str(csv), "--encoding", "utf-8", "--model", str(model),
             "--output", str(out), "--explain", "2"]
    loaded = _loaded_after(
        "import contextlib, io, aeutil.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert aeutil.cli.main({fit!r}) == 0\n"
        f"    assert aeutil.cli.main({score!r}) == 0\n"
        + NO_PARQUET
    )
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "a,b,note,再構成誤差,判定,要因1,要因1の割合,要因2,要因2の割合"
    assert len(lines) == 61 and ",異常,b,0." in lines[31]
    assert not loaded & {"tensorflow", "keras", "sklearn", "scipy", *DASK}, loaded


def test_model_attribute_builds_keras_on_demand():
    code = (
        "import sys, numpy as np, aeutil\n"
        "df = aeutil.make_three_clusters(seed=1)[['feature1', 'feature2']]\n"
        "d = aeutil.AutoEncoderDetector(epochs=2, n_models=2).fit(df)\n"
        "assert 'tensorflow' not in sys.modules\n"
        "m = d.model_\n"
        "X = df.to_numpy(np.float32)\n"
        "np.testing.assert_allclose(m.predict(X, verbose=0), d.reconstruction_error(X), rtol=1e-5, atol=1e-7)\n"
        "assert m.get_layer('anomaly_score').threshold == d.threshold_\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_submodules_are_reachable_from_a_plain_import():
    # notebooks write aeutil.model.default_architecture after only `import aeutil`
    code = (
        "import aeutil, sys\n"
        "assert aeutil.model.default_architecture(2) == ((8,), 4)\n"
        "assert callable(aeutil.cli.main)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_another_keras_backend_is_refused_before_tensorflow_is_loaded():
    # KERAS_BACKEND decides Keras' backend; aeutil refuses any other than TensorFlow at once,
    # in Japanese, without the seconds TensorFlow's import takes
    code = (
        "import os, sys\n"
        "os.environ['KERAS_BACKEND'] = 'jax'\n"
        "try:\n"
        "    import aeutil.model\n"
        "except ImportError as error:\n"
        "    assert 'KERAS_BACKEND' in str(error) and \"'jax'\" in str(error), error\n"
        "else:\n"
        "    raise SystemExit('aeutil.model was imported with KERAS_BACKEND=jax')\n"
        f"{CHECK}\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
