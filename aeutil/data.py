"""本書の例題データを作る関数。

どの関数も ``seed`` を受け取り、NumPy の ``default_rng`` で乱数を作ります。
グローバルな乱数の状態 (``np.random.seed``) には触りません。
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["make_three_clusters", "make_uniform_points", "make_1d_data", "drop_near"]


def _feature_names(n_features: int) -> list[str]:
    return [f"feature{j + 1}" for j in range(n_features)]


def make_three_clusters(
    n_per_cluster: int = 100,
    *,
    centers: Sequence[Sequence[float]] = ((1.0, 1.0), (-1.0, -1.0), (0.0, 0.0)),
    scale: float = 0.5,
    n_outliers: int = 0,
    outlier_center: float = 10.0,
    outlier_scale: float = 3.0,
    seed: int = 42,
) -> pd.DataFrame:
    """2 次元の 3 つのクラスター (と、必要なら外れ値) を作る。

    既定値は元の記事の第 4 節の例 (中心 (1, 1), (-1, -1), (0, 0)、標準偏差 0.5、
    外れ値は中心 10・標準偏差 3) にならっています。第 2 章の例は
    ``centers=((2, 2), (-2, -2), (0, 0)), scale=0.3`` です。

    Parameters
    ----------
    n_per_cluster : int, default 100
        1 クラスターあたりの点の数。
    centers : sequence of (float, float)
        クラスターの中心。
    scale : float, default 0.5
        クラスターの標準偏差。
    n_outliers : int, default 0
        加える外れ値の数。
    outlier_center : float, default 10.0
        外れ値の中心 (両方の座標に同じ値)。
    outlier_scale : float, default 3.0
        外れ値の標準偏差。
    seed : int, default 42
        乱数のシード。

    Returns
    -------
    pandas.DataFrame
        列 ``feature1``, ``feature2`` (座標) と ``is_outlier`` (外れ値なら True)。
        クラスターの順に並び、外れ値は最後。
    """
    if n_per_cluster < 0 or n_outliers < 0:
        raise ValueError("点の数は 0 以上にしてください。")
    rng = np.random.default_rng(seed)
    parts = [
        rng.normal(loc=np.asarray(center, dtype=float), scale=scale, size=(n_per_cluster, 2))
        for center in centers
    ]
    outliers = rng.normal(loc=outlier_center, scale=outlier_scale, size=(n_outliers, 2))
    X = np.concatenate([*parts, outliers])
    df = pd.DataFrame(X, columns=_feature_names(2))
    df["is_outlier"] = np.r_[np.zeros(len(X) - n_outliers, bool), np.ones(n_outliers, bool)]
    return df


def make_uniform_points(
    n: int = 20,
    *,
    low: float = -4.0,
    high: float = 4.0,
    n_features: int = 2,
    seed: int = 20,
) -> pd.DataFrame:
    """一様分布のテスト点を作る (記事の「異常を含むテストデータ」)。

    Parameters
    ----------
    n : int, default 20
        点の数。
    low, high : float, default -4.0, 4.0
        範囲。
    n_features : int, default 2
        次元数。
    seed : int, default 20
        乱数のシード。

    Returns
    -------
    pandas.DataFrame
        列 ``feature1``, ``feature2``, ... のデータ。
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(low, high, size=(n, n_features))
    return pd.DataFrame(X, columns=_feature_names(n_features))


def drop_near(points: pd.DataFrame, centers, min_dist: float) -> pd.DataFrame:
    """どの中心からも ``min_dist`` より遠い行だけを残す (異常の見本を作るのに使う)。

    Parameters
    ----------
    points : pandas.DataFrame
        点の座標 (列の数は中心の次元と同じ)。書き換えない。
    centers : array-like of shape (k, d)
        中心 (例: 3 つのクラスターの中心)。
    min_dist : float
        残す点が、いちばん近い中心から少なくとも離れているべき距離 (ユークリッド距離)。

    Returns
    -------
    pandas.DataFrame
        残った行 (行番号は 0 から振り直す)。
    """
    centers = np.asarray(centers, dtype=float)
    diff = points.to_numpy()[:, None, :] - centers[None, :, :]
    nearest = np.linalg.norm(diff, axis=2).min(axis=1)
    return points[nearest > min_dist].reset_index(drop=True)


def make_1d_data(
    n: int = 100,
    *,
    loc: float = 0.0,
    scale: float = 0.5,
    seed: int = 42,
) -> pd.DataFrame:
    """1 次元の正規分布データを作る。

    Parameters
    ----------
    n : int, default 100
        点の数。
    loc : float, default 0.0
        平均。
    scale : float, default 0.5
        標準偏差。
    seed : int, default 42
        乱数のシード。

    Returns
    -------
    pandas.DataFrame
        列 ``feature1`` だけのデータ。
    """
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"feature1": rng.normal(loc, scale, size=n)})
