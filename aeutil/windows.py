"""時系列を窓に切る・窓ごとの異常度を時刻ごとに戻す。

``make_windows`` で時系列をスライディングウィンドウに切り、窓のモデル
(:class:`aeutil.WindowAutoEncoder`) の窓ごとの再構成誤差を ``window_scores_to_points`` で
時刻ごとの異常度に戻します。``window_coverage`` は各時刻を含む窓の数です。
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .timeseries import _check_positive_int
from .validation import InvalidDataError, to_matrix

__all__ = [
    "contributions_to_points",
    "make_windows",
    "window_coverage",
    "window_scores_to_points",
]

# --- sliding windows ---------------------------------------------------------


def _window_starts(n: int, window: int, stride: int) -> np.ndarray:
    starts = np.arange(0, n - window + 1, stride)
    if starts[-1] != n - window:  # (n - window) % stride != 0: cover the tail
        starts = np.append(starts, n - window)
    return starts


def make_windows(
    values: pd.DataFrame | np.ndarray | Sequence,
    window: int,
    stride: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """時系列を、長さ ``window`` の窓に ``stride`` サンプルずつずらして切り出す。

    窓の開始位置は ``0, stride, 2*stride, ...`` です。``(n - window) % stride != 0`` の
    ときはそれだけでは最後の数サンプルがどの窓にも入らないので、**最後の点で終わる窓**
    (開始位置 ``n - window``) を 1 つ追加します。この窓は 1 つ前の窓との間隔が ``stride``
    より短くなりますが、これですべての点が少なくとも 1 つの窓に入ります。
    時系列の末尾は監視ではいちばん新しいデータなので、取りこぼすわけにはいきません。

    Parameters
    ----------
    values : pandas.DataFrame or array-like, shape (n, channels)
        時系列。行が時刻、列がチャンネル。1 次元配列は 1 チャンネルとして扱う。
        DataFrame なら全部の列を使う (必要な列だけを選んでから渡す)。
    window : int
        窓の長さ (サンプル数)。1 以上 ``n`` 以下。
    stride : int, default 1
        窓をずらす幅 (サンプル数)。1 以上 ``window`` 以下 (それより大きいと、窓の間の点が
        どの窓にも入らない)。

    Returns
    -------
    windows : numpy.ndarray, shape (n_windows, window, channels)
        切り出した窓 (``float32``、元のデータとは共有しない新しい配列)。
    starts : numpy.ndarray, shape (n_windows,)
        各窓の開始位置 (サンプル番号)。窓 ``k`` は ``starts[k]`` から
        ``starts[k] + window - 1`` までの点を含む。

    Raises
    ------
    InvalidDataError
        ``window`` や ``stride`` が不正 (``stride > window`` を含む)、データが窓より短い、
        欠損値や数値でない値がある。
    """
    data = to_matrix(values, source="時系列データ")
    n = data.shape[0]
    window = _check_positive_int(window, "window")
    stride = _check_positive_int(stride, "stride")
    if window > n:
        raise InvalidDataError(
            f"窓の長さ window={window} が時系列の長さ {n} より長いので、窓を 1 つも作れません。"
        )
    if stride > window:
        raise InvalidDataError(
            f"stride={stride} が窓の長さ window={window} より大きいと、窓と窓の間の点が"
            "どの窓にも入りません。stride は window 以下にしてください。"
        )
    starts = _window_starts(n, window, stride)
    view = np.lib.stride_tricks.sliding_window_view(data, window, axis=0)  # (n-w+1, c, w)
    windows = np.ascontiguousarray(view[starts].transpose(0, 2, 1))
    return windows, starts


def _check_starts(starts, window: int, n_points: int) -> np.ndarray:
    window = _check_positive_int(window, "window")
    n_points = _check_positive_int(n_points, "n_points")
    arr = np.asarray(starts)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise InvalidDataError("starts は窓の開始位置 (整数) の 1 次元配列にしてください。")
    if arr.size and (arr.min() < 0 or arr.max() + window > n_points):
        raise InvalidDataError(
            f"窓 (開始位置 {int(arr.min())}〜{int(arr.max())}、長さ {window}) が "
            f"時系列の範囲 0〜{n_points - 1} からはみ出しています。"
        )
    return arr.astype(np.int64)


def window_coverage(starts, window: int, n_points: int) -> np.ndarray:
    """各時刻が、いくつの窓に含まれるかを数える。

    Parameters
    ----------
    starts : array-like of int
        窓の開始位置 (``make_windows`` の戻り値)。
    window : int
        窓の長さ。
    n_points : int
        時系列の長さ。

    Returns
    -------
    numpy.ndarray, shape (n_points,)
        各時刻を含む窓の数 (``int64``)。0 の時刻はどの窓にも入っていない。
    """
    arr = _check_starts(starts, window, n_points)
    diff = np.zeros(n_points + 1, dtype=np.int64)
    np.add.at(diff, arr, 1)
    np.add.at(diff, arr + window, -1)
    return np.cumsum(diff[:-1])


def window_scores_to_points(
    window_scores,
    starts,
    window: int,
    n_points: int,
    how: str = "mean",
) -> np.ndarray:
    """窓ごとの異常度を、時刻ごとの異常度に戻す。

    時刻 ``t`` の異常度は、``t`` を含むすべての窓
    (``starts[k] <= t < starts[k] + window`` となる ``k``) の異常度の平均 (``how="mean"``)
    または最大値 (``how="max"``) です。``make_windows`` で作った窓なら、末尾の点も含めて
    すべての時刻が少なくとも 1 つの窓に入るので、すべての時刻に値がつきます。

    Keras の公式サンプル「Timeseries anomaly detection using an Autoencoder」(keras.io) は、
    時刻 ``i`` を「``i`` を含む窓のうち、``i`` から始まる窓を除いた残りがすべて異常」のときに
    異常としています。そのうえ最初と最後の ``TIME_STEPS - 1`` 点はそもそも判定の対象に
    入らないので、データの末尾で起きた異常は (窓には入っているのに) 決して見つかりません。
    この関数は、点を含む窓を 1 つも落とさずに集計します。

    Parameters
    ----------
    window_scores : array-like, shape (n_windows,)
        窓ごとの異常度 (再構成誤差など)。
    starts : array-like of int, shape (n_windows,)
        各窓の開始位置。
    window : int
        窓の長さ。
    n_points : int
        時系列の長さ。
    how : {"mean", "max"}, default "mean"
        同じ時刻を含む窓の異常度のまとめ方。``"max"`` は異常の始まりに早く反応するが、
        異常の前後の正常な点にも高い値が広がりやすい。

    Returns
    -------
    numpy.ndarray, shape (n_points,)
        時刻ごとの異常度 (``float64``)。どの窓にも含まれない時刻は NaN。

    Raises
    ------
    InvalidDataError
        配列の長さが合わない、窓が時系列からはみ出す、``how`` が不正、異常度が有限でない。
    """
    if how not in ("mean", "max"):
        raise InvalidDataError(f"how は 'mean' か 'max' にしてください (いまは {how!r})。")
    scores = np.asarray(window_scores, dtype=np.float64)
    arr = _check_starts(starts, window, n_points)
    if scores.ndim != 1 or scores.shape[0] != arr.shape[0]:
        raise InvalidDataError(
            f"window_scores ({scores.shape}) と starts ({arr.shape}) の長さが合いません。"
        )
    if not np.isfinite(scores).all():
        raise InvalidDataError("window_scores に欠損値 (NaN) か無限大があります。")
    counts = window_coverage(arr, window, n_points)
    if how == "mean":
        # per-point sums, window offset by window offset (a cumulative sum of floats would drift)
        sums = np.zeros(n_points, dtype=np.float64)
        for offset in range(window):
            np.add.at(sums, arr + offset, scores)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = sums / counts
    else:
        out = np.full(n_points, -np.inf)
        for offset in range(window):
            np.maximum.at(out, arr + offset, scores)
    out[counts == 0] = np.nan
    return out


def contributions_to_points(contributions, starts, n_points: int) -> np.ndarray:
    """窓の寄与度 (:meth:`aeutil.WindowAutoEncoder.feature_contributions`) を時刻ごとに戻す。

    時刻 ``t``・チャンネル ``j`` の値は、``t`` を含むすべての窓での、その時刻・そのチャンネルの
    二乗誤差 (標準化した空間) をチャンネルの数で割ったものの平均です。窓の中の時刻ごとの寄与度を
    窓の長さ倍したもの、と言っても同じです。行ごとの和は「その時刻の、チャンネルについて平均した
    二乗誤差」で、窓の異常度を時刻に戻した :func:`window_scores_to_points` の値とは一般に一致しません
    (窓の異常度は窓の中のすべての時刻の平均だからです)。センサーと時刻のどこで再構成が
    外れているかを見るための値です。

    Parameters
    ----------
    contributions : array-like, shape (n_windows, window, n_channels)
        窓ごとの寄与度。
    starts : array-like of int, shape (n_windows,)
        各窓の開始位置。
    n_points : int
        時系列の長さ。

    Returns
    -------
    numpy.ndarray, shape (n_points, n_channels)
        時刻ごと・チャンネルごとの値 (``float64``)。どの窓にも含まれない時刻は NaN。
    """
    values = np.asarray(contributions, dtype=np.float64)
    if values.ndim != 3:
        raise InvalidDataError(
            f"contributions は (窓の数, 時刻, チャンネル) の 3 次元配列にしてください (いまの形: {values.shape})。"
        )
    n_windows, window, n_channels = values.shape
    arr = _check_starts(starts, window, n_points)
    if arr.shape[0] != n_windows:
        raise InvalidDataError(
            f"contributions の窓の数 ({n_windows}) と starts の長さ ({arr.shape[0]}) が合いません。"
        )
    sums = np.zeros((n_points, n_channels), dtype=np.float64)
    for offset in range(window):
        np.add.at(sums, arr + offset, values[:, offset, :] * window)
    counts = window_coverage(arr, window, n_points)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts[:, None]
    out[counts == 0] = np.nan
    return out

