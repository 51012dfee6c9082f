"""Keras のモデル: aeutil の層、モデルの組み立て、NumPy のネットワークとの変換。

ここで作る Keras モデルは、生の入力 ``x`` を受け取り、行ごとの **再構成誤差**
(標準化した空間での平均二乗誤差) をそのまま出力します。

``x`` → 標準化 (``Standardize``) → エンコーダ → 潜在表現 → デコーダ → 再構成
→ 再構成誤差 (``ReconstructionError``)

標準化の平均・標準偏差、閾値、列名はモデルの層の設定として保存されるので、
``.keras`` ファイル 1 つで判定に必要なものがすべて復元できます。

Dense 層だけのモデル (表形式のオートエンコーダ、:func:`build_autoencoder`) は、学習も判定も
``aeutil.engine`` が NumPy で計算します。このモジュールを読み込むと TensorFlow も
読み込まれるので、aeutil は Keras のモデルが必要になったとき (``model_``、Keras での保存、
LSTM・Conv1D のモデル) にだけこのモジュールを読み込みます。TensorFlow での学習と判定
(LSTM・Conv1D を含むモデル) は :mod:`aeutil.kerastrain` にあります。
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from ._keras import keras
from .engine import ACTIVATIONS, check_activation
from .network import DenseNetwork, default_architecture, resolve_architecture
from .validation import InvalidDataError

__all__ = [
    "ACTIVATIONS",
    "Standardize",
    "ReconstructionError",
    "build_autoencoder",
    "default_architecture",
    "network_from_model",
    "model_from_network",
]

FORMAT_VERSION = 1


# --- custom layers (saved inside the .keras file) ----------------------------


@keras.saving.register_keras_serializable(package="aeutil")
class Standardize(keras.layers.Layer):
    """学習データの平均と標準偏差で入力を標準化する層。

    Parameters
    ----------
    mean : sequence of float
        列ごとの平均。
    scale : sequence of float
        列ごとの標準偏差。0 の列 (定数列) は 1 に置き換えてから渡す。
    """

    def __init__(self, mean: Sequence[float], scale: Sequence[float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)

    def build(self, input_shape) -> None:
        # kept as (non-trainable) weights rather than graph constants, so that one compiled
        # training loop serves every model of the same shape, whatever the data's scale
        self._mean = self.add_weight(
            name="mean", shape=self.mean.shape, initializer="zeros", trainable=False
        )
        self._scale = self.add_weight(
            name="scale", shape=self.scale.shape, initializer="ones", trainable=False
        )
        self._mean.assign(self.mean)
        self._scale.assign(self.scale)

    def call(self, inputs):
        return (inputs - self._mean) / self._scale

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"mean": self.mean.tolist(), "scale": self.scale.tolist()})
        return config


@keras.saving.register_keras_serializable(package="aeutil")
class ReconstructionError(keras.layers.Layer):
    """標準化した入力と再構成から、行ごとの平均二乗誤差を計算する層。

    入力が 3 次元 (サンプル × 時刻 × チャンネル) のときは、時刻とチャンネルの
    すべてにわたって平均し、サンプルごとに 1 つの値を返します。

    再構成を複数受け取ったとき (``n_models`` 個のアンサンブル) は、それぞれの誤差の平均を返します。

    判定に必要な付帯情報 (列名・閾値) もこの層の設定として保存します。

    Parameters
    ----------
    columns : list of str
        学習に使った列名。
    threshold : float or None
        異常と判定する再構成誤差の閾値。
    threshold_percentile : float
        閾値を決めたパーセンタイル (学習データの再構成誤差に対して)。
    format_version : int
        ファイル形式のバージョン。
    """

    def __init__(
        self,
        columns: Sequence[str],
        threshold: float | None = None,
        threshold_percentile: float = 95.0,
        format_version: int = FORMAT_VERSION,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.columns = [str(c) for c in columns]
        self.threshold = None if threshold is None else float(threshold)
        self.threshold_percentile = float(threshold_percentile)
        self.format_version = int(format_version)

    def call(self, inputs):
        z, *reconstructions = inputs
        errors = []
        for z_hat in reconstructions:
            squared = keras.ops.square(z - z_hat)
            # one score per sample: average over every axis but the batch axis
            # (features for tables, time steps and channels for windows of a time series)
            errors.append(
                keras.ops.mean(keras.ops.reshape(squared, (keras.ops.shape(squared)[0], -1)), axis=-1)
            )
        if len(errors) == 1:
            return errors[0]
        # an ensemble (n_models > 1): the mean of the members' errors
        return keras.ops.mean(keras.ops.stack(errors, axis=0), axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape[0][:1]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "columns": list(self.columns),
                "threshold": self.threshold,
                "threshold_percentile": self.threshold_percentile,
                "format_version": self.format_version,
            }
        )
        return config


#: 重みを取り出して NumPy で計算できる層 (Dense だけのオートエンコーダ)。
_NUMPY_LAYERS = (keras.layers.InputLayer, keras.layers.Dense, Standardize, ReconstructionError)


def is_dense_only(model: keras.Model) -> bool:
    """NumPy で学習・判定できるモデル (Dense 層だけのオートエンコーダ) かどうか。"""
    return all(isinstance(layer, _NUMPY_LAYERS) for layer in model.layers)


# --- building ----------------------------------------------------------------

def build_autoencoder(
    mean: np.ndarray,
    scale: np.ndarray,
    columns: Sequence[str],
    *,
    hidden_units: Sequence[int] | None = None,
    encoding_dim: int | None = None,
    activation: str = "relu",
    threshold_percentile: float = 95.0,
    n_models: int = 1,
) -> keras.Model:
    """入力から再構成誤差までを 1 つにまとめた Keras モデルを組み立てる。

    Parameters
    ----------
    mean, scale : numpy.ndarray
        標準化に使う列ごとの平均と標準偏差 (0 は 1 に置き換え済みのもの)。
    columns : sequence of str
        列名。
    hidden_units : sequence of int, optional
        エンコーダの中間層のユニット数 (デコーダはその逆順)。省略すると列数から
        :func:`aeutil.network.default_architecture` で決める (16 列以下なら元の記事と同じ 8)。
    encoding_dim : int, optional
        潜在表現 (ボトルネック) の次元数。省略すると :func:`aeutil.network.default_architecture` で決める
        (16 列以下なら元の記事と同じ 4)。
    activation : str, default "relu"
        中間層とボトルネックの活性化関数。出力層は線形。
    threshold_percentile : float, default 95.0
        閾値を決めるパーセンタイル (モデルに記録するだけ)。
    n_models : int, default 1
        アンサンブルの大きさ (。:class:`aeutil.AutoEncoderDetector` の既定値は 5)。2 以上なら、同じ形で初期値の違うオートエンコーダを
        ``n_models`` 個並べ (層の名前は ``member0_encoder_0`` のように番号付き)、
        それぞれの再構成誤差の平均を異常度にします。1 個のときの層の名前は元の記事と同じ構成のままです。

    Returns
    -------
    keras.Model
        入力 ``(None, 列数)`` から再構成誤差 ``(None,)`` を返すモデル。
    """
    check_activation(activation)
    hidden, encoding_dim = resolve_architecture(hidden_units, encoding_dim, len(columns))
    if int(n_models) < 1:
        raise InvalidDataError(f"n_models は 1 以上の整数にしてください (いまは {n_models})。")
    n_features = len(columns)
    inputs = keras.Input(shape=(n_features,), name="x")
    z = Standardize(mean, scale, name="standardize")(inputs)
    reconstructions = []
    for member in range(int(n_models)):
        prefix = f"member{member}_" if n_models > 1 else ""
        h = z
        for i, units in enumerate(hidden):
            h = keras.layers.Dense(units, activation=activation, name=f"{prefix}encoder_{i}")(h)
        h = keras.layers.Dense(int(encoding_dim), activation=activation, name=f"{prefix}code")(h)
        for i, units in enumerate(reversed(hidden)):
            h = keras.layers.Dense(units, activation=activation, name=f"{prefix}decoder_{i}")(h)
        reconstructions.append(
            keras.layers.Dense(n_features, activation="linear", name=f"{prefix}reconstruction")(h)
        )
    score = ReconstructionError(
        columns, threshold_percentile=threshold_percentile, name="anomaly_score"
    )([z, *reconstructions])
    return keras.Model(inputs, score, name="autoencoder")


def dense_chains(model: keras.Model) -> list[list[keras.layers.Dense]]:
    """Dense 層を、アンサンブルのメンバーごとの列 (入力側から順) に分ける。

    :func:`build_autoencoder` の層の名前 (``member3_code`` など) で分けます。
    メンバーが 1 個のモデルでは、すべての Dense 層が 1 つの列になります。
    """
    chains: dict[str, list[keras.layers.Dense]] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            head, _, rest = layer.name.partition("_")
            key = head if head.startswith("member") and rest else ""
            chains.setdefault(key, []).append(layer)
    return list(chains.values())


def metadata_layer(model: keras.Model) -> ReconstructionError:
    """モデルから付帯情報を持つ層を取り出す。"""
    return model.get_layer("anomaly_score")


def dead_code_units(model: keras.Model, X: np.ndarray) -> int:
    """ボトルネック (層 ``code``) のユニットのうち、``X`` のどの行にも同じ値を出すものの数。

    ReLU のユニットは、入力がすべての行で負になると 0 しか出さなくなります (死んだユニット)。

    Parameters
    ----------
    model : keras.Model
        ``code`` という名前の層を持つモデル (1 個のネットワークの :func:`build_autoencoder`)。
    X : numpy.ndarray
        入力 ``(行数, 列数)``。

    Returns
    -------
    int
        出力が行によらず一定のユニットの数。
    """
    encoder = keras.Model(model.inputs, model.get_layer("code").output)
    code = np.asarray(encoder([np.asarray(X, dtype=np.float32)]))
    return int(np.sum(np.ptp(code, axis=0) == 0))


def activation_name(layer: keras.layers.Layer) -> str:
    """層の活性化関数の名前 (``"relu"`` など)。"""
    name = keras.activations.serialize(layer.activation)
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    return str(name)


def network_from_model(model: keras.Model) -> DenseNetwork:
    """Dense 層だけの Keras モデルから、重みを写した :class:`~aeutil.network.DenseNetwork` を作る。"""
    std = model.get_layer("standardize")
    members = []
    for chain in dense_chains(model):
        layers = []
        for layer in chain:
            kernel, bias = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
            layers.append((kernel, bias, activation_name(layer)))
        members.append(layers)
    return DenseNetwork(
        np.asarray(std.mean, dtype=np.float32), np.asarray(std.scale, dtype=np.float32), members
    )


def _write_weights(model: keras.Model, network: DenseNetwork) -> None:
    for chain, layers in zip(dense_chains(model), network.members, strict=True):
        for layer, (kernel, bias, _) in zip(chain, layers, strict=True):
            layer.set_weights([kernel, bias])


def model_from_network(
    network: DenseNetwork,
    columns: Sequence[str],
    *,
    threshold: float | None,
    threshold_percentile: float,
) -> keras.Model:
    """:class:`~aeutil.network.DenseNetwork` と同じ重みの Keras モデルを組み立てる。

    Python の大域の乱数の状態 (Keras が初期値のシードを引くのに使う) は元に戻します。
    """
    units = network.units
    n_hidden = (len(units) - 2) // 2
    state = random.getstate()
    try:
        model = build_autoencoder(
            network.mean,
            network.scale,
            columns,
            hidden_units=units[:n_hidden],
            encoding_dim=units[n_hidden],
            activation=network.activation,
            threshold_percentile=threshold_percentile,
            n_models=len(network.members),
        )
    finally:
        random.setstate(state)
    _write_weights(model, network)
    metadata_layer(model).threshold = threshold
    return model
