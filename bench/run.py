"""The benchmark suite: one table, every row measured side by side in this run.

Absolute times on a shared machine are noise; each row compares two things measured
in the same process on the same data, and reports the ratio.

1. fit     - the article's 3-cluster demo (300 rows x 2, 8-4-8, 100 epochs, batch 16,
             Adam 1e-3): AutoEncoderUtil.fit against the article's own class
             (bench/article_original.py), both seeded; time and final training loss.
             Like for like, aeutil trains one network here (n_models=1), reported twice: the
             first fit in the process and later fits (Dense models train in NumPy, so there is
             no graph to build the first time; the two rows show that). A third row times the
             defaults, which train five networks at once and average them.
2. score   - 1,000,000 rows x 10 features, the default model (5 networks of 8-4-8):
             AutoEncoderUtil.predict against model.predict (default batch 32) and against a
             plain NumPy forward pass of the same weights (one matmul per layer and network).
3. grid    - the 200 x 200 plot grid of plot_ae_results, scored.
   cli     - `aeutil fit` then `aeutil score` from the shell on the article's data
             (make_three_clusters written to a CSV; bench/bench_startup.py), wall time of the
             two processes, and `aeutil --help` / `aeutil score --help`, each against the code
             before issue 12 (1ddad9d, the parent of 1a6751c, exported with git archive and
             run in the same way, alternating with the current code in this run).
4. book    - install and build as a reader meets them, in a fresh clone of the committed tree
             (issue 14): git clone + make book, a cold build (notebooks in parallel) against
             the serial jupyter-book build, a cached rebuild, and make venv with uv (warm and
             empty cache) against pip (skip with --skip-book, or the pip row with --skip-pip;
             about 10 minutes).
   dask    - rows per second of aeutil score on a generated Parquet data set of 21 million rows
             (a plant's year: 20 machines, every 30 s, one file per machine; issue 15), one
             process against Dask with 1 and 2 workers (LocalCluster, one thread each): the
             command from the shell (Dask's time includes starting the cluster) and the API on a
             running cluster; peak memory (RSS) of the process and of each worker; the outputs
             compared row for row (bench/bench_dask.py; skip with --skip-dask).
5. peers   - ROC-AUC, PR-AUC, fit and score time of aeutil, PyOD's AutoEncoder (its
             defaults) and scikit-learn's IsolationForest on the same splits of three data
             sets: the three-cluster demo with labelled outliers, the chapter-8 machine
             simulator (flattened windows) and Shuttle (chapter 9). Every detector is fitted
             with 5 seeds: the table gives the mean, the spread (standard deviation) and the
             worst seed. aeutil appears three times: its defaults (5 networks averaged, width
             from the number of columns: the article's 8-4-8 up to 16 columns, 64-16-64 for the
             simulator's 128; 50 epochs), the same with one network (n_models=1: the seed
             lottery the default avoids), and the settings the chapters use for that data
             set (with the default 5 networks). Needs the `bench` extra (PyOD and PyTorch),
             installed only in .venv-bench by `make bench`.

Run: make bench   (or .venv-bench/bin/python bench/run.py [--skip-book] [--skip-pip] [--only-book]
                  [--skip-peers] [--skip-dask] [--only-dask] [--seeds N] [--rows N])
A full run takes about 25 minutes on an idle 2-core machine (much longer on a busy one: PyTorch
threads compete); most of it is the install and build rows (four cold builds, a serial one, three
installs) and PyOD fitting Shuttle once per seed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aeutil
from aeutil._keras import keras
from aeutil.model import dense_chains

import numpy as np
import pandas as pd
from article_original import ArticleAutoEncoderUtil
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["feature1", "feature2"]


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, what: str, ours: str, theirs: str, ratio: str) -> None:
        self.rows.append((what, ours, theirs, ratio))
        print(f"  {what}: {ours} | {theirs} | {ratio}", flush=True)

    def print(self) -> None:
        header = ("measurement", "aeutil", "compared with", "ratio")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(4)]
        line = "  ".join("-" * w for w in widths)
        print()
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        print(line)
        for row in self.rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def numpy_lower_bound(model, X: np.ndarray) -> np.ndarray:
    """The plain forward pass: standardise, one matmul per Dense layer of each member, mean
    squared error, averaged over the members (one member: the article's single network)."""
    std = model.get_layer("standardize")
    z = (X - std.mean) / std.scale
    errors = []
    for chain in dense_chains(model):
        h = z
        for layer in chain:
            kernel, bias = layer.get_weights()
            h = h @ kernel + bias
            if layer.activation.__name__ == "relu":
                h = np.maximum(h, 0)
        errors.append(((h - z) ** 2).mean(axis=1))
    return np.mean(errors, axis=0)


# 1 -------------------------------------------------------------------------------------


def bench_fit(table: Table, repeat: int) -> None:
    df = aeutil.make_three_clusters(centers=((2, 2), (-2, -2), (0, 0)), scale=0.3, seed=42)
    df = df[COLUMNS]
    X = df.to_numpy(np.float32)
    std = X.std(axis=0)
    ours, article = [], []
    for seed in range(repeat):
        # like for like: one network, as in the article (the defaults train five: row below)
        util, t_ours = timed(
            lambda s=seed: aeutil.AutoEncoderUtil(df=df, seed=s, n_models=1).fit(
                COLUMNS, epochs=100, batch_size=16, lr=1e-3
            )
        )
        # the article's loss is on raw data; also express it on the standardised scale
        keras.utils.set_random_seed(seed)
        art = ArticleAutoEncoderUtil(df=df)
        hist, t_art = timed(
            lambda a=art: a.fit(COLUMNS, epochs=100, batch_size=16, lr=1e-3, verbose=0)
        )
        recon = np.asarray(art.model(X))
        art_std_loss = float(np.mean(((X - recon) / std) ** 2))
        ours.append((t_ours, util.history["loss"][-1]))
        article.append((t_art, hist.history["loss"][-1], art_std_loss))
    t_art = float(np.median([a[0] for a in article]))
    t_default = float(np.median([
        timed(lambda s=seed: aeutil.AutoEncoderUtil(df=df, seed=s).fit(
            COLUMNS, epochs=100, batch_size=16, lr=1e-3))[1]
        for seed in range(repeat)
    ]))
    first = ours[0][0]
    later = float(np.median([o[0] for o in ours[1:]])) if len(ours) > 1 else first
    loss_ours = float(np.median([o[1] for o in ours]))
    loss_art = float(np.median([a[2] for a in article]))
    table.add(
        "fit, article demo, first fit in the process",
        f"{first:.2f} s",
        f"article {t_art:.2f} s",
        f"{t_art / first:.1f}x faster",
    )
    table.add(
        "fit, article demo, later fits",
        f"{later:.3f} s",
        f"article {t_art:.2f} s",
        f"{t_art / later:.1f}x faster",
    )
    table.add(
        "fit, article demo, aeutil defaults (5 networks averaged)",
        f"{t_default:.3f} s",
        f"article {t_art:.2f} s (1 network)",
        f"{t_art / t_default:.1f}x faster",
    )
    table.add(
        "fit, final training loss (standardised, median)",
        f"{loss_ours:.5f}",
        f"article {loss_art:.5f}",
        f"{loss_art / loss_ours:.2f}x (article / aeutil)",
    )


# 2, 3 ----------------------------------------------------------------------------------


def bench_score(table: Table, rows: int, predict_rows: int) -> None:
    rng = np.random.default_rng(0)
    columns = [f"x{j}" for j in range(10)]
    mixing = rng.normal(size=(3, 10))
    train = pd.DataFrame(rng.normal(size=(5000, 3)) @ mixing, columns=columns)
    util = aeutil.AutoEncoderUtil(df=train, seed=0).fit(columns, epochs=20, batch_size=64)
    X = (rng.normal(size=(rows, 3)) @ mixing).astype(np.float32)
    frame = pd.DataFrame(X, columns=columns)

    def best(fn, n=3):
        return min(timed(fn)[1] for _ in range(n))

    t_ours = best(lambda: util.predict(columns, df=frame))
    t_numpy = best(lambda: numpy_lower_bound(util.model, X))
    Xp = X[:predict_rows]
    t_predict = best(lambda: util.model.predict(Xp, verbose=0), 1) * rows / len(Xp)
    np.testing.assert_allclose(
        util.predict(columns, df=frame)[1], numpy_lower_bound(util.model, X), rtol=1e-4, atol=1e-6
    )
    table.add(
        f"score {rows:,} x 10 vs model.predict (batch 32), default model (5 networks)",
        f"{rows / t_ours:,.0f} rows/s",
        f"{rows / t_predict:,.0f} rows/s",
        f"{t_predict / t_ours:,.0f}x faster",
    )
    table.add(
        f"score {rows:,} x 10 vs NumPy forward pass, same model",
        f"{rows / t_ours:,.0f} rows/s",
        f"{rows / t_numpy:,.0f} rows/s",
        f"{t_ours / t_numpy:.2f}x the time of the bound",
    )

    two_d = aeutil.AutoEncoderUtil(
        df=aeutil.make_three_clusters()[COLUMNS], seed=0
    ).fit(COLUMNS, epochs=20)
    xx, yy = np.meshgrid(np.linspace(-4, 4, 200), np.linspace(-4, 4, 200))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    t_grid = best(lambda: two_d.reconstruction_error(grid), 20)
    t_grid_predict = best(lambda: two_d.model.predict(grid, verbose=0), 1)
    table.add(
        "200 x 200 plot grid",
        f"{t_grid * 1e3:.1f} ms",
        f"model.predict {t_grid_predict * 1e3:.0f} ms",
        f"{t_grid_predict / t_grid:,.0f}x faster",
    )


# 4 -------------------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    """The environment of a reader's shell: no make variables from `make bench` itself."""
    env = dict(os.environ)
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


ROUNDS = 3


def _median(runs: list[tuple[float, str]]) -> tuple[float, str]:
    """The median run (seconds, load) with the range of all of them appended to the load."""
    ordered = sorted(runs)
    seconds, load = ordered[len(ordered) // 2]
    return seconds, f"{load}; median of {len(runs)}, {ordered[0][0]:.1f}-{ordered[-1][0]:.1f} s"


def bench_book(table: Table, with_pip: bool = True) -> None:
    """Install and build times as a reader meets them, in fresh clones of the committed tree.

    - fresh clone to a built site: `git clone` + `make book` (uv installs .venv from its warm
      cache, then the notebooks run in parallel and Sphinx builds the HTML);
    - a cold build: `make book` again after removing _build (the .venv stays), ROUNDS times;
    - a cached rebuild: `make book` once more (nothing to execute), ROUNDS times;
    - the serial build before issue 14 (jupyter-book alone executes the notebooks one by one),
      same clone, _build removed;
    - installing .venv: `make venv` with uv (warm cache, then an empty cache) against
      INSTALLER=pip (pip, its own warm cache), .venv removed before each.
    The load average (1 min) at the end of each measurement says how busy the machine was.
    """
    env = _clean_env()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "clone"

        def make(*args: str, extra: dict[str, str] | None = None) -> tuple[float, str]:
            started = time.perf_counter()
            subprocess.run(["make", *args], cwd=tree, check=True, capture_output=True,
                           env={**env, **(extra or {})})
            return time.perf_counter() - started, _load()

        started = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(tree)], check=True, env=env)
        _, load_clone = make("book")
        fresh = time.perf_counter() - started
        # This machine's speed varies by up to a fifth from one minute to the next (a shared
        # VM): the cold and cached builds are measured ROUNDS times each and judged by the median.
        colds = []
        for _ in range(ROUNDS):
            shutil.rmtree(tree / "_build")
            colds.append(make("book"))
        cacheds = [make("book") for _ in range(ROUNDS)]
        cold, load_cold = _median(colds)
        cached, load_cached = _median(cacheds)
        shutil.rmtree(tree / "_build")
        serial_cmd = [
            str(tree / ".venv" / "bin" / "jupyter-book"), "build", ".", "--path-output", ".",
            "--config", "book/_config.yml", "--toc", "book/_toc.yml", "--all", "-W", "-n",
            "--keep-going",
        ]
        (_, serial) = timed(lambda: subprocess.run(serial_cmd, cwd=tree, check=True,
                                                   capture_output=True, env=env))
        load_serial = _load()
        shutil.rmtree(tree / ".venv")
        install_uv, load_uv = make("venv")
        shutil.rmtree(tree / ".venv")
        with tempfile.TemporaryDirectory() as empty_cache:
            install_uv_cold, load_uv_cold = make("venv", extra={"UV_CACHE_DIR": empty_cache})
        if with_pip:
            shutil.rmtree(tree / ".venv")
            install_pip, load_pip = make("venv", extra={"INSTALLER": "pip"})
    table.add(
        "fresh clone to built site (git clone + make book)",
        f"{fresh:.0f} s ({load_clone})",
        "target < 150 s",
        "met" if fresh < 150 else "NOT met",
    )
    table.add(
        "book build, cold (make book: notebooks in parallel, .venv kept)",
        f"{cold:.0f} s ({load_cold})",
        f"serial jupyter-book {serial:.0f} s ({load_serial}); target < 100 s",
        f"{serial / cold:.1f}x faster, " + ("met" if cold < 100 else "NOT met"),
    )
    table.add(
        "book build, cached rebuild (make book)",
        f"{cached:.1f} s ({load_cached})",
        "target < 20 s",
        "met" if cached < 20 else "NOT met",
    )
    table.add(
        "install .venv (make venv, uv, warm cache)",
        f"{install_uv:.0f} s ({load_uv})",
        (f"pip {install_pip:.0f} s ({load_pip}); " if with_pip else "") + "target < 30 s",
        (f"{install_pip / install_uv:.1f}x faster, " if with_pip else "")
        + ("met" if install_uv < 30 else "NOT met"),
    )
    table.add(
        "install .venv (make venv, uv, empty cache: downloads everything)",
        f"{install_uv_cold:.0f} s ({load_uv_cold})",
        "target < 30 s",
        "met" if install_uv_cold < 30 else "NOT met",
    )


# 5 -------------------------------------------------------------------------------------


def _three_clusters():
    train = aeutil.make_three_clusters(seed=0)[COLUMNS].to_numpy()
    normal = aeutil.make_three_clusters(seed=1)[COLUMNS].to_numpy()
    far = aeutil.make_three_clusters(n_per_cluster=0, n_outliers=15, seed=2)[COLUMNS].to_numpy()
    uniform = aeutil.make_uniform_points(n=400, seed=3).to_numpy()
    centres = np.array([(1, 1), (-1, -1), (0, 0)])
    dist = np.min(np.linalg.norm(uniform[:, None, :] - centres[None], axis=2), axis=1)
    near = uniform[dist > 1.5][:15]
    test = np.vstack([normal, far, near])
    labels = np.r_[np.zeros(len(normal)), np.ones(len(far) + len(near))]
    config = {"epochs": 100, "batch_size": 16}
    return train, test, labels, config


def _machine():
    from aeutil.timeseries import simulate_machine
    from aeutil.windows import make_windows

    window, stride = 32, 4
    train_df, _ = simulate_machine(6000, seed=0)
    test_df, _ = simulate_machine(9000, seed=1, anomalies="default")
    channels = [c for c in train_df.columns if c not in ("time_s", "anomaly", "anomaly_kind")]
    x_train, _ = make_windows(train_df[channels].to_numpy(np.float32), window, stride)
    x_test, starts = make_windows(test_df[channels].to_numpy(np.float32), window, stride)
    point_labels = test_df["anomaly"].to_numpy()
    labels = np.array([point_labels[s : s + window].any() for s in starts], dtype=float)
    config = {"epochs": 20, "batch_size": 64, "hidden_units": (64,), "encoding_dim": 8}
    return x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1), labels, config


