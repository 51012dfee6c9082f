"""寄与度の図: 1 行の寄与度の棒グラフと、センサー × 時刻のヒートマップ。

どちらも ``matplotlib.figure.Figure`` を作って返すだけで、pyplot の ``show`` は呼びません。
寄与度そのものは :meth:`aeutil.AutoEncoderDetector.feature_contributions`、
:meth:`aeutil.AutoEncoderUtil.contributions`、
:meth:`aeutil.WindowAutoEncoder.feature_contributions` (と
:func:`aeutil.contributions_to_points`) で計算します。
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .plotting import setup_japanese_font
from .validation import InvalidDataError

__all__ = ["plot_contribution_heatmap", "plot_contributions"]


def _one_row(contributions, columns) -> tuple[np.ndarray, list[str]]:
    if isinstance(contributions, pd.Series):
        names = [str(c) for c in contributions.index] if columns is None else list(columns)
        values = contributions.to_numpy(dtype=np.float64)
    else:
        values = np.asarray(contributions, dtype=np.float64)
        if values.ndim == 2 and values.shape[0] == 1:
            values = values[0]
        names = [f"{j} 列目" for j in range(values.shape[-1])] if columns is None else list(columns)
    if values.ndim != 1:
        raise InvalidDataError(
            f"棒グラフに描けるのは 1 行分の寄与度です (いまの形: {values.shape})。"
            "表なら contributions.loc[行] や contributions[i] で 1 行を選んでください。"
        )
    if len(names) != values.shape[0]:
        raise InvalidDataError(
            f"列名が {len(names)} 個ありますが、寄与度は {values.shape[0]} 列分です。"
        )
    if not np.isfinite(values).all() or (values < 0).any():
        raise InvalidDataError("寄与度に負の値か、欠損値 (NaN)・無限大があります。")
    return values, [str(n) for n in names]


def plot_contributions(
    contributions,
    columns: Sequence[str] | None = None,
    *,
    labels: dict[str, str] | None = None,
    top: int | None = None,
    title: str | None = None,
) -> Figure:
    """1 行の寄与度を、大きい順の横棒グラフで描く (棒の右に異常度に占める割合を書く)。

    Parameters
    ----------
    contributions : array-like of shape (n_columns,) or pandas.Series
        1 行分の寄与度 (0 以上)。``Series`` なら、そのインデックスを列名に使う。
    columns : sequence of str, optional
        列名。省略すると ``Series`` のインデックス、配列なら「0 列目」…。
    labels : dict of str to str, optional
        図に書く列の呼び名 (列名 → 日本語名。``aeutil.timeseries.CHANNEL_LABELS`` など)。
    top : int, optional
        大きい順に何列まで描くか。省略するとすべて。
    title : str, optional
        図のタイトル。

    Returns
    -------
    matplotlib.figure.Figure
        描いた図。
    """
    values, names = _one_row(contributions, columns)
    total = float(values.sum())
    order = np.argsort(-values, kind="stable")[: top if top is not None else len(values)]
    shown = [(labels or {}).get(names[j], names[j]) for j in order]
    setup_japanese_font()
    fig = Figure(figsize=(6.4, 0.45 * len(order) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(len(order))[::-1]  # the largest on top
    ax.barh(positions, values[order], color="#d9534f", edgecolor="#7a2a28")
    ax.set_yticks(positions, shown)
    for y, j in zip(positions, order, strict=True):
        share = values[j] / total if total > 0 else 0.0
        ax.text(values[j], y, f" {share:.0%}", va="center", ha="left", fontsize=10)
    ax.set_xlim(0, float(values.max()) * 1.2 if values.max() > 0 else 1.0)
    ax.set_xlabel("寄与度 (行ごとの和が異常度)")
    ax.set_title(title or f"列ごとの寄与度 (異常度 {total:.3g})")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _spans(flags: np.ndarray) -> list[tuple[int, int]]:
    """``True`` が続く区間 ``[start, end)`` の列。"""
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def plot_contribution_heatmap(
    point_contributions,
    channels: Sequence[str],
    *,
    time=None,
    flags=None,
    labels: dict[str, str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (10.0, 3.6),
) -> Figure:
    """センサー × 時刻の寄与度をヒートマップで描き、異常と判定した区間を上に示す。

    Parameters
    ----------
    point_contributions : array-like, shape (n_points, n_channels)
        時刻ごと・チャンネルごとの寄与度 (:func:`aeutil.contributions_to_points`)。
        NaN の時刻は白で描く。
    channels : sequence of str
        チャンネル名 (列の順)。
    time : array-like of shape (n_points,), optional
        横軸の時刻 (等間隔)。省略するとサンプル番号。
    flags : array-like of bool, shape (n_points,), optional
        異常と判定した時刻。続いた区間ごとに、ヒートマップの上に赤い帯で示す。
    labels : dict of str to str, optional
        チャンネルの呼び名 (``aeutil.timeseries.CHANNEL_LABELS`` など)。
    title : str, optional
        図のタイトル。
    figsize : (float, float), default (10.0, 3.6)
        図の大きさ [インチ]。

    Returns
    -------
    matplotlib.figure.Figure
        描いた図 (色の帯つき)。
    """
    values = np.asarray(point_contributions, dtype=np.float64)
    names = [str(c) for c in channels]
    if values.ndim != 2 or values.shape[1] != len(names):
        raise InvalidDataError(
            f"point_contributions は (時刻, チャンネル) = (n, {len(names)}) の形にしてください "
            f"(いまの形: {values.shape})。"
        )
    n = values.shape[0]
    t = np.arange(n, dtype=np.float64) if time is None else np.asarray(time, dtype=np.float64)
    if t.shape != (n,):
        raise InvalidDataError(f"time の長さ ({t.size}) が時刻の数 ({n}) と合いません。")
    step = float(t[1] - t[0]) if n > 1 else 1.0
    extent = (t[0] - step / 2, t[-1] + step / 2, len(names) - 0.5, -0.5)
    setup_japanese_font()
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values.T, aspect="auto", cmap="magma_r", extent=extent,
                      interpolation="nearest")
    ax.set_yticks(range(len(names)), [(labels or {}).get(c, c) for c in names])
    ax.set_xlabel("時刻 [s]" if time is not None else "サンプル番号")
    fig.colorbar(image, ax=ax, label="寄与度", pad=0.01)
    if flags is not None:
        marks = np.asarray(flags, dtype=bool)
        if marks.shape != (n,):
            raise InvalidDataError(f"flags の長さ ({marks.size}) が時刻の数 ({n}) と合いません。")
        for start, end in _spans(marks):
            ax.axvspan(t[start] - step / 2, t[end - 1] + step / 2, ymin=1.0, ymax=1.06,
                       color="#d62020", clip_on=False)
        ax.legend(handles=[Patch(color="#d62020", label="異常と判定した区間")],
                  loc="lower right", bbox_to_anchor=(1.0, 1.06), fontsize=9, frameon=False)
    # the flagged band sits just above the axes: lift the title over it
    ax.set_title(title or "センサーごとの寄与度", loc="left", pad=16 if flags is not None else 6)
    return fig
