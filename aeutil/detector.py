"""scikit-learn 流のオートエンコーダ異常検知器。

元の記事は TensorFlow 同梱の Keras にあった scikit-learn 用ラッパー ``KerasRegressor`` で
``GridSearchCV`` を使っていましたが、このラッパーは TensorFlow 2.13 で削除されました。
:class:`AutoEncoderDetector` は scikit-learn の外れ値検出器
(``IsolationForest`` などと同じ形) として振る舞うので、``GridSearchCV`` や
``Pipeline`` にそのまま渡せます。
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import engine
from .base import BaseDetector, refuse_sparse
from .engine import TrainingResult
from .fitting import fit_dense
from .modelfile import load_network, save_network
from .network import DenseNetwork
from .validation import InvalidDataError, to_matrix

__all__ = ["AutoEncoderDetector"]


class AutoEncoderDetector(BaseDetector):
    """再構成誤差で異常を見つけるオートエンコーダ (scikit-learn 互換)。

    学習データの列ごとの平均と標準偏差で入力を標準化し、標準化した空間での
    平均二乗誤差を **再構成誤差** (異常度) とします。閾値は学習データの
    再構成誤差の ``threshold_percentile`` パーセンタイルで、学習時に一度だけ決めます。

    Parameters
    ----------
    hidden_units : tuple of int or None, default None
        エンコーダの中間層のユニット数 (デコーダは逆順)。``None`` なら学習データの列数から
        :func:`aeutil.network.default_architecture` で決める (16 列以下なら元の記事と同じ 8)。
    encoding_dim : int or None, default None
        ボトルネックの次元数。``None`` なら列数から決める (16 列以下なら元の記事と同じ 4。
        つまり記事の 2 列のデータでは既定値で 8-4-8 構成になる)。
    activation : str, default "relu"
        活性化関数 (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"elu"``, ``"softplus"``,
        ``"linear"``)。
    epochs : int, default 50
        エポック数。
    batch_size : int, default 32
        ミニバッチの大きさ。
    lr : float, default 1e-3
        学習率。
    optimizer : str, default "adam"
        最適化手法 (``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adamw"``)。
    threshold_percentile : float, default 95.0
        閾値に使う学習データの再構成誤差のパーセンタイル。
    validation_split : float, default 0.0
        学習データから検証用に取り分ける割合 (シードで並べ替えてから取り分ける)。
    patience : int or None, default None
        早期終了の我慢エポック数。``None`` なら早期終了しない。
    seed : int, default 0
        乱数のシード。同じシードなら CPU 上でビット単位で同じ結果になる。
    n_models : int, default 5
        アンサンブルの大きさ。初期値だけが違う同じ形のオートエンコーダを
        ``n_models`` 個まとめて学習し (1 つの Keras モデルの中に並べる)、再構成誤差の平均を
        異常度にする。モデル 1 個ではシードによる当たり外れが大きいため、既定値は 5
        (学習時間は 1 個のときの 2〜3 倍ほど)。元の記事と同じモデル 1 個にするには ``n_models=1``。

    Attributes
    ----------
    model_ : keras.Model
        学習済みモデル (入力から再構成誤差までを計算する)。
    threshold_ : float
        学習時に決めた閾値。
    offset_ : float
        ``decision_function`` のずれ (``-threshold_``)。scikit-learn の慣習に合わせたもの。
    hidden_units_ : tuple of int
        実際に使った中間層のユニット数 (``hidden_units=None`` なら列数から決めた値)。
    encoding_dim_ : int
        実際に使ったボトルネックの次元数。
    structure_ : str
        1 個のネットワークの中間層・ボトルネックのユニット数 (``"8-4-8"`` など)。
    history_ : dict
        エポックごとの損失 (``"loss"`` と、あれば ``"val_loss"``)。
    n_features_in_ : int
        特徴量の数。
    feature_names_in_ : numpy.ndarray
        DataFrame で学習したときの列名。

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> search = GridSearchCV(AutoEncoderDetector(), {"encoding_dim": [1, 2]})  # doctest: +SKIP
    """

    def __init__(
        self,
        hidden_units: Sequence[int] | None = None,
        encoding_dim: int | None = None,
        activation: str = "relu",
        epochs: int = 50,
        batch_size: int = 32,
        lr: float = 1e-3,
        optimizer: str = "adam",
        threshold_percentile: float = 95.0,
        validation_split: float = 0.0,
        patience: int | None = None,
        seed: int = 0,
        n_models: int = 5,
    ) -> None:
        self.hidden_units = hidden_units
        self.encoding_dim = encoding_dim
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.threshold_percentile = threshold_percentile
        self.validation_split = validation_split
        self.patience = patience
        self.seed = seed
        self.n_models = n_models

    # -- fitting ---------------------------------------------------------

    def fit(self, X, y=None) -> AutoEncoderDetector:
        """オートエンコーダを学習し、閾値を決める。

        Parameters
        ----------
        X : array-like or pandas.DataFrame, shape (n_samples, n_features)
            学習データ (正常データを想定)。1 列のデータも ``X.reshape(-1, 1)`` のように 2 次元で渡す。
        y : None
            使わない (scikit-learn の慣習のための引数)。

        Returns
        -------
        AutoEncoderDetector
            学習済みの自分自身。
        """
        refuse_sparse(X, "学習データ", "AutoEncoderDetector")
        columns = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
        data = to_matrix(X, source="学習データ", allow_1d=False)
        if columns is None:
            columns = [f"x{j}" for j in range(data.shape[1])]
        self._fit_matrix(data, columns)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _fit_matrix(self, data: np.ndarray, columns: list[str]) -> TrainingResult:
        fitted = fit_dense(
            data,
            hidden_units=self.hidden_units,
            encoding_dim=self.encoding_dim,
            activation=self.activation,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer=self.optimizer,
            threshold_percentile=self.threshold_percentile,
            validation_split=self.validation_split,
            patience=self.patience,
            seed=self.seed,
            n_models=self.n_models,
        )
        self._set_network(
            fitted.network, columns, fitted.threshold, float(self.threshold_percentile)
        )
        self.history_ = fitted.result.history
        self.best_epoch_ = fitted.result.best_epoch
        self.stopped_early_ = fitted.result.stopped_early
        self.train_errors_ = fitted.train_errors
        return fitted.result

    def _set_network(
        self, network: DenseNetwork, columns: list[str], threshold: float, percentile: float
    ) -> None:
        units = network.units
        n_hidden = (len(units) - 2) // 2
        self.network_ = network
        self.hidden_units_ = tuple(units[:n_hidden])
        self.encoding_dim_ = units[n_hidden]
        self.columns_ = list(columns)
        self.n_features_in_ = len(columns)
        self._set_threshold(threshold)
        self._saved_percentile = float(percentile)
        self._keras_model = None  # built on first use of model_

    @property
    def model_(self):
        """学習済みの Keras モデル (入力から再構成誤差までを計算する)。

        学習と判定は NumPy で行うので、Keras のモデルは初めて参照されたときに組み立てます
        (このとき TensorFlow が読み込まれます)。重み・標準化・閾値・列名は検出器と同じです。
        """
        self._check_fitted()
        if self._keras_model is None:
            from .model import model_from_network

            self._keras_model = model_from_network(
                self.network_,
                self.columns_,
                threshold=self.threshold_,
                threshold_percentile=self._saved_percentile,
            )
        return self._keras_model

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_keras_model", None)  # rebuilt on demand; Keras models do not pickle cheaply
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "network_" in state:
            self._keras_model = None

    # -- scoring ---------------------------------------------------------

    _fitted_attribute = "network_"

    def _matrix(self, X) -> np.ndarray:
        self._check_fitted()
        refuse_sparse(X, "データ", "AutoEncoderDetector")
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            data = to_matrix(X, list(self.feature_names_in_), source="データ")
        else:
            data = to_matrix(X, source="データ", allow_1d=False)
        if data.shape[1] != self.n_features_in_:
            raise InvalidDataError(
                f"列の数が合いません: モデルは {self.n_features_in_} 列 "
                f"({', '.join(self.columns_)}) で学習されていますが、データは {data.shape[1]} 列です。"
            )
        return data

    def reconstruction_error(self, X) -> np.ndarray:
        """行ごとの再構成誤差 (大きいほど異常) を返す。

        Parameters
        ----------
        X : array-like or pandas.DataFrame
            判定するデータ。

        Returns
        -------
        numpy.ndarray
            行ごとの再構成誤差 (``float64``。ネットワークは ``float32`` で計算するので、
            値は ``float32`` の値をそのまま ``float64`` にしたもの)。

        Raises
        ------
        InvalidDataError
            列の数が学習時 (``n_features_in_``) と違う、疎行列である、使えない値がある。
        NotFittedError
            学習 (または読み込み) の前に呼んだ。
        """
        data = self._matrix(X)
        # scikit-learn's convention: scores are float64. The cast up is exact.
        return engine.score(self.network_, data).astype(np.float64)

    def feature_contributions(self, X) -> np.ndarray:
        """行ごと・列ごとの寄与度 (どの列が異常度を押し上げたか)。

        異常度 (再構成誤差) は、標準化した空間での二乗誤差を列とネットワークについて平均したもの
        なので、列 :math:`j` の寄与度を

        .. math:: c_j = \\frac{1}{M d} \\sum_{m=1}^{M} (\\hat z_{mj} - z_j)^2

        (:math:`d` は列の数、:math:`M` はネットワークの数) とすると、寄与度はすべて 0 以上で、
        行ごとの和がちょうどその行の異常度 (:meth:`reconstruction_error`) になります。

        Parameters
        ----------
        X : array-like or pandas.DataFrame
            判定するデータ (学習時と同じ列数)。

        Returns
        -------
        numpy.ndarray
            形 ``(行数, 列数)`` の寄与度 (``float64``)。列の順は学習時と同じ (``columns_``)。
        """
        return engine.contributions(self.network_, self._matrix(X))

    def reconstruct(self, X) -> np.ndarray:
        """ネットワークごとの再構成を、元の単位で返す 。

        入力を標準化してネットワークに通し、出力の標準化を元に戻したものです。
        再構成誤差 (異常度) は、ネットワークごとに標準化した空間で入力との平均二乗誤差をとり、
        それをネットワークについて平均したものです (再構成を平均してから誤差をとるのではありません)。

        Parameters
        ----------
        X : array-like or pandas.DataFrame
            再構成するデータ。

        Returns
        -------
        numpy.ndarray
            形 ``(n_models, 行数, 列数)`` の再構成 (``float32``)。ネットワークが 1 個でも先頭の軸は残る。
        """
        return engine.reconstruct(self.network_, self._matrix(X))

    def dead_code_units(self, X) -> int:
        """ボトルネックのユニットのうち、``X`` のどの行にも同じ値を出すもの (死んだユニット) の数。

        ReLU のユニットは、入力がすべての行で負になると 0 しか出さなくなります。
        ネットワークが複数なら、その合計です。NumPy だけで計算します (TensorFlow は使いません)。

        Parameters
        ----------
        X : array-like or pandas.DataFrame
            調べるデータ (ふつうは学習データ)。

        Returns
        -------
        int
            出力が行によらず一定のユニットの数。
        """
        code = engine.bottleneck(self.network_, self._matrix(X))
        return int(np.sum(np.ptp(code, axis=1) == 0))

    @property
    def structure_(self) -> str:
        """1 個のネットワークの層のユニット数を ``"8-4-8"`` の形で表した文字列。"""
        self._check_fitted()
        hidden = self.hidden_units_
        return "-".join(str(u) for u in (*hidden, self.encoding_dim_, *reversed(hidden)))

    def _anomaly_scores(self, X) -> np.ndarray:
        return self.reconstruction_error(X)

    def _threshold_changed(self, value: float) -> None:
        if self._keras_model is not None:
            from .model import metadata_layer

            metadata_layer(self._keras_model).threshold = value

    # -- persistence -----------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """モデル・標準化・閾値・列名を ``.keras`` ファイル 1 つに保存する。"""
        self._check_fitted()
        save_network(self.network_, self.columns_, self.threshold_, self._saved_percentile, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AutoEncoderDetector:
        """:meth:`save` したファイルから検出器を復元する。"""
        network, columns, threshold, percentile = load_network(path)
        detector = cls(
            activation=network.activation,
            threshold_percentile=percentile,
            n_models=len(network.members),
        )
        detector._set_network(network, columns, threshold, percentile)
        detector.hidden_units = detector.hidden_units_
        detector.encoding_dim = detector.encoding_dim_
        return detector
