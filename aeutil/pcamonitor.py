r"""主成分分析 (PCA) による工程の監視: T² と Q (SPE) の 2 つの統計量。

:mod:`aeutil.classical` の :class:`~aeutil.classical.HotellingT2` と同じ顔をした検出器です
(入力の検査や標準化などの共通部分は :mod:`aeutil.classical` にあります)。
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.decomposition import PCA

from .classical import SINGULAR_TOLERANCE, _check_rows, _ClassicalDetector, _standardization
from .thresholds import check_percentile
from .validation import InvalidDataError

__all__ = ["PCAMonitor", "Q_LIMIT_FLOOR"]


#: Q の管理限界の下限 (標準化した単位の 2 乗)。主成分ですべてを表せるとき (主成分の数 = 列の数など)
#: 学習データの Q はすべて丸め誤差 (1e-30 程度) になり、それを限界にすると割り算が意味を失うため。
Q_LIMIT_FLOOR = 1e-10


class PCAMonitor(_ClassicalDetector):
    r"""主成分分析 (PCA) による多変量統計的工程管理 (MSPC) の異常検知 (scikit-learn 互換)。

    列ごとに標準化したデータ :math:`z` を主成分分析し、寄与の大きい :math:`A` 個の主成分で 2 つの量を見ます。

    - :math:`T^2 = \sum_{a=1}^{A} t_a^2 / \lambda_a`: 主成分得点 :math:`t_a` を、その分散
      :math:`\lambda_a` で割って 2 乗したものの和。「いつもの変動の方向」に大きく動いたか。
    - :math:`Q = \lVert z - \hat z \rVert^2 = \sum_j (z_j - \hat z_j)^2` (SPE、二乗予測誤差):
      :math:`\hat z` は :math:`A` 個の主成分から戻したもの。「いつもの相関が崩れた」か。

    管理限界 :math:`T^2_{\lim}`・:math:`Q_{\lim}` は、どちらも学習データの値の ``threshold_percentile``
    パーセンタイルです (分布を仮定しない)。どちらか一方でも限界を超えた行を異常とするので、異常度は

    .. math:: \max\left( T^2 / T^2_{\lim},\; Q / Q_{\lim} \right)

    とし、閾値は 1.0 です (``set_threshold`` で変えると 2 つの限界が同じ倍率で動きます)。
    学習データのうち限界を超える割合は、それぞれが ``100 - threshold_percentile`` % なので、
    合わせるとその 1〜2 倍になります。

    Parameters
    ----------
    n_components : int or float, default 0.9
        主成分の数。1 以上の整数ならその数、0 と 1 の間なら累積寄与率がその割合を超える最小の数。
    threshold_percentile : float, default 99.0
        :math:`T^2`・:math:`Q` それぞれの管理限界に使う学習データのパーセンタイル。

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
        標準化したデータで学習した PCA (使った主成分の数 :math:`A` は ``n_components_``)。
    mean_ : numpy.ndarray
        標準化に使った列ごとの平均 (標準偏差は ``std_``。:math:`n` で割る)。
    t2_limit_ : float
        :math:`T^2` の管理限界。
    q_limit_ : float
        :math:`Q` の管理限界 (下限は :data:`~aeutil.pcamonitor.Q_LIMIT_FLOOR`)。
    """

    def __init__(self, n_components: int | float = 0.9, threshold_percentile: float = 99.0) -> None:
        self.n_components = n_components
        self.threshold_percentile = threshold_percentile

    def fit(self, X, y=None) -> PCAMonitor:
        """標準化と PCA を学習し、:math:`T^2` と :math:`Q` の管理限界を決める。

        使えない値、1 行だけのデータ、値が一定の列 (列名を示す)、範囲外の引数は
        :class:`~aeutil.InvalidDataError` になります。
        """
        pct = check_percentile(self.threshold_percentile, "threshold_percentile")
        data, columns = self._training_data(X)
        n, p = data.shape
        _check_rows(n, 2, p, "主成分分析をする")
        components = _check_components(self.n_components, min(n, p))
        mean, std = _standardization(data, columns)
        z = (data - mean) / std
        pca = PCA(n_components=components, svd_solver="full").fit(z)
        variances = pca.explained_variance_
        if variances[-1] < SINGULAR_TOLERANCE * variances[0]:
            first = int(np.argmax(variances < SINGULAR_TOLERANCE * variances[0])) + 1
            raise InvalidDataError(
                f"n_components={self.n_components!r} は多すぎます: {first} 番目以降の主成分の分散が "
                f"(ほぼ) 0 で、T² が求まりません (列が一次従属です)。{first - 1} 以下にしてください。"
            )
        self.pca_, self.mean_, self.std_ = pca, mean, std
        self.n_components_ = int(pca.n_components_)
        t2, q = self._t2_q(z)
        self.t2_limit_ = float(np.percentile(t2, pct))
        self.q_limit_ = max(float(np.percentile(q, pct)), Q_LIMIT_FLOOR)
        self.train_scores_ = np.maximum(t2 / self.t2_limit_, q / self.q_limit_)
        self._store_columns(X, columns)
        self._set_threshold(1.0)
        return self

    def _t2_q(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = self.pca_.transform(z)  # t_a: coordinates along the components
        t2 = (scores**2 / self.pca_.explained_variance_).sum(axis=1)
        residual = z - self.pca_.inverse_transform(scores)
        return t2, (residual**2).sum(axis=1)

    def _standardized(self, X) -> np.ndarray:
        return (self._matrix(X) - self.mean_) / self.std_

    def t2(self, X) -> np.ndarray:
        r"""行ごとの :math:`T^2 = \sum_a t_a^2 / \lambda_a` (主成分の中の距離、``float64``)。"""
        return self._t2_q(self._standardized(X))[0]

    def q(self, X) -> np.ndarray:
        r"""行ごとの :math:`Q = \lVert z - \hat z \rVert^2` (SPE。主成分で表せない残り、``float64``)。"""
        return self._t2_q(self._standardized(X))[1]

    def feature_contributions(self, X) -> np.ndarray:
        r"""行ごと・列ごとの :math:`Q` の寄与度 :math:`c_j = (z_j - \hat z_j)^2`。

        すべて 0 以上で、行ごとの和が :math:`Q` (:meth:`q`) にちょうど等しくなります (丸め誤差の範囲で)。
        :math:`T^2` だけが限界を超えた行 (いつもの方向に大きく動いた行) では、この寄与度は原因を示しません。

        Returns
        -------
        numpy.ndarray
            形 ``(行数, 列数)`` の寄与度 (``float64``、標準化した単位の 2 乗)。
        """
        z = self._standardized(X)
        return (z - self.pca_.inverse_transform(self.pca_.transform(z))) ** 2

    def _anomaly_scores(self, X) -> np.ndarray:
        t2, q = self._t2_q(self._standardized(X))
        return np.maximum(t2 / self.t2_limit_, q / self.q_limit_)


def _check_components(value, most: int) -> int | float:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if 1 <= value <= most:
            return int(value)
    elif isinstance(value, numbers.Real) and 0.0 < value < 1.0:
        return float(value)
    raise InvalidDataError(
        f"n_components は 1 以上 {most} 以下 (行と列の数の小さいほう) の整数か、0 と 1 の間の"
        f"割合 (累積寄与率。例: 0.9) にしてください (いまは {value!r})。"
    )
