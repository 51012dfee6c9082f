"""いくつかの異常検知の手法を、同じ分割・同じ指標で比べる。

``fit`` と ``score_samples`` (scikit-learn の約束: 大きいほど正常) を持つ検出器なら何でも
並べられます (:class:`aeutil.AutoEncoderDetector`、:class:`aeutil.HotellingT2` などの古典的な手法、
scikit-learn の ``IsolationForest`` など)。どの手法も同じ学習データで学習し、同じテストデータの
異常度 (``score_samples`` の符号を反転したもの) を計算して、ROC-AUC・PR-AUC と、学習と異常度の
計算にかかった時間を 1 行ずつ表にします。ROC-AUC・PR-AUC の計算は ``sklearn.metrics`` に任せます。
検出器が閾値 ``threshold_`` を持っていれば、その閾値で判定したときの誤検知率と検出率も並べます。
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .thresholds import as_anomaly_labels, check_scores
from .validation import InvalidDataError

__all__ = ["Comparison", "compare_detectors", "COLUMNS"]

#: 比較の表の列 (この順に並ぶ)。
COLUMNS = ("ROC-AUC", "PR-AUC", "誤検知率", "検出率", "学習時間 [秒]", "計算時間 [秒]")


@dataclass(frozen=True)
class Comparison:
    """:func:`compare_detectors` の結果。

    Attributes
    ----------
    table : pandas.DataFrame
        手法ごとに 1 行の表。インデックスは手法の名前 (名前は「手法」)、列は
        :data:`COLUMNS` (ROC-AUC、PR-AUC、誤検知率、検出率、学習時間 [秒]、計算時間 [秒])。
        誤検知率は正常のうち、検出率は異常のうち、異常度が検出器の ``threshold_`` を超えた割合
        (``threshold_`` を持たない検出器では NaN)。
    scores : dict
        手法の名前から、その手法のテストデータの異常度 (``numpy.ndarray``) への辞書
        (大きいほど異常。``to_points`` を渡したときは変換後の値)。
    detectors : dict
        手法の名前から、学習済みの検出器への辞書
        (渡したものそのもの。``fit`` で学習した状態になっている)。
    """

    table: pd.DataFrame
    scores: dict[str, np.ndarray]
    detectors: dict[str, object]


def compare_detectors(
    detectors: Mapping[str, object],
    X_train,
    X_test,
    y_test,
    *,
    to_points: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Comparison:
    """検出器を同じ学習データで学習し、同じテストデータで比べる。

    各検出器について ``fit(X_train)`` の時間 (学習時間) と ``score_samples(X_test)`` の時間
    (計算時間) を測り、異常度 ``-score_samples(X_test)`` の ROC-AUC と PR-AUC
    (``average_precision_score``) を求めます。検出器が ``threshold_`` を持っていれば、
    異常度がそれを超えたものを異常として、誤検知率と検出率も求めます
    (``to_points`` を渡したときは、変換後の異常度を同じ閾値と比べます)。

    Parameters
    ----------
    detectors : dict of str to estimator
        手法の名前と、学習前の検出器。``fit`` と ``score_samples`` を持つもの。表はこの順に並ぶ。
    X_train : array-like or pandas.DataFrame
        学習データ (正常データ)。すべての検出器に同じものを渡す。
    X_test : array-like or pandas.DataFrame
        テストデータ。
    y_test : array-like of shape (n,)
        正解ラベル。``bool`` (True = 異常)、0/1 (1 = 異常)、-1/1 (-1 = 異常) のどれでもよい。
        ``to_points`` を渡したときは、変換後の異常度と同じ長さ。
    to_points : callable, optional
        テストデータの異常度を、ラベルと同じ単位に直す関数 (例: 窓の異常度を時刻の異常度に戻す
        :func:`aeutil.window_scores_to_points` を包んだもの)。時間にはこの変換を含まない。

    Returns
    -------
    Comparison
        表 (``table``)、異常度 (``scores``)、学習済みの検出器 (``detectors``)。

    Raises
    ------
    InvalidDataError
        検出器が 1 つもない、``fit`` か ``score_samples`` を持たない検出器がある、
        ラベルが正しくない (異常と正常の両方を含む 3 通りの約束のどれでもない)、異常度に NaN などがある、
        異常度とラベルの長さが合わないとき。
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    if not isinstance(detectors, Mapping) or not detectors:
        raise InvalidDataError(
            "detectors には、手法の名前と検出器の辞書を 1 組以上渡してください "
            '(例: {"T²": HotellingT2(), "オートエンコーダ": AutoEncoderDetector()})。'
        )
    for name, detector in detectors.items():
        missing = [m for m in ("fit", "score_samples") if not callable(getattr(detector, m, None))]
        if missing:
            raise InvalidDataError(
                f"手法 {name!r} の {type(detector).__name__} には {' と '.join(missing)} がありません。"
                "比べられるのは fit と score_samples (大きいほど正常) を持つ検出器です。"
            )
    anomaly = as_anomaly_labels(y_test, "y_test")
    rows, scores = {}, {}
    for name, detector in detectors.items():
        started = time.perf_counter()
        detector.fit(X_train)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        raw = -np.asarray(detector.score_samples(X_test), dtype=np.float64)
        score_seconds = time.perf_counter() - started
        values = check_scores(raw if to_points is None else to_points(raw), f"{name} の異常度")
        if values.shape[0] != anomaly.shape[0]:
            after = "" if to_points is None else " (to_points で変換したあとの数)"
            raise InvalidDataError(
                f"{name} の異常度が {values.shape[0]} 個{after}、y_test が {anomaly.shape[0]} 個で、"
                "数が合いません。"
            )
        scores[name] = values
        threshold = getattr(detector, "threshold_", None)
        flags = values > float(threshold) if threshold is not None else None
        rows[name] = (
            float(roc_auc_score(anomaly, values)),
            float(average_precision_score(anomaly, values)),
            float(flags[~anomaly].mean()) if flags is not None else float("nan"),
            float(flags[anomaly].mean()) if flags is not None else float("nan"),
            fit_seconds,
            score_seconds,
        )
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))
    table.index.name = "手法"
    return Comparison(table=table, scores=scores, detectors=dict(detectors))