def _shuttle():
    X, y = aeutil.load_shuttle()
    X_train, X_test, y_test = aeutil.split_normal_train(X, y, seed=0)
    config = {"epochs": 30, "batch_size": 64, "hidden_units": (16,), "encoding_dim": 4}
    return (
        np.asarray(X_train, dtype=np.float32),
        np.asarray(X_test, dtype=np.float32),
        (np.asarray(y_test) == -1).astype(float),
        config,
    )


def bench_peers(table: Table, n_seeds: int) -> None:
    try:
        from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder
    except ImportError:
        table.add("peers (PyOD, IsolationForest)", "not run", "install the bench extra", "-")
        return
    for name, load in (
        ("three clusters", _three_clusters),
        ("machine simulator", _machine),
        ("Shuttle", _shuttle),
    ):
        train, test, labels, config = load()
        detectors = {
            "aeutil defaults": lambda s: aeutil.AutoEncoderDetector(seed=s),
            "aeutil defaults but n_models=1": lambda s: aeutil.AutoEncoderDetector(seed=s, n_models=1),
            "aeutil, chapter settings": lambda s, c=config: aeutil.AutoEncoderDetector(seed=s, **c),
            "PyOD AutoEncoder": lambda s: PyODAutoEncoder(random_state=s, verbose=0),
            "IsolationForest": lambda s: IsolationForest(random_state=s),
        }
        results = {}
        for label, make in detectors.items():
            rocs, prs, fits, scores_t = [], [], [], []
            for seed in range(n_seeds):
                model = make(seed)
                _, t_fit = timed(lambda m=model, x=train: m.fit(x))
                if label == "PyOD AutoEncoder":
                    scores, t_score = timed(lambda m=model, x=test: m.decision_function(x))
                else:  # scikit-learn convention: larger = more normal
                    scores, t_score = timed(lambda m=model, x=test: -m.score_samples(x))
                rocs.append(roc_auc_score(labels, scores))
                prs.append(average_precision_score(labels, scores))
                fits.append(t_fit)
                scores_t.append(t_score)
            results[label] = (rocs, prs, float(np.median(fits)), float(np.median(scores_t)))
        pyod_roc = float(np.mean(results["PyOD AutoEncoder"][0]))
        for label, (rocs, prs, t_fit, t_score) in results.items():
            table.add(
                f"{name}: {label}",
                f"ROC-AUC {np.mean(rocs):.3f} ± {np.std(rocs):.3f} (worst {np.min(rocs):.3f})",
                f"PR-AUC {np.mean(prs):.3f}; fit {t_fit:.2f} s, score {t_score:.3f} s",
                "-" if label == "PyOD AutoEncoder" else f"ROC-AUC {np.mean(rocs) - pyod_roc:+.3f} vs PyOD",
            )


