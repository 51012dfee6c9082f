"""大きなデータ (Dask の DataFrame) から正常な行の標本を取り出し、1 つのプロセスで学習する。

閾値で判定する検出器は、正常なデータの「形」と、その異常度のパーセンタイル (閾値) を学べば
足ります。どちらも、正常な行から無作為に取り出した数万行の標本でほぼ決まります
(パーセンタイルの標本によるばらつきは行数の平方根に反比例して小さくなる)。足りないのは、
まれな正常の状態・1 年の間のドリフト・季節の違いが標本に入らないときです
(設備ごと・月ごとに層を分けて取り出すか、モデルを分けます)。詳しくは
:func:`sample_normal_rows` を見てください。

:func:`write_plant_history` は、第 12 章と ``make bench`` で使う、設備ごと 1 年分の模擬の記録です。
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask import delayed

from .clierror import CommandError

__all__ = ["fit_on_sample", "sample_normal_rows", "write_plant_history"]


def _normal_mask(frame: pd.DataFrame, normal) -> np.ndarray:
    if normal is None:
        return np.ones(len(frame), dtype=bool)
    mask = frame[normal] if isinstance(normal, str) else normal(frame)
    return np.asarray(mask, dtype=bool)


def _count_normal(frame: pd.DataFrame, normal) -> int:
    return int(_normal_mask(frame, normal).sum())


def _take_normal(frame: pd.DataFrame, normal, positions: np.ndarray, columns) -> pd.DataFrame:
    rows = frame.iloc[np.flatnonzero(_normal_mask(frame, normal))[positions]]
    return rows if columns is None else rows[list(columns)]


def sample_normal_rows(ddf: dd.DataFrame, n: int, *, seed: int = 0,
                       columns: Sequence[str] | None = None,
                       normal: str | Callable[[pd.DataFrame], object] | None = None
                       ) -> pd.DataFrame:
    """正常な行から ``n`` 行を、重複なしの無作為抽出で取り出す (シードで再現できる)。

    1 回目の走査でパーティションごとの正常な行の数を数え、全体の通し番号から ``n`` 個を
    ``numpy.random.default_rng(seed)`` で選び、2 回目の走査でその行だけを取り出します。
    どの行も同じ確率で選ばれ、**同じシード・同じパーティションの分け方なら同じ標本** です
    (行はパーティションの順、その中の行の順に並びます)。

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        元のデータ。
    n : int
        取り出す行数 (正常な行の数以下)。
    seed : int, default 0
        乱数のシード。
    columns : list of str, optional
        返す列 (既定: すべて)。
    normal : str or callable, optional
        正常な行の印: 真偽の列の名前か、パーティション (``pandas.DataFrame``) を受け取って
        真偽の配列を返す関数 (例: ``lambda df: df["状態"] == "稼働"``)。既定はすべての行。

    Returns
    -------
    pandas.DataFrame
        ``n`` 行 (1 つのプロセスのメモリに載る大きさにしてください)。

    Notes
    -----
    **標本で学習すれば足りる理由**: 閾値は学習データの再構成誤差のパーセンタイルです。
    無作為の標本から求めたパーセンタイルのばらつき (標準誤差) は、行数 :math:`n` について
    :math:`1/\\sqrt{n}` のように小さくなり、パーセンタイル :math:`p` の標準誤差はおよそ
    :math:`\\sqrt{p(1-p)/n}/f(q_p)` (:math:`f` は再構成誤差の密度) です。20 万行の標本なら、
    全体の 1 年分 (数十億行) で求めた閾値との差は、たいてい運転のばらつきに比べて無視できます。
    ネットワークが学ぶのは正常な状態の「形」(センサーどうしの関係) なので、その形が標本に
    十分に現れていれば、行数を増やしても再構成はほとんど変わりません。

    **足りないとき**: めったにない正常な運転 (年に数回の立ち上げ・切り替え・洗浄など) は、
    無作為の標本にほとんど入らず、判定で異常に見えます。1 年のあいだに少しずつ変わる
    (ドリフト) データや、季節で変わる状態 (夏だけの冷却の運転など) が標本の時期に偏ると、
    別の時期を異常と判定します。そういうときは、設備ごと・月ごとなどに分けて、それぞれから
    決めた数を取る (層別の抽出。``ddf`` を分けて、この関数を層ごとに呼ぶ) か、設備・季節ごとに
    モデルを分けます。
    """
    if int(n) < 1:
        raise CommandError(f"標本の行数 n は 1 以上にしてください (いまは {n})。")
    parts = ddf.to_delayed()
    counts = np.asarray(dask.compute(*[delayed(_count_normal)(p, normal) for p in parts]),
                        dtype=np.int64)
    total = int(counts.sum())
    if n > total:
        raise CommandError(f"正常な行は {total:,} 行しかないので、{n:,} 行の標本は取れません。")
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=int(n), replace=False))
    edges = np.concatenate([[0], np.cumsum(counts)])
    pieces = []
    for i, part in enumerate(parts):
        lo, hi = np.searchsorted(chosen, [edges[i], edges[i + 1]])
        if hi > lo:
            pieces.append(delayed(_take_normal)(part, normal, chosen[lo:hi] - edges[i], columns))
    frames = dask.compute(*pieces)
    return pd.concat(frames, ignore_index=True)


def fit_on_sample(ddf: dd.DataFrame, columns: Sequence[str], model: str | os.PathLike, *,
                  n: int, seed: int = 0,
                  normal: str | Callable[[pd.DataFrame], object] | None = None,
                  **params):
    """正常な行の標本 (:func:`sample_normal_rows`) で :class:`aeutil.AutoEncoderDetector` を
    1 つのプロセスで学習し、``model`` に保存する。

    ``params`` は :class:`aeutil.AutoEncoderDetector` の引数 (``epochs``・
    ``threshold_percentile`` など。``seed`` は標本と同じものを使います)。標本で学習すれば
    足りる理由と足りないときは :func:`sample_normal_rows` の Notes を見てください。

    Returns
    -------
    AutoEncoderDetector
        学習済みの検知器 (保存したもの)。
    """
    from .detector import AutoEncoderDetector

    sample = sample_normal_rows(ddf, n, seed=seed, columns=list(columns), normal=normal)
    detector = AutoEncoderDetector(seed=seed, **params).fit(sample)
    detector.save(model)
    return detector


# --- a plant's history, made up (chapter 12 and make bench) -----------------------------------


def write_plant_history(folder: str | os.PathLike, *, machines: int = 20, days: int = 365,
                        rows_per_day: int = 24, seed: int = 0,
                        broken_share: float = 0.001) -> list[Path]:
    """設備ごとの 1 年分のセンサーの記録を作り、設備 1 台につき Parquet のファイル 1 つに書く。

    列は ``行番号`` (全体の通し番号)・``日時``・``設備``・``温度``・``振動``・``電流``・``点検中``。
    温度は設備ごとに水準が違い、季節 (1 年周期) と 1 日の周期で動き、振動と電流は温度に
    つれて動きます。``点検中`` の時間 (約 2%) は設備が止まっていて電流がほぼ 0 になり、
    ``broken_share`` の割合の行は振動だけが大きくなっています (壊れた関係)。

    Returns
    -------
    list of pathlib.Path
        書いたファイル (``machine01.parquet``、``machine02.parquet``、…)。
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = days * rows_per_day
    hours = np.arange(n) * (24.0 / rows_per_day)
    stamps = np.datetime64("2024-01-01T00:00") + (hours * 3600).astype("timedelta64[s]")
    season = 8.0 * np.sin(2 * np.pi * (hours / 24.0 - 105.0) / 365.0)  # warmest in summer
    daily = 2.0 * np.sin(2 * np.pi * (hours % 24.0 - 9.0) / 24.0)
    paths = []
    for m in range(machines):
        rng = np.random.default_rng([seed, m])
        level = 55.0 + 10.0 * m / max(machines - 1, 1)
        temperature = level + season + daily + rng.normal(0.0, 1.0, n)
        shift = temperature - level
        vibration = 0.5 + 0.02 * shift + rng.normal(0.0, 0.01, n)
        current = 10.0 + 0.1 * shift + rng.normal(0.0, 0.05, n)
        stopped = rng.random(n) < 0.02
        current[stopped] = rng.normal(0.2, 0.05, int(stopped.sum()))
        broken = rng.random(n) < broken_share
        vibration[broken] += 0.3
        table = pa.table({
            "行番号": np.arange(m * n, (m + 1) * n, dtype=np.int64),
            "日時": stamps,
            "設備": pa.array([f"{m + 1:02d}号機"] * n, type=pa.string()),
            "温度": temperature.round(2),
            "振動": vibration.round(4),
            "電流": current.round(3),
            "点検中": stopped,
        })
        path = folder / f"machine{m + 1:02d}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths
