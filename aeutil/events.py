"""異常の区間 (イベント) 単位の評価: 見つけた区間の割合・検知の遅れ・誤報のかたまり。

あわせて、時刻 (点) ごとの適合率・再現率・F1 と、それを甘く見せる数え方 point adjust
(:func:`point_adjust`) も扱います。
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .timeseries import _as_intervals, _check_positive_int
from .validation import InvalidDataError

__all__ = ["EventReport", "evaluate_events", "point_adjust", "point_metrics"]


@dataclass
class EventReport:
    """イベント (異常区間) 単位の評価結果。

    Attributes
    ----------
    events : pandas.DataFrame
        異常区間ごとの結果。列 ``start``, ``end``, ``kind``, ``channel``, ``caught``
        (区間内の点が 1 つでも異常と判定されたか), ``first_flag`` (最初に判定された点、
        なければ -1), ``delay_samples``, ``delay_s`` (区間の始まりから最初に判定される
        までの遅れ。見逃しなら NaN)。
    summary : dict
        全体の指標。``n_events``, ``n_caught``, ``event_recall`` (見つけた区間の割合),
        ``mean_delay_s`` (見つけた区間の遅れの平均), ``point_fpr`` (区間の外の正常な点のうち
        異常と判定された割合), ``false_alarm_points``, ``false_alarm_episodes``
        (区間に触れない、連続して判定された点のかたまりの数)。
    """

    events: pd.DataFrame
    summary: dict = field(default_factory=dict)


def _as_flags(values, name: str, what: str = "時刻ごとの判定") -> np.ndarray:
    """時刻ごとの真偽値 (True = 異常) の 1 次元配列を、新しい bool の配列にして返す。"""
    raw = np.asarray(values)
    if raw.ndim != 1 or raw.size == 0:
        raise InvalidDataError(f"{name} は{what} (真偽値) の 1 次元配列にしてください。")
    if raw.dtype != bool:
        if not np.issubdtype(raw.dtype, np.number) or not np.isin(raw, (0, 1)).all():
            raise InvalidDataError(
                f"{name} は真偽値 (True = 異常) か 0/1 にしてください。"
                "-1/1 のラベルなら `pred == -1` で変換してから渡します。"
            )
    return raw.astype(bool)  # いつも新しい配列 (呼び出し元の配列は変えない)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """連続して True の区間 (start, end) の一覧。end は含まない。"""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def evaluate_events(
    point_flags,
    intervals,
    *,
    sampling_rate_hz: float = 1.0,
    tolerance: int = 0,
) -> EventReport:
    """時刻ごとの判定を、異常区間 (イベント) 単位で評価する。

    現場で知りたいのは「何点を当てたか」より「異常が起きたことに気づけたか、どれだけ
    遅れたか、何回空振りの警報を出したか」です。

    - 区間の中の点が 1 つでも異常と判定されていれば、その区間は **検知** されたとします。
    - **遅れ** は、区間の始まりから、区間の中で最初に異常と判定された点までのサンプル数 (と秒)。
    - **誤検知の回数** は、連続して異常と判定された点のかたまり (警報 1 回分) のうち、
      どの区間 (``tolerance`` だけ前後に広げたもの) にも触れないものの数です。区間に
      かかっているかたまりは、本物の異常への警報として数えます。
    - **点の誤検知率** は、区間の外の点 (``tolerance`` で広げた部分を除く) のうち、
      異常と判定された点の割合です。

    Parameters
    ----------
    point_flags : array-like of bool, shape (n_points,)
        時刻ごとの判定 (True = 異常)。0/1 も使える。-1/1 のラベルは ``pred == -1`` で
        変換してから渡す。
    intervals : list of AnomalyInterval, list of (start, end[, kind, channel]) or DataFrame
        正解の異常区間 (``end`` は含まない)。
    sampling_rate_hz : float, default 1.0
        サンプリング周波数。遅れを秒に直すのに使う。
    tolerance : int, default 0
        区間の前後に設ける猶予 (サンプル数)。窓で判定すると、異常の直前の点にも高い
        異常度がつくことがあります。その部分を誤検知に数えないための幅です。

    Returns
    -------
    EventReport
        区間ごとの表 ``events`` と全体の指標 ``summary``。

    Raises
    ------
    InvalidDataError
        判定が真偽値でない、区間がデータからはみ出す、引数が不正。
    """
    flags = _as_flags(point_flags, "point_flags")
    n = flags.shape[0]
    fs = float(sampling_rate_hz)
    if not (np.isfinite(fs) and fs > 0):
        raise InvalidDataError(f"sampling_rate_hz は正の数にしてください (いまは {sampling_rate_hz!r})。")
    tol = _check_positive_int(tolerance, "tolerance", minimum=0)
    items = _as_intervals(intervals, n)

    inside = np.zeros(n, dtype=bool)
    near = np.zeros(n, dtype=bool)
    rows = []
    for iv in items:
        inside[iv.start : iv.end] = True
        near[max(0, iv.start - tol) : min(n, iv.end + tol)] = True
        hits = np.flatnonzero(flags[iv.start : iv.end])
        caught = hits.size > 0
        delay = int(hits[0]) if caught else np.nan
        rows.append(
            {
                "start": iv.start,
                "end": iv.end,
                "kind": iv.kind,
                "channel": iv.channel,
                "caught": caught,
                "first_flag": iv.start + int(hits[0]) if caught else -1,
                "delay_samples": delay,
                "delay_s": delay / fs if caught else np.nan,
            }
        )
    events = pd.DataFrame(
        rows,
        columns=["start", "end", "kind", "channel", "caught", "first_flag", "delay_samples", "delay_s"],
    )
    outside = ~near
    episodes = [(s, e) for s, e in _runs(flags) if not near[s:e].any()]
    n_caught = int(events["caught"].sum()) if len(events) else 0
    summary = {
        "n_events": len(items),
        "n_caught": n_caught,
        "event_recall": n_caught / len(items) if items else np.nan,
        "mean_delay_s": float(events["delay_s"].mean()) if n_caught else np.nan,
        "point_fpr": float(flags[outside].mean()) if outside.any() else np.nan,
        "false_alarm_points": int(flags[outside].sum()),
        "false_alarm_episodes": len(episodes),
    }
    return EventReport(events=events, summary=summary)


def _truth_runs(truth, n: int) -> list[tuple[int, int]]:
    """正解 (区間の一覧か、時刻ごとのラベル) を、区間 (start, end) の一覧にする。"""
    is_labels = (isinstance(truth, (np.ndarray, pd.Series)) and np.ndim(truth) == 1) or (
        isinstance(truth, (list, tuple)) and len(truth) > 0 and np.isscalar(truth[0])
    )
    if not is_labels:
        return [(iv.start, iv.end) for iv in _as_intervals(truth, n)]
    labels = _as_flags(truth, "正解のラベル", "時刻ごとのラベル")
    if labels.shape[0] != n:
        raise InvalidDataError(
            f"正解のラベルの長さ ({labels.shape[0]}) が判定の長さ ({n}) と違います。"
            "時刻ごとのラベルなら、判定と同じ長さの真偽値の配列にしてください。"
        )
    return _runs(labels)


def point_adjust(point_flags, truth) -> np.ndarray:
    """point adjust: 正解の区間の中の点が 1 つでも異常と判定されていれば、区間全体を異常とする。

    時系列の異常検知の論文でよく使われてきた数え方です。区間の中で 1 点でも閾値を
    超えれば、その区間のすべての点を「当てた」ことにするので、長い区間では、でたらめな
    異常度でもまず当たりが出て、点ごとの再現率や F1 が大きく上がります
    (Kim ら, AAAI 2022)。評価の比較に使うときは、調整しない値と並べて示してください。

    Parameters
    ----------
    point_flags : array-like of bool, shape (n_points,)
        時刻ごとの判定 (True = 異常)。0/1 も使える。
    truth : list of AnomalyInterval, list of (start, end[, kind, channel]), DataFrame or array-like of bool
        正解。異常区間の一覧 (``end`` は含まない) か、時刻ごとのラベル (True = 異常、
        ``point_flags`` と同じ長さ)。ラベルのときは、続けて True の時刻を 1 つの区間とします。

    Returns
    -------
    numpy.ndarray of bool, shape (n_points,)
        調整した判定 (新しい配列。``point_flags`` は変わらない)。区間の外の判定はそのまま。

    Raises
    ------
    InvalidDataError
        判定が真偽値でない、ラベルの長さが判定と違う、区間がデータからはみ出す。

    Examples
    --------
    >>> from aeutil import point_adjust
    >>> point_adjust([0, 0, 0, 1, 0, 0, 0, 0], [(2, 6)]).astype(int)
    array([0, 0, 1, 1, 1, 1, 0, 0])
    """
    flags = _as_flags(point_flags, "point_flags")
    adjusted = flags.copy()
    for start, end in _truth_runs(truth, flags.shape[0]):
        if flags[start:end].any():
            adjusted[start:end] = True
    return adjusted


def point_metrics(point_flags, truth, *, adjust: bool = False) -> dict:
    """時刻 (点) ごとの適合率・再現率・F1。``adjust=True`` なら point adjust してから数える。

    Parameters
    ----------
    point_flags : array-like of bool, shape (n_points,)
        時刻ごとの判定 (True = 異常)。0/1 も使える。
    truth : list of AnomalyInterval, list of (start, end[, kind, channel]), DataFrame or array-like of bool
        正解。異常区間の一覧か、時刻ごとのラベル (:func:`point_adjust` と同じ)。
    adjust : bool, default False
        True なら :func:`point_adjust` で調整した判定で数える。成績を甘く見せる数え方なので、
        調整しない値と比べるときだけ使います。

    Returns
    -------
    dict
        ``precision`` (異常と判定した点のうち、本当に異常な点の割合。1 点も判定しなければ 0),
        ``recall`` (異常な点のうち、異常と判定した点の割合。異常な点がなければ NaN),
        ``f1`` (両者の調和平均。どちらかが 0 なら 0、異常な点がなければ NaN), ``tp``, ``fp``, ``fn`` (点の数)。

    Raises
    ------
    InvalidDataError
        判定が真偽値でない、ラベルの長さが判定と違う、区間がデータからはみ出す。
    """
    flags = _as_flags(point_flags, "point_flags")
    runs = _truth_runs(truth, flags.shape[0])
    if adjust:
        flags = point_adjust(flags, runs)
    labels = np.zeros(flags.shape[0], dtype=bool)
    for start, end in runs:
        labels[start:end] = True
    tp = int((flags & labels).sum())
    fp = int((flags & ~labels).sum())
    fn = int((~flags & labels).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    if tp + fn == 0:  # 異常な点がない: 再現率も F1 も決まらない
        recall = f1 = float("nan")
    else:
        recall = tp / (tp + fn)
        f1 = 2 * tp / (2 * tp + fp + fn)  # = 適合率と再現率の調和平均 (どちらかが 0 なら 0)
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
