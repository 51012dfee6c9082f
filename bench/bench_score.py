"""Scoring speed: aeutil's scorer against Keras' model.predict and a plain NumPy forward pass.

1. 1,000,000 rows x 10 features scored by a trained 10-8-4-8-10 model three ways, side by side
   in one process: ``AutoEncoderUtil.predict`` (aeutil), ``model.predict`` with its default
   batch size of 32, and the lower bound - one float32 matrix product per layer over the whole
   array, written out by hand here. Reports rows per second and the ratios.
2. The 200 x 200 plot grid of ``plot_ae_results``, scored (milliseconds).

Run: .venv/bin/python bench/bench_score.py [--rows 1000000] [--predict-rows 200000]
``model.predict`` is timed on ``--predict-rows`` rows (it is slow) and reported per row.
"""

from __future__ import annotations

import argparse
import time

import aeutil

import numpy as np
import pandas as pd


def numpy_lower_bound(model, X: np.ndarray) -> np.ndarray:
    """The plain forward pass: standardise, one matmul per Dense layer, mean squared error."""
    std = model.get_layer("standardize")
    z = (X - std.mean) / std.scale
    h = z
    for layer in model.layers:
        if layer.__class__.__name__ == "Dense":
            kernel, bias = layer.get_weights()
            h = h @ kernel + bias
            if layer.activation.__name__ == "relu":
                h = np.maximum(h, 0)
    return ((h - z) ** 2).mean(axis=1)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--predict-rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    columns = [f"x{j}" for j in range(10)]
    mixing = rng.normal(size=(3, 10))
    train = pd.DataFrame(rng.normal(size=(5000, 3)) @ mixing, columns=columns)
    util = aeutil.AutoEncoderUtil(df=train, seed=0).fit(columns, epochs=20, batch_size=64)
    X = (rng.normal(size=(args.rows, 3)) @ mixing).astype(np.float32)
    frame = pd.DataFrame(X, columns=columns)

    t_aeutil = best_of(lambda: util.predict(columns, df=frame), args.repeat)
    t_numpy = best_of(lambda: numpy_lower_bound(util.model, X), args.repeat)
    Xp = X[: args.predict_rows]
    t_predict = best_of(lambda: util.model.predict(Xp, verbose=0), 1) * (args.rows / len(Xp))

    ours = util.predict(columns, df=frame)[1]
    lower = numpy_lower_bound(util.model, X)
    np.testing.assert_allclose(ours, lower, rtol=1e-4, atol=1e-6)

    print(f"scoring {args.rows:,} rows x 10 features (best of {args.repeat})")
    for name, t in (
        ("aeutil (AutoEncoderUtil.predict)", t_aeutil),
        ("model.predict, default batch 32", t_predict),
        ("NumPy lower bound", t_numpy),
    ):
        print(f"  {name:34s} {args.rows / t:14,.0f} rows/s")
    print(f"  aeutil vs model.predict: {t_predict / t_aeutil:8.1f}x faster")
    print(f"  aeutil vs NumPy lower bound: {t_aeutil / t_numpy:8.2f}x the time")

    two_d = aeutil.AutoEncoderUtil(
        df=aeutil.make_three_clusters()[["feature1", "feature2"]], seed=0
    ).fit(["feature1", "feature2"], epochs=20)
    xx, yy = np.meshgrid(np.linspace(-4, 4, 200), np.linspace(-4, 4, 200))
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    t_grid = best_of(lambda: two_d.reconstruction_error(grid), 20)
    t_grid_predict = best_of(lambda: two_d.model.predict(grid, verbose=0), 1)
    print(f"200x200 grid: aeutil {t_grid * 1e3:.1f} ms, model.predict {t_grid_predict * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
