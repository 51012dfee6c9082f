"""表形式のオートエンコーダを行列から学習する手順 (NumPy だけ。scikit-learn も TensorFlow も使わない)。

:class:`aeutil.AutoEncoderDetector` の ``fit`` も、コマンド ``aeutil fit`` も、ここにある
:func:`fit_dense` を呼びます。手順は次のとおりです。

1. 検証用の行を取り分ける (:func:`split_validation`、シードで並べ替えてから)。
2. 学習用の行で列ごとの平均と標準偏差を求める (:func:`standardization`)。
3. 初期値のネットワークを作り (``aeutil.network.initial_network``)、
   ``aeutil.engine.train_network`` で学習する。
4. 学習データの異常度の ``threshold_percentile`` パーセンタイルを閾値にする。

:func:`standardization` は時系列の窓のモデル (:class:`aeutil.WindowAutoEncoder`) も使います。
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import engine
from .engine import TrainingResult, check_activation, check_training
from .network import DenseNetwork, initial_network, resolve_architecture
from .thresholds import check_percentile
from .thresholds import threshold_percentile as percentile_of
from .validation import InvalidDataError

__all__ = ["DenseFit", "check_dense_params", "fit_dense", "split_validation", "standardization"]


def standardization(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """列ごとの平均と、割り算に使う標準偏差を返す (どちらも ``float64``)。

    定数の列は標準偏差が 0 なので 1 で割ります (異常度を有限に保つため)。``float32`` で
    表せないほど小さい標準偏差 (最小の正規化数未満) も、標準化した値があふれるので 1 にします。

    Parameters
    ----------
    flat : numpy.ndarray, shape (n_rows, n_columns)
        学習データ (時系列の窓なら、窓と時刻をまとめて 1 つの軸にしたもの)。

    Returns
    -------
    mean, scale : numpy.ndarray
        形 ``(n_columns,)`` の平均と標準偏差。
    """
    mean = flat.mean(axis=0, dtype=np.float64)
    std = flat.std(axis=0, dtype=np.float64)
    scale = np.where(std >= np.finfo(np.float32).tiny, std, 1.0)
    return mean, scale


def split_validation(
    data: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """``fraction`` の割合の行を検証用に取り分ける (シードで並べ替えてから)。

    Returns
    -------
    train, val : numpy.ndarray
        学習用と検証用の行。``fraction`` が 0 なら ``(data, None)``。
    """
    n = data.shape[0]
    n_val = int(round(n * float(fraction)))
    if fraction and (n_val < 1 or n - n_val < 1):
        raise InvalidDataError(f"{n} 行のデータを validation_split={fraction} で分けられません。")
    if not n_val:
        return data, None
    order = np.random.default_rng(seed).permutation(n)
    return data[order[n_val:]], data[order[:n_val]]


def check_dense_params(
    *,
    activation: str,
    epochs: int,
    batch_size: int,
    optimizer: str,
    threshold_percentile: float,
    validation_split: float,
    patience: int | None,
    n_models: int,
) -> None:
    """学習のハイパーパラメータを、学習を始める前に一度だけ検査する。"""
    check_activation(activation)
    check_training(int(epochs), int(batch_size), patience, optimizer)
    check_percentile(threshold_percentile, "threshold_percentile")
    if not 0.0 <= float(validation_split) < 1.0:
        raise InvalidDataError(
            f"validation_split は 0 以上 1 未満にしてください (いまは {validation_split})。"
        )
    if int(n_models) < 1:
        raise InvalidDataError(f"n_models は 1 以上の整数にしてください (いまは {n_models})。")


@dataclass
class DenseFit:
    """:func:`fit_dense` の結果。

    Attributes
    ----------
    network : DenseNetwork
        学習済みのネットワーク (標準化の平均と標準偏差を含む)。
    threshold : float
        学習データの異常度のパーセンタイルから決めた閾値。
    train_errors : numpy.ndarray
        学習用の行の異常度 (``float32``)。
    result : TrainingResult
        損失の履歴・最良のエポック・早期終了したか。
    """

    network: DenseNetwork
    threshold: float
    train_errors: np.ndarray
    result: TrainingResult


def fit_dense(
    data: np.ndarray,
    *,
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
) -> DenseFit:
    """検査済みの ``float32`` の行列でオートエンコーダを学習し、閾値を決める。

    引数の意味は :class:`aeutil.AutoEncoderDetector` と同じです。大域の乱数の状態
    (NumPy・``random``・TensorFlow) は読みも書き換えもしません。シードは初期値と
    ミニバッチの並べ替えに直接渡します。

    Raises
    ------
    InvalidDataError
        ハイパーパラメータが範囲外、または学習が発散した (異常度が有限にならない)。
    """
    check_dense_params(
        activation=activation, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
        threshold_percentile=threshold_percentile, validation_split=validation_split,
        patience=patience, n_models=n_models,
    )
    train, val = split_validation(data, float(validation_split), seed)
    mean, scale = standardization(train)
    hidden, code = resolve_architecture(hidden_units, encoding_dim, data.shape[1])
    # the seed goes straight to the initial weights (the same values as Keras' GlorotUniform
    # after keras.utils.set_random_seed): no global random state is read or changed
    network = initial_network(
        mean.astype(np.float32), scale.astype(np.float32), hidden_units=hidden,
        encoding_dim=code, activation=activation, n_models=int(n_models), seed=int(seed),
    )
    # validation rows far outside the training rows' range can overflow float32 (val_loss
    # becomes inf, which is the honest value); a diverging fit is caught just below
    with np.errstate(over="ignore", invalid="ignore"):
        result = engine.train_network(
            network, train, epochs=int(epochs), batch_size=int(batch_size), lr=float(lr),
            optimizer=optimizer, validation_data=val, patience=patience, seed=int(seed),
        )
    errors = engine.score(network, train)
    if not errors.max() < np.finfo(np.float32).max:
        # the training diverged (inf/NaN weights score at the ceiling)
        raise InvalidDataError(
            "学習が発散しました (学習データの再構成誤差が有限の値になりません)。"
            f"学習率 lr (いまは {lr}) を小さくしてください。"
        )
    threshold = percentile_of(errors, threshold_percentile)
    return DenseFit(network, threshold, errors, result)
