"""異常検知器の共通部分: 異常度から閾値で判定する scikit-learn 流の外れ値検出器の土台。

:class:`aeutil.AutoEncoderDetector` (表形式のデータ) と :class:`aeutil.WindowAutoEncoder`
(時系列の窓) は、どちらもこのクラスを継承します。子クラスが書くのは学習 (``fit``) と
1 行 (1 窓) ごとの異常度 (``_anomaly_scores``) だけで、次はここにあります。

- 学習済みかどうかの検査 (``_check_fitted``)
- 閾値の記録と置き換え (``threshold_``、``offset_``、:meth:`BaseDetector.set_threshold`)
- scikit-learn の約束どおりの ``score_samples`` (大きいほど正常)、``decision_function``
  (負なら異常)、``predict`` (異常なら -1、正常なら 1)、``score`` (平均、大きいほど良い)

scikit-learn を読み込むので、コマンドラインの道 (:mod:`aeutil.cli`) はこのモジュールを使いません。
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from .validation import AEUtilError, InvalidDataError

__all__ = ["BaseDetector", "NotFittedError", "refuse_sparse"]


class NotFittedError(AEUtilError, _SklearnNotFittedError, RuntimeError):
    """学習 (または読み込み) の前にモデルを使おうとしたときのエラー。

    scikit-learn の ``sklearn.exceptions.NotFittedError`` の子クラスなので、
    scikit-learn の道具 (``check_is_fitted`` を前提にしたコードなど) からも同じように扱えます。
    """


def refuse_sparse(X, source: str, name: str) -> None:
    """疎行列 (scipy.sparse) を、理由と直し方を示すエラーで断る。

    Parameters
    ----------
    X : object
        入力。
    source : str
        エラーメッセージで入力を指す呼び名 (「学習データ」など)。
    name : str
        検出器のクラス名。
    """
    if sparse.issparse(X):
        raise InvalidDataError(
            f"{source}が疎行列 (scipy.sparse の {type(X).__name__}) です。{name} は疎行列を"
            "受け付けません。X.toarray() で密な配列にしてから渡してください。"
        )


class BaseDetector(OutlierMixin, BaseEstimator):
    """異常度 (大きいほど異常) と閾値で判定する検出器の土台。

    子クラスは ``fit`` で ``_set_threshold`` を呼び、``_anomaly_scores`` を実装します。
    学習済みかどうかは属性 ``_fitted_attribute`` (既定は ``"threshold_"``) の有無で判断します。
    """

    _fitted_attribute = "threshold_"

    def _anomaly_scores(self, X) -> np.ndarray:  # pragma: no cover - abstract
        """学習済みの検出器で、行 (窓) ごとの異常度を ``float64`` で返す。"""
        raise NotImplementedError

    # -- fitted state and threshold --------------------------------------------------

    def _check_fitted(self) -> None:
        if self._fitted_attribute not in self.__dict__:
            raise NotFittedError(
                "モデルがまだ学習されていません。先に fit() を呼ぶか、load() で読み込んでください。"
            )

    def _set_threshold(self, value: float) -> None:
        self.threshold_ = float(value)
        self.offset_ = -self.threshold_

    def set_threshold(self, threshold: float):
        """閾値を置き換える。

        正常な検証データで誤検知率から決めるなどの方法で選んだ閾値をモデルに記録します。
        以後の ``predict`` はこの値を使い、``save`` で保存されます。

        Parameters
        ----------
        threshold : float
            新しい閾値 (0 以上の有限の値)。

        Returns
        -------
        self
            自分自身。
        """
        self._check_fitted()
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value) or value < 0:
            raise InvalidDataError(f"閾値は 0 以上の有限の値にしてください (いまは {threshold!r})。")
        self._set_threshold(value)
        self._threshold_changed(value)
        return self

    def _threshold_changed(self, value: float) -> None:
        """閾値が置き換わったときに子クラスが追加で行うこと (Keras のモデルへの記録など)。"""

    # -- scikit-learn's outlier-detector face ----------------------------------------

    def score_samples(self, X) -> np.ndarray:
        """正常らしさ (異常度の符号を反転したもの。大きいほど正常)。

        scikit-learn の ``IsolationForest`` などと同じく「大きいほど正常」の向きです。

        Returns
        -------
        numpy.ndarray
            行 (窓) ごとの値 (``float64``)。
        """
        return -self._anomaly_scores(X)

    def decision_function(self, X) -> np.ndarray:
        """閾値との差 (``threshold_ - 異常度``)。負なら異常。

        Returns
        -------
        numpy.ndarray
            行 (窓) ごとの値 (``float64``)。
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """異常なら -1、正常なら 1 を返す (scikit-learn の外れ値検出器と同じ約束)。

        Returns
        -------
        numpy.ndarray
            行 (窓) ごとの判定。異常度が ``threshold_`` を超えるものが ``-1``。
        """
        return np.where(self._anomaly_scores(X) > self.threshold_, -1, 1)

    def score(self, X, y=None) -> float:
        """異常度の平均の符号を反転した値 (大きいほど良い)。

        ``GridSearchCV`` が ``scoring`` を省略したときに使います。ただしこれだけでモデルを選ぶと、
        異常まで上手に再構成してしまうモデルが選ばれやすくなります。
        """
        return float(-np.mean(self._anomaly_scores(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
