"""結果を描くグラフ関数と日本語フォントの設定。

グラフ関数は ``matplotlib.figure.Figure`` を作って **返す** だけで、
pyplot の ``show`` は呼びません。ノートブックでは返した Figure がそのまま表示され、
スクリプトでは ``fig.savefig(...)`` で保存できます。pyplot の「現在の図」を
使わないので、図が二重に表示されたり、開いた図がたまり続けたりもしません。
"""

from __future__ import annotations

import warnings
from typing import Protocol

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

__all__ = ["setup_japanese_font", "plot_ae_results", "plot_ae_results_1d"]

NORMAL_TRAIN = "#9be29b"
ANOMALY_TRAIN = "#ff9c9c"
NORMAL_TEST = "#1b7f1b"
ANOMALY_TEST = "#d62020"
BACKGROUND = "#eef7ff"


class _Scorer(Protocol):
    def reconstruction_error(self, X) -> np.ndarray: ...


def setup_japanese_font() -> str:
    """matplotlib で日本語を表示できるようにする。

    元の記事は Windows にしかない Meiryo を ``rcParams`` に直接書いていました。
    ここでは ``japanize-matplotlib`` が同梱する IPAex ゴシックを使うので、
    Linux・macOS・Windows のどこでも、フォントをダウンロードせずに日本語が出ます。
    ``import aeutil`` しただけでは何も変えず、この関数を呼んだときに初めて
    matplotlib の設定を変えます。何度呼んでもかまいません。

    Returns
    -------
    str
        設定したフォントファミリー名。
    """
    with warnings.catch_warnings():
        # japanize-matplotlib imports distutils, deprecated in 3.11 and
        # provided by setuptools from 3.12 on; the warning is not ours to fix.
        # Its first import registers the bundled IPAex font and selects it.
        warnings.simplefilter("ignore", DeprecationWarning)
        from japanize_matplotlib.japanize_matplotlib import FONT_NAME

    # select it again on every call, in case the caller reset rcParams since
    matplotlib.rcParams["font.family"] = [FONT_NAME]
    return FONT_NAME


def _threshold_of(model_util, threshold: float | None) -> float | None:
    if threshold is not None:
        return float(threshold)
    if model_util is None:
        return None
    value = getattr(model_util, "threshold", None)
    if value is None:
        value = getattr(model_util, "threshold_", None)
    return None if value is None else float(value)


