"""異常の区間 (イベント) 単位の評価: 見つけた区間の割合・検知の遅れ・誤報のかたまり。"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .timeseries import _as_intervals, _check_positive_int
from .validation import InvalidDataError

__all__ = ["EventReport", "evaluate_events"]



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
    raw = np.asarray(point_flags)
    if raw.ndim != 1 or raw.size == 0:
        raise InvalidDataError("point_flags は時刻ごとの判定 (真偽値) の 1 次元配列にしてください。")
    if raw.dtype != bool:
        if not np.issubdtype(raw.dtype, np.number) or not np.isin(raw, (0, 1)).all():
            raise InvalidDataError(
                "point_flags は真偽値 (True = 異常) か 0/1 にしてください。"
                "-1/1 のラベルなら `pred == -1` で変換してから渡します。"
            )
    flags = raw.astype(bool)
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
