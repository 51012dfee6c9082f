"""ラベル付きデータでの評価と ROC 曲線・PR 曲線。

計算はすべて ``sklearn.metrics`` に任せます。異常度は「大きいほど異常」(再構成誤差)、
判定は ``scores > threshold`` を異常とする約束で、``aeutil.thresholds`` の関数が返す
閾値をそのまま渡せます。正解ラベルは True/False (True = 異常)、0/1 (1 = 異常)、
-1/1 (-1 = 異常、aeutil の約束) のどれでも受け付けます。
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from .plotting import ANOMALY_TEST, setup_japanese_font
from .thresholds import as_anomaly_labels, check_scores
from .validation import InvalidDataError

__all__ = ["Evaluation", "evaluate", "plot_roc_pr"]


@dataclass(frozen=True)
class Evaluation:
    """``evaluate`` の結果。

    Attributes
    ----------
    threshold : float
        判定に使った閾値 (``scores > threshold`` を異常とした)。
    tn : int
        正常を正常と判定した数 (混同行列の 4 つの数の 1 つ)。
    fp : int
        正常を異常と判定した数 (誤検知)。
    fn : int
        異常を正常と判定した数 (見逃し)。
    tp : int
        異常を異常と判定した数。
    precision : float
        適合率 tp / (tp + fp)。異常と判定したもののうち本当に異常だった割合。
        異常と判定したものが 1 つもなければ 0。
    recall : float
        再現率 (検出率) tp / (tp + fn)。異常のうち見つけられた割合。
    f1 : float
        F1 (適合率と再現率の調和平均)。異常と判定したものが 1 つもなければ 0。
    false_positive_rate : float
        誤検知率 fp / (fp + tn)。正常のうち異常と判定された割合。
    roc_auc : float
        ROC 曲線の下の面積 (閾値によらない)。
    pr_auc : float
        PR 曲線の下の面積 (平均適合率、``average_precision_score``。閾値によらない)。
    anomaly_rate : float
        データに占める異常の割合 (PR 曲線の基準線の高さ)。
    """

    threshold: float
    tn: int
    fp: int
    fn: int
    tp: int
    precision: float
    recall: float
    f1: float
    false_positive_rate: float
    roc_auc: float
    pr_auc: float
    anomaly_rate: float

    def as_dict(self) -> dict[str, float]:
        """属性を名前と値の辞書にする (``pandas.DataFrame`` を作るのに便利)。"""
        return asdict(self)

    def confusion_frame(self) -> pd.DataFrame:
        """混同行列を、行 = 実際、列 = 判定の 2 × 2 の表にする。

        Returns
        -------
        pandas.DataFrame
            行 ``実際: 正常``, ``実際: 異常``、列 ``判定: 正常``, ``判定: 異常`` の件数。
        """
        return pd.DataFrame(
            [[self.tn, self.fp], [self.fn, self.tp]],
            index=["実際: 正常", "実際: 異常"],
            columns=["判定: 正常", "判定: 異常"],
        )


def _scores_and_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = check_scores(scores, "scores")
    y = as_anomaly_labels(labels, "labels")
    if s.size != y.size:
        raise InvalidDataError(
            f"scores ({s.size} 個) と labels ({y.size} 個) の長さが合いません。"
        )
    return s, y


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InvalidDataError(f"threshold は数値にしてください (いまは {threshold!r})。") from None
    if not math.isfinite(value):
        raise InvalidDataError(f"threshold は有限の数にしてください (いまは {threshold!r})。")
    return value


def evaluate(scores, labels, threshold: float) -> Evaluation:
    """ラベル付きデータで、閾値による判定と異常度そのものを評価する。

    混同行列・適合率・再現率・F1・誤検知率は閾値で判定した結果 (``scores > threshold``
    を異常とする) から、ROC-AUC と PR-AUC は閾値によらず異常度の並び順から計算します。
    どれも ``sklearn.metrics`` の関数で計算します (F1 と適合率は ``zero_division=0``)。

    Parameters
    ----------
    scores : array-like of shape (n,)
        再構成誤差。大きいほど異常。
    labels : array-like of shape (n,)
        正解ラベル。True/False (True = 異常)、0/1 (1 = 異常)、-1/1 (-1 = 異常) のどれか。
        AUC を計算するので、異常と正常の両方を含むこと。
    threshold : float
        閾値。

    Returns
    -------
    Evaluation
        評価の結果。``as_dict()`` で辞書に、``confusion_frame()`` で混同行列の表になる。

    Raises
    ------
    InvalidDataError
        異常度やラベルが不正なとき、長さが合わないとき、異常か正常の一方しかないとき、
        閾値が有限の数でないとき。
    """
    s, y = _scores_and_labels(scores, labels)
    thr = _check_threshold(threshold)
    pred = s > thr
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[False, True]).ravel())
    return Evaluation(
        threshold=thr,
        tn=tn,
        fp=fp,
        fn=fn,
        tp=tp,
        precision=float(precision_score(y, pred, zero_division=0)),
        recall=float(recall_score(y, pred)),
        f1=float(f1_score(y, pred, zero_division=0)),
        false_positive_rate=fp / (fp + tn),
        roc_auc=float(roc_auc_score(y, s)),
        pr_auc=float(average_precision_score(y, s)),
        anomaly_rate=float(y.mean()),
    )


def plot_roc_pr(
    scores,
    labels,
    *,
    threshold: float | None = None,
    title: str = "ROC 曲線と PR 曲線",
) -> Figure:
    """ROC 曲線 (左) と PR 曲線 (右) を 1 つの図に並べて描く。

    凡例に ROC-AUC と PR-AUC (平均適合率) を示し、PR 曲線には基準線
    (異常の割合。異常度がでたらめのときの適合率) を水平線で描きます。
    ``threshold`` を渡すと、その閾値で判定したときの位置 (動作点) を両方の曲線に印します。

    Parameters
    ----------
    scores : array-like of shape (n,)
        再構成誤差。大きいほど異常。
    labels : array-like of shape (n,)
        正解ラベル。True/False (True = 異常)、0/1 (1 = 異常)、-1/1 (-1 = 異常) のどれか。
    threshold : float, optional
        印をつける閾値 (``scores > threshold`` を異常とする)。
    title : str
        図全体のタイトル。

    Returns
    -------
    matplotlib.figure.Figure
        左に ROC 曲線、右に PR 曲線の軸を持つ図 (pyplot の ``show`` は呼ばない)。

    Raises
    ------
    InvalidDataError
        異常度やラベルが不正なとき、長さが合わないとき、異常か正常の一方しかないとき、
        閾値が有限の数でないとき。
    """
    s, y = _scores_and_labels(scores, labels)
    thr = None if threshold is None else _check_threshold(threshold)
    setup_japanese_font()
    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    roc_auc = float(roc_auc_score(y, s))
    pr_auc = float(average_precision_score(y, s))
    rate = float(y.mean())

    fig = Figure(figsize=(10.5, 4.8), layout="constrained")
    ax_roc, ax_pr = fig.subplots(1, 2)
    ax_roc.plot(fpr, tpr, color="#1f4e9c", linewidth=2, label=f"ROC 曲線 (ROC-AUC = {roc_auc:.3f})")
    ax_roc.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1,
                label="でたらめ (ROC-AUC = 0.5)")
    ax_pr.plot(recall, precision, color="#1f4e9c", linewidth=2, drawstyle="steps-post",
               label=f"PR 曲線 (PR-AUC = {pr_auc:.3f})")
    ax_pr.axhline(rate, color="gray", linestyle="--", linewidth=1,
                  label=f"基準線 (異常の割合 {rate:.1%})")
    if thr is not None:
        result = evaluate(s, y, thr)
        ax_roc.plot(result.false_positive_rate, result.recall, "o", color=ANOMALY_TEST,
                    markersize=8, zorder=5, label=f"閾値 {thr:.3g} での判定")
        ax_pr.plot(result.recall, result.precision, "o", color=ANOMALY_TEST,
                   markersize=8, zorder=5, label=f"閾値 {thr:.3g} での判定")
    ax_roc.set(xlabel="誤検知率 (正常を異常と判定した割合)",
               ylabel="再現率 (異常を見つけた割合)", title="ROC 曲線")
    ax_pr.set(xlabel="再現率 (異常を見つけた割合)",
              ylabel="適合率 (異常と判定したうち本当に異常の割合)", title="PR 曲線")
    for ax in (ax_roc, ax_pr):
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        ax.grid(True, alpha=0.3)
    ax_roc.legend(loc="lower right", fontsize=9)
    ax_pr.legend(loc="lower left", fontsize=9)
    fig.suptitle(title)
    return fig