def _as_2d(X, name: str, n_features: int) -> np.ndarray | None:
    if X is None:
        return None
    arr = np.asarray(X, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise ValueError(
            f"{name} は {n_features} 列の配列にしてください (いまの形: {np.shape(X)})。"
        )
    return arr


def _labels(y, X: np.ndarray | None, name: str) -> np.ndarray | None:
    if X is None:
        return None
    if y is None:
        return np.ones(len(X), dtype=int)
    labels = np.asarray(y).ravel()
    if len(labels) != len(X):
        raise ValueError(f"{name} の長さ {len(labels)} がデータの行数 {len(X)} と合いません。")
    if not np.isin(labels, (-1, 1)).all():
        raise ValueError(f"{name} は -1 (異常) か 1 (正常) にしてください。")
    return labels


def _prepare(X_train, y_train, X_test, y_test, n_features: int):
    """Check the data and labels of both sets; return them and all points together."""
    X_tr = _as_2d(X_train, "X_train", n_features)
    X_te = _as_2d(X_test, "X_test", n_features)
    y_tr = _labels(y_train, X_tr, "y_train_pred")
    y_te = _labels(y_test, X_te, "y_test_pred")
    present = [a for a in (X_tr, X_te) if a is not None]
    if not present:
        raise ValueError("描くデータがありません。X_train か X_test を渡してください。")
    return X_tr, y_tr, X_te, y_te, np.concatenate(present)


def _scatter_groups(ax, X, y, *, column, train: bool, yvalues=None) -> None:
    if X is None:
        return
    kind = "学習データ" if train else "テストデータ"
    style = (
        {"marker": "o", "s": 55, "zorder": 3}
        if train
        else {"marker": "*", "s": 160, "zorder": 4, "linewidths": 0.8}
    )
    colors = (NORMAL_TRAIN, ANOMALY_TRAIN) if train else (NORMAL_TEST, ANOMALY_TEST)
    for label, color, text in ((1, colors[0], "正常"), (-1, colors[1], "異常")):
        mask = y == label
        if not mask.any():
            continue
        xs = X[mask, column]
        ys = X[mask, 1] if yvalues is None else yvalues[mask]
        ax.scatter(
            xs, ys, c=color, edgecolors="black", label=f"{kind}({text})", **style
        )


def _short_number(value: float, _pos=None) -> str:
    """Tick label with at most 3 significant digits (0.0123, 1.5, 120)."""
    return f"{value:.3g}"


def _nice_levels(upper: float) -> np.ndarray:
    """Contour levels from 0 at round numbers, the last one at or above ``upper``."""
    if not upper > 0:
        return np.linspace(0.0, 1.0, 8)
    levels = MaxNLocator(nbins=7).tick_values(0.0, upper)
    levels = levels[levels >= 0.0]
    if levels[-1] < upper:
        levels = np.append(levels, levels[-1] + (levels[1] - levels[0]))
    return levels


def plot_ae_results(
    X_train=None,
    y_train_pred=None,
    X_test=None,
    y_test_pred=None,
    model_util: _Scorer | None = None,
    threshold: float | None = None,
    *,
    resolution: int = 200,
    title: str = "オートエンコーダによる異常検知の結果 (2 次元)",
    legend_loc: str = "best",
) -> Figure:
    """2 次元データの判定結果を、再構成誤差のマップと判定境界つきで描く。

    Parameters
    ----------
    X_train : array-like of shape (n, 2), optional
        学習データ。
    y_train_pred : array-like of {-1, 1}, optional
        学習データのラベル (-1 = 異常、1 = 正常)。省略するとすべて正常として描く。
    X_test : array-like of shape (m, 2), optional
        テストデータ。
    y_test_pred : array-like of {-1, 1}, optional
        テストデータのラベル。
    model_util : AutoEncoderUtil or AutoEncoderDetector, optional
        学習済みモデル。渡すと背景に再構成誤差のマップと判定境界を描く。
    threshold : float, optional
        判定境界に使う閾値。省略するとモデルが学習時に決めた閾値を使う
        (元の記事のように、描画用の格子点から計算し直すことはしない)。
    resolution : int, default 200
        背景のマップの格子の細かさ (一辺の点の数)。
    title : str
        グラフのタイトル。
    legend_loc : str, default "best"
        凡例の位置 (matplotlib の ``loc``。例: ``"upper left"``)。

    Returns
    -------
    matplotlib.figure.Figure
        描いた図 (pyplot の ``show`` は呼ばない)。

    Raises
    ------
    ValueError
        学習データもテストデータもないとき。
    """
    setup_japanese_font()
    X_tr, y_tr, X_te, y_te, X_all = _prepare(X_train, y_train_pred, X_test, y_test_pred, 2)
    x_min, x_max = X_all[:, 0].min() - 1, X_all[:, 0].max() + 1
    y_min, y_max = X_all[:, 1].min() - 1, X_all[:, 1].max() + 1

    fig = Figure(figsize=(8, 6.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor(BACKGROUND)
    extra_handles = []
    thr = _threshold_of(model_util, threshold)
    if model_util is not None:
        xs = np.linspace(x_min, x_max, resolution)
        ys = np.linspace(y_min, y_max, resolution)
        xx, yy = np.meshgrid(xs, ys)
        grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
        Z = np.asarray(model_util.reconstruction_error(grid), dtype=float).reshape(xx.shape)
        upper = thr if thr is not None else float(np.percentile(Z, 95))
        levels = _nice_levels(upper)
        cs = ax.contourf(xx, yy, np.minimum(Z, upper), levels=levels, cmap="Blues_r", alpha=0.55)
        cbar = fig.colorbar(cs, ax=ax, label="再構成誤差 (閾値で頭打ち)")
        cbar.ax.yaxis.set_major_formatter(FuncFormatter(_short_number))
        if thr is not None:
            above = np.where(Z > thr, 1.0, np.nan)
            ax.contourf(
                xx, yy, above, levels=[0.5, 1.5], cmap=ListedColormap(["#ffd6d6"]), alpha=0.6
            )
            if Z.min() < thr < Z.max():
                ax.contour(
                    xx, yy, Z, levels=[thr], colors="black", linewidths=1.8, linestyles="--"
                )
            extra_handles = [
                Line2D([], [], color="black", linestyle="--", label=f"判定境界 (閾値 {thr:.3g})"),
                Patch(facecolor="#ffd6d6", edgecolor="none", label="異常と判定される領域"),
            ]
    _scatter_groups(ax, X_tr, y_tr, column=0, train=True)
    _scatter_groups(ax, X_te, y_te, column=0, train=False)
    ax.set(
        xlim=(x_min, x_max),
        ylim=(y_min, y_max),
        xlabel="特徴量 1",
        ylabel="特徴量 2",
        title=title,
    )
    ax.grid(True, alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + extra_handles, loc=legend_loc, fontsize=9, framealpha=0.9)
    return fig


def plot_ae_results_1d(
    X_train=None,
    y_train_pred=None,
    X_test=None,
    y_test_pred=None,
    model_util: _Scorer | None = None,
    threshold: float | None = None,
    *,
    resolution: int = 400,
    title: str = "オートエンコーダによる異常検知の結果 (1 次元)",
    legend_loc: str = "best",
) -> Figure:
    """1 次元データの判定結果を、再構成誤差の曲線と閾値の線つきで描く。

    モデルを渡すと、各点は自分の再構成誤差の高さ (曲線の上) に描かれ、
    閾値の線より上にある点が異常と判定されたことが一目で分かります。
    再構成誤差はデータから離れると急に大きくなるので、縦軸は対数目盛です。
    モデルがなければ、点は高さ 0 に並べます。

    Parameters
    ----------
    X_train : array-like of shape (n,) or (n, 1), optional
        学習データ。
    y_train_pred : array-like of {-1, 1}, optional
        学習データのラベル。
    X_test : array-like of shape (m,) or (m, 1), optional
        テストデータ。
    y_test_pred : array-like of {-1, 1}, optional
        テストデータのラベル。
    model_util : AutoEncoderUtil or AutoEncoderDetector, optional
        学習済みモデル。渡すと再構成誤差の曲線を描く。
    threshold : float, optional
        閾値。省略するとモデルが学習時に決めた閾値を使う。
    resolution : int, default 400
        曲線を描く点の数。
    title : str
        グラフのタイトル。
    legend_loc : str, default "best"
        凡例の位置 (matplotlib の ``loc``。例: ``"upper left"``)。

    Returns
    -------
    matplotlib.figure.Figure
        描いた図。
    """
    setup_japanese_font()
    X_tr, y_tr, X_te, y_te, X_all = _prepare(X_train, y_train_pred, X_test, y_test_pred, 1)
    xs_all = X_all.ravel()

    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor(BACKGROUND)
    thr = _threshold_of(model_util, threshold)

    def heights(X):
        if X is None:
            return None
        if model_util is None:
            return np.zeros(len(X))
        return np.asarray(model_util.reconstruction_error(X.astype(np.float32)), dtype=float)

    h_tr, h_te = heights(X_tr), heights(X_te)
    if model_util is not None:
        x_range = np.linspace(xs_all.min() - 1, xs_all.max() + 1, resolution)
        curve = np.asarray(
            model_util.reconstruction_error(x_range.reshape(-1, 1).astype(np.float32)), dtype=float
        )
        ax.plot(x_range, curve, color="tab:blue", linestyle="--", linewidth=2,
                label="再構成誤差 (異常度の曲線)", zorder=2)
        # errors grow quadratically away from the data: a log axis keeps the
        # threshold and the small errors of normal points readable
        floor = thr / 100 if thr else max(float(np.percentile(curve, 5)), 1e-12)
        ax.set_yscale("log")
        ax.set_ylim(floor, max(float(curve.max()), thr or 0.0) * 2)
        h_tr = None if h_tr is None else np.maximum(h_tr, floor)
        h_te = None if h_te is None else np.maximum(h_te, floor)
    if thr is not None:
        ax.axhline(thr, color=ANOMALY_TEST, linewidth=1.8, label=f"閾値 ({thr:.3g})", zorder=1)
    if X_tr is not None:
        _scatter_groups(ax, X_tr, y_tr, column=0, train=True, yvalues=h_tr)
    if X_te is not None:
        _scatter_groups(ax, X_te, y_te, column=0, train=False, yvalues=h_te)
    ax.set(
        xlabel="特徴量 1",
        ylabel="再構成誤差 (対数目盛)" if model_util is not None else "",
        title=title,
    )
    ax.grid(True, alpha=0.4)
    ax.legend(loc=legend_loc, fontsize=9, framealpha=0.9)
    return fig
