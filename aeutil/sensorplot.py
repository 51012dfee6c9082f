"""時系列のセンサーと異常度を時間軸で縦に並べ、異常区間を塗って描く図。"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .plotting import setup_japanese_font
from .timeseries import (
    _KIND_COLORS,
    ANOMALY_KIND_LABELS,
    CHANNEL_LABELS,
    CHANNELS,
    AnomalyInterval,
    _as_intervals,
)
from .validation import ColumnNotFoundError, InvalidDataError

__all__ = ["plot_sensor_data"]

# --- plotting ----------------------------------------------------------------


def plot_sensor_data(
    data: pd.DataFrame,
    intervals: Iterable[AnomalyInterval] | None = None,
    *,
    channels: Sequence[str] | None = None,
    scores: dict[str, np.ndarray] | None = None,
    threshold: float | None = None,
    time_column: str = "time_s",
    sampling_rate_hz: float | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """チャンネルと異常度を時間軸で縦に並べ、異常区間を色で塗って描く。

    Parameters
    ----------
    data : pandas.DataFrame
        ``simulate_machine`` が返すような、時刻の列とチャンネルの列を持つ表。
    intervals : iterable of AnomalyInterval, optional
        塗りつぶす正解の異常区間 (種類ごとに色を変える)。スパイクのようなごく短い区間は、
        見えるように横軸の幅の 0.4% まで広げて塗る。
    channels : sequence of str, optional
        描くチャンネル。省略すると ``CHANNELS`` のうち ``data`` にあるもの。
        空のリストなら異常度だけを描く。
    scores : dict of str to numpy.ndarray, optional
        下に加えて描く時刻ごとの異常度 (名前 → 長さ ``len(data)`` の配列)。1 つにつき 1 段。
    threshold : float, optional
        異常度の段に引く閾値の線。
    time_column : str, default "time_s"
        横軸に使う列。なければサンプル番号を使う。
    sampling_rate_hz : float, optional
        区間 (サンプル番号) を秒に直すためのサンプリング周波数。省略すると時刻の列から推定する。
    title : str, optional
        図のタイトル。
    figsize : tuple of float, optional
        図の大きさ。

    Returns
    -------
    matplotlib.figure.Figure
        描いた図。
    """
    setup_japanese_font()
    if channels is None:
        channels = [c for c in CHANNELS if c in data.columns]
    channels = list(channels)
    missing = [c for c in channels if c not in data.columns]
    if missing:
        raise ColumnNotFoundError(
            f"データに列 {', '.join(map(repr, missing))} がありません。"
            f"使える列: {', '.join(map(str, data.columns))}"
        )
    scores = dict(scores or {})
    for name, values in scores.items():
        if np.shape(values) != (len(data),):
            raise InvalidDataError(
                f"異常度 {name!r} の長さ {np.shape(values)} がデータの行数 {len(data)} と合いません。"
            )
    n_axes = len(channels) + len(scores)
    if n_axes == 0:
        raise InvalidDataError("描くもの (channels か scores) がありません。")
    if time_column in data.columns:
        x = data[time_column].to_numpy(dtype=float)
        xlabel = "時間 [秒]" if time_column == "time_s" else time_column
        if sampling_rate_hz is None:
            step = np.median(np.diff(x)) if len(x) > 1 else 1.0
            sampling_rate_hz = 1.0 / step if step > 0 else 1.0
    else:
        x = np.arange(len(data), dtype=float)
        xlabel = "サンプル番号"
        sampling_rate_hz = 1.0
    fs = float(sampling_rate_hz)
    x0 = x[0] if len(x) else 0.0
    items = _as_intervals(intervals or [], len(data))

    fig = Figure(figsize=figsize or (10, 1.6 * n_axes + 0.8), layout="constrained")
    axes = fig.subplots(n_axes, 1, sharex=True, squeeze=False)[:, 0]
    panels = [(c, data[c].to_numpy(dtype=float), False) for c in channels]
    panels += [(name, np.asarray(v, dtype=float), True) for name, v in scores.items()]
    # very short intervals (spikes) are widened so that they stay visible
    min_width = 0.004 * (x[-1] - x[0]) if len(x) > 1 else 0.0
    spans = []
    for iv in items:
        left, right = x0 + iv.start / fs, x0 + iv.end / fs
        if right - left < min_width:
            middle = (left + right) / 2
            left, right = middle - min_width / 2, middle + min_width / 2
        spans.append((left, right, _KIND_COLORS.get(iv.kind, "tab:red")))
    for ax, (name, values, is_score) in zip(axes, panels, strict=True):
        for left, right, color in spans:
            ax.axvspan(left, right, color=color, alpha=0.25, linewidth=0)
        ax.plot(x, values, color="tab:blue" if not is_score else "black", linewidth=0.6)
        if is_score:
            if threshold is not None:
                ax.axhline(threshold, color="red", linestyle="--", linewidth=1.0)
            ax.set_yscale("log")
            ax.set_ylabel(name)
        else:
            ax.set_ylabel(CHANNEL_LABELS.get(name, name))
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    axes[-1].set_xlim(x[0], x[-1])
    handles = [
        Patch(color=_KIND_COLORS.get(k, "tab:red"), alpha=0.4, label=ANOMALY_KIND_LABELS.get(k, k))
        for k in dict.fromkeys(iv.kind for iv in items)
    ]
    if threshold is not None and scores:
        handles.append(Line2D([], [], color="red", linestyle="--", label="閾値"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=9)
    if title:
        fig.suptitle(title)
    return fig
