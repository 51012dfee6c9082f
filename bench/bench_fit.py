"""Fit time of the article's 3-cluster demo: aeutil against the article's own code.

Both are seeded and trained on the same 300 rows x 2 features, 8-4-8, 100 epochs,
batch 16, Adam 1e-3, in the same process. Reports the time of each, the ratio, and the
final training loss of each (aeutil's loss is on standardised data, the article's on raw
data, so the losses are shown for information; the reconstruction quality is compared on
the same scale by standardised MSE of the article's model as well).

Run: .venv/bin/python bench/bench_fit.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import aeutil
from aeutil._keras import keras

import numpy as np
from article_original import ArticleAutoEncoderUtil

COLUMNS = ["feature1", "feature2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    df = aeutil.make_three_clusters(centers=((2, 2), (-2, -2), (0, 0)), scale=0.3, seed=42)
    df = df[COLUMNS]
    X = df.to_numpy(np.float32)
    mean, std = X.mean(0), X.std(0)

    rows = []
    for r in range(args.repeat):
        t0 = time.perf_counter()
        ours = aeutil.AutoEncoderUtil(df=df, seed=r).fit(
            COLUMNS, epochs=args.epochs, batch_size=16, lr=1e-3
        )
        t_ours = time.perf_counter() - t0

        keras.utils.set_random_seed(r)
        article = ArticleAutoEncoderUtil(df=df)
        t0 = time.perf_counter()
        hist = article.fit(COLUMNS, epochs=args.epochs, batch_size=16, lr=1e-3, verbose=0)
        t_article = time.perf_counter() - t0
        recon = np.asarray(article.model(X))
        article_std_mse = float(np.mean(((X - recon) / std) ** 2))
        _ = mean
        rows.append(
            (t_article, t_ours, hist.history["loss"][-1], article_std_mse, ours.history["loss"][-1])
        )

    print(f"{'run':>3} {'article s':>10} {'aeutil s':>9} {'ratio':>6} "
          f"{'article loss (raw)':>19} {'article loss (std)':>19} {'aeutil loss (std)':>18}")
    for i, (ta, to, la, las, lo) in enumerate(rows):
        print(f"{i:>3} {ta:10.2f} {to:9.2f} {ta / to:6.1f} {la:19.5f} {las:19.5f} {lo:18.5f}")
    med = np.median(np.array(rows), axis=0)
    print(f"median: article {med[0]:.2f} s, aeutil {med[1]:.2f} s, ratio {med[0] / med[1]:.1f}x")


if __name__ == "__main__":
    main()