def bench_cli(table: Table, repeat: int) -> None:
    from bench_startup import BEFORE, measure

    try:
        times = measure(repeat, BEFORE)
    except (subprocess.CalledProcessError, FileNotFoundError, AssertionError):
        times = measure(repeat, None)  # no git, or the old revision is not in this clone
    before = f"before issue 12 ({BEFORE[:7]})"
    for what, label in (
        ("aeutil fit + aeutil score", "cli: aeutil fit + aeutil score, article's data (300 x 2), "
                                      "from the shell"),
        ("aeutil --help", "cli: aeutil --help"),
        ("aeutil score --help", "cli: aeutil score --help"),
    ):
        now, then = times[what]
        if then is None:
            table.add(label, f"{now:.2f} s", "old code not measured (no git history)", "-")
        else:
            table.add(label, f"{now:.2f} s", f"{then:.2f} s {before}", f"{then / now:.1f}x faster")
    now, then = times["import aeutil"]
    print(f"  cli: import aeutil {now:.2f} s" + ("" if then is None else f" (before {then:.2f} s)"),
          flush=True)


def bench_dask(table: Table, rows_per_day: int) -> None:
    # in a process of its own: LocalCluster's workers (multiprocessing spawn) would import this
    # script's main module again, TensorFlow and scikit-learn included, and weigh 0.5 GB more
    import json

    with tempfile.TemporaryDirectory(prefix="bench_dask_") as folder:
        out = Path(folder) / "dask.json"
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_dask.py"),
                        "--rows-per-day", str(rows_per_day), "--json", str(out)], check=True)
        r = json.loads(out.read_text(encoding="utf-8"))
    rows = r["rows"]
    cli_s, cli_peak = r["cli"]
    what = f"dask: aeutil score, {rows:,} rows of Parquet (20 files)"
    table.add(f"{what}, one process, from the shell", f"{rows / cli_s:,.0f} rows/s",
              f"peak RSS {cli_peak / 2**20:,.0f} MB", "-")
    for n in (1, 2):
        seconds, _ = r[f"cli_w{n}"]
        table.add(f"{what}, --workers {n}, from the shell (cluster start included)",
                  f"{rows / seconds:,.0f} rows/s", f"one process {rows / cli_s:,.0f} rows/s",
                  f"{cli_s / seconds:.2f}x the speed of one process")
    for n in (1, 2):
        seconds, startup, peaks = r[f"api_w{n}"]
        memory = ", ".join(f"{p / 2**20:,.0f}" for p in peaks)
        table.add(f"{what}, Dask {n} worker(s), cluster running (API; start {startup:.1f} s)",
                  f"{rows / seconds:,.0f} rows/s", f"peak RSS per worker {memory} MB",
                  f"{cli_s / seconds:.2f}x the speed of one process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="fits per side in row 1")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--predict-rows", type=int, default=100_000,
                        help="rows given to model.predict (it is slow); its rate is per row")
    parser.add_argument("--skip-book", action="store_true")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--skip-pip", action="store_true",
                        help="book rows: leave out the install with pip (about 2 minutes)")
    parser.add_argument("--only-book", action="store_true",
                        help="only the install and build rows (section 4)")
    parser.add_argument("--skip-dask", action="store_true",
                        help="leave out the Parquet / Dask rows (about 5 minutes)")
    parser.add_argument("--only-dask", action="store_true", help="only the Parquet / Dask rows")
    parser.add_argument("--dask-rows-per-day", type=int, default=2880,
                        help="rows per machine and day in the dask rows (2880: every 30 s, "
                             "21,024,000 rows in all)")
    parser.add_argument("--seeds", type=int, default=5,
                        help="seeds per detector in the peers rows (PyOD on Shuttle is the slow part)")
    args = parser.parse_args()
    if shutil.which("git") is None:
        args.skip_book = True
    table = Table()
    print("measuring (each line as it is done):", flush=True)
    if args.only_dask:
        bench_dask(table, args.dask_rows_per_day)
        table.print()
        return
    if not args.only_book:
        bench_fit(table, args.repeat)
        bench_score(table, args.rows, args.predict_rows)
        bench_cli(table, args.repeat)
        if not args.skip_dask:
            bench_dask(table, args.dask_rows_per_day)
        if not args.skip_peers:
            bench_peers(table, args.seeds)
    if not args.skip_book:
        bench_book(table, with_pip=not args.skip_pip)
    table.print()


if __name__ == "__main__":
    main()
