"""再構成誤差の閾値の決め方。

どの関数も「大きいほど異常」な異常度 (再構成誤差) を受け取り、閾値を ``float`` で返します。
判定はいつも **閾値より真に大きい異常度を異常とする** (``scores > threshold``) 約束です。
``AutoEncoderDetector.predict`` も同じ約束で判定します。

- ``threshold_percentile``: 学習データの再構成誤差のパーセンタイル (``AutoEncoderDetector`` の既定)。
- ``threshold_mean_std``: 学習データの再構成誤差の平均 + k × 標準偏差。
- ``threshold_fixed_fpr``: 正常な検証データでの誤検知率が ``fpr`` 以下になる最小の閾値。
- ``threshold_best_f1``: ラベル付きデータで F1 が最大になる閾値。
"""

from __future__ import annotations

import math

import numpy as np

from .validation import InvalidDataError

__all__ = [
    "as_anomaly_labels",
    "check_percentile",
    "check_scores",
    "threshold_best_f1",
    "threshold_fixed_fpr",
    "threshold_mean_std",
    "threshold_percentile",
]

# fpr * n is compared with a little slack so that e.g. 0.29 * 100 (= 28.999999999999996) counts as 29
_FPR_SLACK = 1e-9


def check_scores(scores, name: str = "scores") -> np.ndarray:
    """異常度 (再構成誤差) を検査して 1 次元の ``float64`` 配列にする。

    Parameters
    ----------
    scores : array-like of shape (n,)
        異常度。大きいほど異常。形が ``(n, 1)`` の配列も 1 列として受け付ける。
    name : str, default "scores"
        エラーメッセージで引数を指す名前。

    Returns
    -------
    numpy.ndarray
        形が ``(n,)`` の ``float64`` 配列 (新しい配列。呼び出し側のデータは変えない)。

    Raises
    ------
    InvalidDataError
        空、2 次元以上、数値でない値、欠損値 (NaN)、無限大を含むとき。
    """
    try:
        arr = np.asarray(scores)
    except (TypeError, ValueError):
        raise InvalidDataError(f"{name} を配列に変換できません。数値の 1 次元配列を渡してください。") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidDataError(
            f"{name} は 1 次元の配列にしてください (いまの形: {arr.shape})。"
        )
    if arr.size == 0:
        raise InvalidDataError(f"{name} が空です。異常度が 1 つもありません。")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise InvalidDataError(
            f"{name} は数値にしてください (いまの型: {arr.dtype})。"
        )
    out = arr.astype(np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        pos = int(np.argmin(finite))
        kind = "欠損値 (NaN)" if np.isnan(out[pos]) else "無限大 (inf)"
        raise InvalidDataError(f"{name} に{kind} があります: {pos} 番目 (0 始まり)。")
    return out


def as_anomaly_labels(labels, name: str = "labels") -> np.ndarray:
    """正解ラベルを「異常なら True」の ``bool`` 配列にそろえる。

    受け付けるのは次の 3 通りで、**異常と正常の両方** を含んでいる必要があります。

    - ``bool``: ``True`` = 異常、``False`` = 正常。
    - 0/1: ``1`` = 異常、``0`` = 正常。
    - -1/1: ``-1`` = 異常、``1`` = 正常 (scikit-learn の外れ値検出器と aeutil の約束)。

    ``1`` の意味は 0/1 と -1/1 とで逆になります。どちらの約束かは、ラベルに含まれる
    もう一方の値 (0 か -1 か) で決めます。値が 1 種類しかないと決められないので
    エラーにします (どのみち、両方のクラスがないと F1 も AUC も計算できません)。

    Parameters
    ----------
    labels : array-like of shape (n,)
        正解ラベル。
    name : str, default "labels"
        エラーメッセージで引数を指す名前。

    Returns
    -------
    numpy.ndarray
        形が ``(n,)`` の ``bool`` 配列 (True = 異常)。

    Raises
    ------
    InvalidDataError
        空、1 次元でない、上の 3 通りのどれでもない値がある、1 種類の値しかないとき。
    """
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidDataError(f"{name} は 1 次元の配列にしてください (いまの形: {arr.shape})。")
    if arr.size == 0:
        raise InvalidDataError(f"{name} が空です。")
    if arr.dtype == bool:
        values = {bool(v) for v in np.unique(arr)}
        if values != {False, True}:
            raise InvalidDataError(
                f"{name} が {'異常' if True in values else '正常'} だけです。"
                "異常 (True) と正常 (False) の両方が必要です。"
            )
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidDataError(
            f"{name} は True/False、0/1 (1 = 異常)、-1/1 (-1 = 異常) のどれかにしてください "
            f"(いまの型: {arr.dtype})。"
        )
    values = set(np.unique(arr).tolist())
    if values == {0, 1}:
        return arr == 1
    if values == {-1, 1}:
        return arr == -1
    if len(values) == 1 and values <= {-1, 0, 1}:
        raise InvalidDataError(
            f"{name} の値が {next(iter(values))!r} だけです。異常と正常の両方が必要です "
            "(0/1 なら 1 = 異常、-1/1 なら -1 = 異常)。"
        )
    shown = ", ".join(repr(v) for v in sorted(values, key=str)[:6])
    raise InvalidDataError(
        f"{name} の値 ({shown}) が読み取れません。True/False、0/1 (1 = 異常)、"
        "-1/1 (-1 = 異常) のどれかにしてください。"
    )


def threshold_percentile(train_scores, percentile: float = 95.0) -> float:
    """学習データの異常度のパーセンタイルを閾値にする。

    ``AutoEncoderDetector`` が学習時に決める閾値と同じ計算
    (``numpy.percentile`` の線形補間) です。学習データのうちおよそ
    ``100 - percentile`` % が閾値を超えます。

    Parameters
    ----------
    train_scores : array-like of shape (n,)
        学習データの再構成誤差。
    percentile : float, default 95.0
        パーセンタイル。0 より大きく 100 以下。

    Returns
    -------
    float
        閾値。``scores > threshold`` を異常とする。

    Raises
    ------
    InvalidDataError
        異常度が空・数値でない・NaN や inf を含むとき、``percentile`` が範囲外のとき。
    """
    scores = check_scores(train_scores, "train_scores")
    return float(np.percentile(scores, check_percentile(percentile)))


def check_percentile(percentile, name: str = "percentile") -> float:
    """閾値を決めるパーセンタイルが 0 より大きく 100 以下かを検査して ``float`` で返す。

    Parameters
    ----------
    percentile : float
        パーセンタイル。
    name : str, default "percentile"
        エラーメッセージで使う引数の名前 (``"threshold_percentile"`` など)。

    Raises
    ------
    InvalidDataError
        数値でない、NaN、または範囲外。
    """
    try:
        p = float(percentile)
    except (TypeError, ValueError):
        p = float("nan")
    if not 0.0 < p <= 100.0:
        raise InvalidDataError(
            f"{name} は 0 より大きく 100 以下にしてください (いまは {percentile!r})。"
        )
    return p


def threshold_mean_std(train_scores, k: float = 3.0) -> float:
    """学習データの異常度の「平均 + k × 標準偏差」を閾値にする。

    異常度が正規分布に近いときの目安で、k = 3 なら閾値を超える割合は約 0.13% です。
    再構成誤差は 0 以上で右に長く裾を引くことが多く、そのときは超える割合が
    この目安よりずっと大きくなります。標準偏差は母標準偏差 (``ddof=0``) です。

    Parameters
    ----------
    train_scores : array-like of shape (n,)
        学習データの再構成誤差。
    k : float, default 3.0
        標準偏差の何倍を足すか。0 以上。

    Returns
    -------
    float
        閾値。``scores > threshold`` を異常とする。

    Raises
    ------
    InvalidDataError
        異常度が空・数値でない・NaN や inf を含むとき、``k`` が負または有限でないとき。
    """
    scores = check_scores(train_scores, "train_scores")
    k = float(k)
    if not math.isfinite(k) or k < 0:
        raise InvalidDataError(f"k は 0 以上の有限の数にしてください (いまは {k})。")
    return float(scores.mean() + k * scores.std())


def threshold_fixed_fpr(normal_val_scores, fpr: float = 0.01) -> float:
    """正常な検証データでの誤検知率が ``fpr`` 以下になる最小の閾値。

    正常な検証データの異常度 n 個を小さい順に並べ、許せる誤検知の数を
    ``m = floor(fpr * n)`` として、小さいほうから ``n - m`` 番目の値
    (0 始まりの添字なら ``sorted_scores[n - m - 1]``) を閾値にします。

    - ``scores > threshold`` で判定すると、検証データで異常と判定されるのは多くても
      m 個、つまり誤検知率は ``fpr`` 以下です (同じ値が並ぶとさらに少なくなります)。
    - これより小さい閾値では誤検知が m + 1 個以上になるので、条件を満たす閾値の
      うちで最小 (見逃しが最も少ない) です。
    - 閾値は検証データの異常度そのもの (補間しない) で、``1 - fpr`` 分位点を
      「超える数が fpr の割合以下」になる向きに丸めたものです。``fpr=0`` なら最大値です。
    - ``fpr * n`` の計算の丸め誤差 (例: 0.29 × 100 = 28.999...) は 29 と数えます。

    検証データでの誤検知率は ``fpr`` 以下になりますが、新しい正常データでの誤検知率は
    標本のばらつきの分だけ上下します。m が 10 以上になるくらい
    (n が 10 / fpr 以上) の検証データを用意してください。

    Parameters
    ----------
    normal_val_scores : array-like of shape (n,)
        学習に使っていない **正常な** 検証データの再構成誤差。
    fpr : float, default 0.01
        許せる誤検知率。0 以上 1 未満。

    Returns
    -------
    float
        閾値。``scores > threshold`` を異常とする。

    Raises
    ------
    InvalidDataError
        異常度が空・数値でない・NaN や inf を含むとき、``fpr`` が範囲外のとき。
    """
    scores = np.sort(check_scores(normal_val_scores, "normal_val_scores"))
    rate = float(fpr)
    if not 0.0 <= rate < 1.0:
        raise InvalidDataError(f"fpr は 0 以上 1 未満にしてください (いまは {fpr})。")
    n = scores.size
    m = min(int(math.floor(rate * n + _FPR_SLACK)), n - 1)
    return float(scores[n - m - 1])


def threshold_best_f1(scores, labels) -> float:
    """ラベル付きデータで F1 が最大になる閾値。

    F1 は ``sklearn.metrics.precision_recall_curve`` の適合率と再現率から求めます。
    この関数は ``scores >= t`` を異常とする約束なので、そのままでは本書の
    ``scores > threshold`` と 1 点ずれます。そこで、F1 が最大になる ``t`` のすぐ下にある
    異常度の値 (異常と判定されない点のうち最大の異常度) を返します。こうすると
    ``scores > threshold`` の判定が、F1 が最大になる判定と一致します。``t`` が最小の
    異常度のとき (すべてを異常とするのが最良のとき) は、最小の異常度より
    わずかに小さい値を返します。F1 が同点なら、低いほうの閾値 (見逃しの少ないほう) を選びます。

    ラベルの少ないデータでは、選んだ閾値はそのデータに合わせすぎになりやすく、
    同じデータで測った F1 は新しいデータでの F1 より楽観的になります。

    Parameters
    ----------
    scores : array-like of shape (n,)
        再構成誤差。大きいほど異常。
    labels : array-like of shape (n,)
        正解ラベル。True/False (True = 異常)、0/1 (1 = 異常)、-1/1 (-1 = 異常) のどれか
        (``as_anomaly_labels`` を参照)。異常と正常の両方を含むこと。

    Returns
    -------
    float
        閾値。``scores > threshold`` を異常とする。

    Raises
    ------
    InvalidDataError
        異常度やラベルが不正なとき、長さが合わないとき、異常か正常の一方しかないとき。
    """
    s = check_scores(scores, "scores")
    y = as_anomaly_labels(labels, "labels")
    if y.size != s.size:
        raise InvalidDataError(
            f"scores ({s.size} 個) と labels ({y.size} 個) の長さが合いません。"
        )
    # scikit-learn only here: fitting (which uses threshold_percentile) stays free of it
    from sklearn.metrics import precision_recall_curve

    precision, recall, candidates = precision_recall_curve(y, s)
    # precision[i], recall[i] belong to the rule scores >= candidates[i]; the last pair
    # (precision 1, recall 0) has no threshold and is dropped
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = float(candidates[int(np.argmax(f1))])
    below = np.unique(s[s < best])
    if below.size:
        return float(below[-1])
    return float(np.nextafter(best, -np.inf))
