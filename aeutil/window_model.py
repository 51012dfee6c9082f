"""時系列の窓のオートエンコーダの Keras モデル (Dense・LSTM・Conv1D) の組み立て。

3 種類とも、表形式のデータ用のモデル (:mod:`aeutil.model`) と同じ部品でできています。
このモジュールは TensorFlow を読み込むので、:class:`aeutil.WindowAutoEncoder` が学習や
読み込みのときにだけ読み込みます。
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from ._keras import keras
from .model import ReconstructionError, Standardize
from .sequence import _MODEL_PREFIX, WINDOW_MODEL_KINDS
from .sequence import _check_kind as check_kind
from .validation import InvalidDataError

__all__ = ["WINDOW_MODEL_KINDS", "build_window_autoencoder", "check_kind"]

class _Seeds:
    """層の初期値のシードを、``random.Random(seed)`` から層を作る順に引く。

    Keras は初期値 (と LSTM のドロップアウト用の乱数) のシードを指定しないと、作るたびに
    Python の大域の乱数から ``randint(1, 10**9)`` で引きます。同じ数を同じ順に自前の乱数から
    引いて明示的に渡すので、結果は ``keras.utils.set_random_seed(seed)`` の後と同じになり、
    大域の乱数の状態は変わりません。
    """

    def __init__(self, seed: int) -> None:
        self._draws = random.Random(int(seed))

    def next(self) -> int:
        return self._draws.randint(1, int(1e9))

    def glorot(self):
        return keras.initializers.GlorotUniform(seed=self.next())

    def lstm(self) -> dict:
        # the order in which LSTMCell creates them: kernel, recurrent kernel, dropout seed
        return {
            "kernel_initializer": self.glorot(),
            "recurrent_initializer": keras.initializers.Orthogonal(seed=self.next()),
            "seed": self.next(),
        }


def _dense_body(z, seeds: _Seeds, window: int, channels: int, latent: int, hidden: int):
    def dense(units: int, activation: str, name: str):
        return keras.layers.Dense(
            units, activation=activation, name=name, kernel_initializer=seeds.glorot()
        )

    h = keras.layers.Flatten(name="flatten")(z)
    h = dense(hidden, "relu", "encoder_0")(h)
    h = dense(latent, "relu", "code")(h)
    h = dense(hidden, "relu", "decoder_0")(h)
    h = dense(window * channels, "linear", "reconstruction_flat")(h)
    return keras.layers.Reshape((window, channels), name="reconstruction")(h)


def _lstm_body(z, seeds: _Seeds, window: int, channels: int, latent: int, hidden: int):
    # the encoder LSTM's last state is the latent representation of the whole window
    code = keras.layers.LSTM(latent, name="code", **seeds.lstm())(z)
    h = keras.layers.RepeatVector(window, name="repeat")(code)
    h = keras.layers.LSTM(hidden, return_sequences=True, name="decoder_0", **seeds.lstm())(h)
    out = keras.layers.Dense(channels, activation="linear", kernel_initializer=seeds.glorot())
    return keras.layers.TimeDistributed(out, name="reconstruction")(h)


def _conv1d_body(z, seeds: _Seeds, window: int, channels: int, latent: int, hidden: int):
    def conv(layer, filters: int, activation: str, name: str, **kw):
        return layer(
            filters, kernel_size=5, padding="same", activation=activation, name=name,
            kernel_initializer=seeds.glorot(), **kw,
        )

    h = conv(keras.layers.Conv1D, hidden, "relu", "encoder_0", strides=2)(z)
    h = conv(keras.layers.Conv1D, latent, "relu", "code", strides=2)(h)
    h = conv(keras.layers.Conv1DTranspose, hidden, "relu", "decoder_0", strides=2)(h)
    h = conv(keras.layers.Conv1DTranspose, hidden, "relu", "decoder_1", strides=2)(h)
    return conv(keras.layers.Conv1D, channels, "linear", "reconstruction")(h)


_BODIES = {"dense": _dense_body, "lstm": _lstm_body, "conv1d": _conv1d_body}


def build_window_autoencoder(
    kind: str,
    mean: np.ndarray,
    scale: np.ndarray,
    channels: Sequence[str],
    *,
    window: int,
    latent: int = 8,
    hidden: int = 32,
    threshold_percentile: float = 99.0,
    seed: int = 0,
) -> keras.Model:
    """窓を入力に、窓ごとの再構成誤差を出力する Keras モデルを組み立てる。

    Parameters
    ----------
    kind : {"dense", "lstm", "conv1d"}
        モデルの種類。

        - ``"dense"``: 窓を 1 本のベクトルに平らにし (Flatten)、全結合層
          ``hidden → latent → hidden → window×チャンネル`` で再構成して形を戻す (Reshape)。
        - ``"lstm"``: エンコーダの LSTM (``latent`` ユニット) の最後の状態を潜在表現とし、
          それを時刻の数だけ並べ (RepeatVector)、デコーダの LSTM (``hidden`` ユニット、
          各時刻の出力を返す) と時刻ごとの全結合層 (TimeDistributed(Dense)) で再構成する。
        - ``"conv1d"``: ストライド 2 の 1 次元畳み込みを 2 回 (``hidden`` → ``latent``
          フィルター) で時間方向を 1/4 に縮め、転置畳み込み (Conv1DTranspose) 2 回で元の長さに戻す。
          潜在表現は ``window/4 × latent`` 個の数。``window`` は 4 の倍数にする。
    mean, scale : numpy.ndarray, shape (channels,)
        チャンネルごとの平均と標準偏差 (0 は 1 に置き換え済みのもの)。
    channels : sequence of str
        チャンネル名。
    window : int
        窓の長さ (時刻の数)。
    latent : int, default 8
        潜在表現の大きさ (上の説明を参照)。
    hidden : int, default 32
        中間層のユニット数 (Conv1D ではフィルター数)。
    threshold_percentile : float, default 99.0
        閾値を決めるパーセンタイル (モデルに記録するだけ)。
    seed : int, default 0
        層の初期値のシード (大域の乱数は使わない)。

    Returns
    -------
    keras.Model
        入力 ``(None, window, チャンネル数)`` から再構成誤差 ``(None,)`` を返すモデル。
    """
    check_kind(kind)
    window = int(window)
    latent, hidden = int(latent), int(hidden)
    if latent < 1 or hidden < 1:
        raise InvalidDataError(
            f"latent と hidden は 1 以上の整数にしてください (いまは latent={latent}, hidden={hidden})。"
        )
    if kind == "conv1d" and window % 4:
        raise InvalidDataError(
            f"conv1d のモデルでは window を 4 の倍数にしてください (いまは {window})。"
            "ストライド 2 の畳み込みで長さを 2 回半分にし、転置畳み込みで戻すためです。"
        )
    n_channels = len(channels)
    inputs = keras.Input(shape=(window, n_channels), name="x")
    z = Standardize(mean, scale, name="standardize")(inputs)
    z_hat = _BODIES[kind](z, _Seeds(seed), window, n_channels, latent, hidden)
    score = ReconstructionError(
        list(channels), threshold_percentile=threshold_percentile, name="anomaly_score"
    )([z, z_hat])
    return keras.Model(inputs, score, name=f"{_MODEL_PREFIX}{kind}")
