"""オートエンコーダ本体: モデルの組み立て・学習・判定。

ここで作る Keras モデルは、生の入力 ``x`` を受け取り、行ごとの **再構成誤差**
(標準化した空間での平均二乗誤差) をそのまま出力します。

``x`` → 標準化 (``Standardize``) → エンコーダ → 潜在表現 → デコーダ → 再構成
→ 再構成誤差 (``ReconstructionError``)

標準化の平均・標準偏差、閾値、列名はモデルの層の設定として保存されるので、
``.keras`` ファイル 1 つで判定に必要なものがすべて復元できます。
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ._keras import keras, tf
from .validation import InvalidDataError

__all__ = [
    "ACTIVATIONS",
    "Standardize",
    "ReconstructionError",
    "build_autoencoder",
    "default_architecture",
    "train_autoencoder",
    "reconstruction_error",
    "TrainingResult",
]

FORMAT_VERSION = 1


# --- activations, shared by Keras (training) and NumPy (scoring) -------------


def _relu(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, np.float32(0.0), out=a)


def _tanh(a: np.ndarray) -> np.ndarray:
    return np.tanh(a, out=a)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # numerically stable logistic function
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _elu(a: np.ndarray) -> np.ndarray:
    return np.where(a > 0, a, np.expm1(np.minimum(a, 0))).astype(a.dtype, copy=False)


def _softplus(a: np.ndarray) -> np.ndarray:
    return (np.logaddexp(np.float32(0.0), a)).astype(a.dtype, copy=False)


def _linear(a: np.ndarray) -> np.ndarray:
    return a


#: 使える活性化関数 (名前 → NumPy での計算)。
ACTIVATIONS = {
    "relu": _relu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "elu": _elu,
    "softplus": _softplus,
    "linear": _linear,
}


def check_activation(activation: str) -> str:
    """活性化関数の名前を検査する。"""
    if activation not in ACTIVATIONS:
        raise InvalidDataError(
            f"活性化関数 {activation!r} には対応していません。"
            f"使えるもの: {', '.join(ACTIVATIONS)}"
        )
    return activation


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


def default_architecture(n_features: int) -> tuple[tuple[int, ...], int]:
    """列数に合わせた既定の構成 (中間層のユニット数, ボトルネックの次元数) を返す。

    中間層は列数の半分 (8 以上 64 以下)、ボトルネックは列数の 1/8 (4 以上 16 以下) です。
    16 列以下のデータでは元の記事と同じ 8-4-8 構成になり、時系列の窓 (32 時点 × 4 チャンネル
    = 128 列) のような幅の広いデータでは 64-16-64 構成になります。記事の 8-4-8 のままだと、
    幅の広いデータでは入力を 8 個の値に押し込むことになり、正常なパターンも再構成しきれません。

    Parameters
    ----------
    n_features : int
        入力の列数。

    Returns
    -------
    hidden_units : tuple of int
        エンコーダの中間層のユニット数。
    encoding_dim : int
        ボトルネックの次元数。

    Examples
    --------
    >>> default_architecture(2)
    ((8,), 4)
    >>> default_architecture(128)
    ((64,), 16)
    """
    n = int(n_features)
    return (min(64, max(8, n // 2)),), min(16, max(4, n // 8))


def resolve_architecture(
    hidden_units: Sequence[int] | None, encoding_dim: int | None, n_features: int
) -> tuple[tuple[int, ...], int]:
    """``None`` の指定を :func:`default_architecture` の値で埋める (指定された値はそのまま)。"""
    default_hidden, default_code = default_architecture(n_features)
    hidden = default_hidden if hidden_units is None else tuple(hidden_units)
    code = default_code if encoding_dim is None else encoding_dim
    return hidden, code


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
        :func:`default_architecture` で決める (16 列以下なら元の記事と同じ 8)。
    encoding_dim : int, optional
        潜在表現 (ボトルネック) の次元数。省略すると :func:`default_architecture` で決める
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
    hidden_units, encoding_dim = resolve_architecture(hidden_units, encoding_dim, len(columns))
    hidden = [int(u) for u in hidden_units]
    if int(encoding_dim) < 1 or any(u < 1 for u in hidden):
        raise InvalidDataError("ユニット数と encoding_dim は 1 以上の整数にしてください。")
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


# --- training ----------------------------------------------------------------


@dataclass
class TrainingResult:
    """学習の結果。

    Attributes
    ----------
    history : dict of list of float
        エポックごとの損失。``"loss"`` (学習データ) と、検証データがあれば ``"val_loss"``。
    best_epoch : int
        採用した重みのエポック (0 始まり)。早期終了がなければ最後のエポック。
    stopped_early : bool
        早期終了したかどうか。
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    stopped_early: bool = False


_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adamw": keras.optimizers.AdamW,
}


def _check_optimizer(name: str) -> str:
    key = name.lower()
    if key not in _OPTIMIZERS:
        raise InvalidDataError(
            f"最適化手法 {name!r} には対応していません。使えるもの: {', '.join(_OPTIMIZERS)}"
        )
    return key


def _make_optimizer(name: str, lr: float) -> keras.optimizers.Optimizer:
    return _OPTIMIZERS[_check_optimizer(name)](learning_rate=lr)


class _CompiledTrainer:
    """1 エポック分の学習を 1 回のグラフ実行で行う、形ごとに使い回す学習器 (LSTM・Conv1D 用)。

    Dense 層だけのモデルは :class:`_NumpyTrainer` で学習します。グラフを作る (トレース) のに
    1 秒前後かかるため、同じ形の
    モデル・同じ行数・同じバッチサイズ・同じ最適化手法なら、作ったグラフを使い回します。
    学習のたびに、ひな形のモデルに初期の重みを写し、最適化手法の状態 (モーメントなど)
    を 0 に戻してから始めるので、結果は毎回グラフを作り直したときとビット単位で同じです。
    """

    def __init__(self, model: keras.Model, optimizer: str, n: int, batch: int) -> None:
        self.model = keras.Model.from_config(model.get_config())
        self.optimizer = _make_optimizer(optimizer, 1e-3)
        variables = self.model.trainable_variables
        self.optimizer.build(variables)
        template, opt = self.model, self.optimizer
        n_full, rest = divmod(n, batch)

        def step(xb):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(template(xb, training=True))
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
            return loss

        @tf.function
        def run_epoch(x, perm):
            # full batches in a graph loop with a static batch shape, then the remainder
            full = tf.reshape(perm[: n_full * batch], [n_full, batch])
            total = tf.constant(0.0, dtype=tf.float32)
            for i in tf.range(n_full):
                total += step(tf.gather(x, full[i])) * batch
            if rest:
                total += step(tf.gather(x, perm[n_full * batch :])) * rest
            return total / n

        @tf.function(reduce_retracing=True)
        def evaluate(x):
            return tf.reduce_mean(template(x, training=False))

        self.run_epoch = run_epoch
        self.evaluate = evaluate

    def start(self, model: keras.Model, lr: float) -> None:
        """ひな形に ``model`` の重みを写し、最適化手法の状態を初期化する。"""
        self.model.set_weights(model.get_weights())
        for var in self.optimizer.variables:
            var.assign(np.zeros(var.shape, dtype=var.dtype))
        self.optimizer.learning_rate = float(lr)


def activation_name(layer: keras.layers.Layer) -> str:
    """層の活性化関数の名前 (``"relu"`` など)。"""
    name = keras.activations.serialize(layer.activation)
    if isinstance(name, dict):
        name = name.get("config", {}).get("name", name.get("class_name"))
    return str(name)


def _activation_slope(name: str, pre: np.ndarray, post: np.ndarray) -> np.ndarray | None:
    """活性化関数の微分 (``pre`` は入力、``post`` は出力)。線形なら ``None``。"""
    if name == "relu":
        return pre > 0  # TensorFlow's ReluGrad: 0 at exactly 0
    if name == "tanh":
        return 1.0 - post * post
    if name == "sigmoid":
        return post * (1.0 - post)
    if name == "elu":
        return np.where(pre > 0, np.float32(1.0), post + np.float32(1.0))
    if name == "softplus":
        return _sigmoid(pre.copy())
    return None


class _NumpyTrainer:
    """Dense 層だけのモデルを NumPy で学習する学習器。

    数百行のデータでは、1 回の更新の計算そのものは数マイクロ秒で終わり、時間のほとんどは
    TensorFlow の呼び出しやグラフ作り (トレースとコンパイル、初回に 1 秒前後) に消えます。
    ここでは Keras が行うのと同じ計算 (順伝播、誤差逆伝播、Keras の最適化手法と同じ式の
    更新) を NumPy の ``float32`` で行うので、準備のコストがなく、1 回目の学習から速く終わります。
    重みはすべて 1 本の配列に並べ、最適化手法の更新を配列全体に一度に適用します。
    結果は TensorFlow で計算した場合と浮動小数点の丸めの範囲で一致し
    (``tests/test_training.py`` で確認)、同じシードならビット単位で同じになります。
    """

    def __init__(self, model: keras.Model, optimizer: str, lr: float) -> None:
        std = model.get_layer("standardize")
        self.mean = np.asarray(std.mean, dtype=np.float32)
        self.scale = np.asarray(std.scale, dtype=np.float32)
        # members of an ensemble share one shape: stack the i-th layer of every member
        # into (members, in, out), so that one matmul serves them all
        self.chains = dense_chains(model)
        members = len(self.chains)
        stacked = []
        for position in zip(*self.chains, strict=True):
            kernels, biases = zip(*(layer.get_weights() for layer in position), strict=True)
            if members == 1:
                stacked.append((kernels[0], biases[0], activation_name(position[0])))
            else:
                stacked.append((np.stack(kernels), np.stack(biases)[:, None, :], activation_name(position[0])))
        total = sum(k.size + b.size for k, b, _ in stacked)
        self.params = np.empty(total, dtype=np.float32)
        self.grads = np.zeros(total, dtype=np.float32)
        # (kernel, bias, kernel gradient, bias gradient, activation): views into the flat arrays
        self.layers: list[tuple] = []
        offset = 0
        for kernel, bias, name in stacked:
            views = []
            for value in (kernel, bias):
                end = offset + value.size
                param = self.params[offset:end].reshape(value.shape)
                param[...] = value
                views.append((param, self.grads[offset:end].reshape(value.shape)))
                offset = end
            (k, gk), (b, gb) = views
            self.layers.append((k, b, gk, gb, name))
        self.optimizer = optimizer.lower()
        self.lr = np.float32(lr)
        self.slots = [np.zeros_like(self.params) for _ in range(2)]
        self.iterations = 0

    def standardize(self, X: np.ndarray) -> np.ndarray:
        z = X - self.mean
        z /= self.scale
        return z

    def forward(self, z: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """各層の入力 (活性化前) と出力を返す。"""
        pres, posts = [], [z]
        h = z
        for kernel, bias, _, _, name in self.layers:
            a = h @ kernel
            a += bias
            pres.append(a)
            # new arrays: the pre-activation values are kept for the backward pass
            if name == "relu":
                h = np.maximum(a, np.float32(0.0))
            elif name == "tanh":
                h = np.tanh(a)
            elif name == "linear":
                h = a
            else:  # these build a new array and leave their input alone
                h = ACTIVATIONS[name](a)
            posts.append(h)
        return pres, posts

    def loss(self, z: np.ndarray) -> float:
        diff = self.forward(z)[1][-1] - z
        return float(np.mean(np.mean(diff * diff, axis=-1)))

    def step(self, z: np.ndarray) -> float:
        """1 つのミニバッチで 1 回更新し、更新前の損失を返す。"""
        pres, posts = self.forward(z)
        diff = posts[-1] - z
        flat = diff.ravel()
        loss = float(flat @ flat) / flat.size
        # the loss is the mean over members, rows and columns
        delta = diff * np.float32(2.0 / diff.size)
        stacked = self.layers[0][0].ndim == 3  # an ensemble: (members, in, out) kernels
        for i in range(len(self.layers) - 1, -1, -1):
            kernel, _, grad_kernel, grad_bias, _ = self.layers[i]
            if stacked:
                np.matmul(np.swapaxes(posts[i], -1, -2), delta, out=grad_kernel)
                np.add.reduce(delta, axis=-2, out=grad_bias, keepdims=True)
            else:
                np.matmul(posts[i].T, delta, out=grad_kernel)
                # np.add.reduce is what np.sum calls, without its Python wrapper (µs per call)
                np.add.reduce(delta, axis=0, out=grad_bias)
            if i:
                delta = delta @ (np.swapaxes(kernel, -1, -2) if stacked else kernel.T)
                slope = _activation_slope(self.layers[i - 1][4], pres[i - 1], posts[i])
                if slope is not None:
                    delta *= slope
        self._update()
        return loss

    def _update(self) -> None:
        # the same formulas, constants and order of operations as keras.optimizers
        self.iterations += 1
        p, g, lr = self.params, self.grads, self.lr
        if self.optimizer == "sgd":
            p -= lr * g
            return
        if self.optimizer == "rmsprop":
            velocity = self.slots[0]
            velocity *= np.float32(0.9)
            velocity += np.float32(0.1) * (g * g)
            p -= (lr * g) / np.sqrt(velocity + np.float32(1e-7))
            return
        if self.optimizer == "adamw":
            p -= p * np.float32(0.004) * lr
        m, v = self.slots
        t = np.float32(self.iterations)
        alpha = lr * np.sqrt(1 - np.float32(0.999) ** t) / (1 - np.float32(0.9) ** t)
        m += (g - m) * np.float32(1 - 0.9)
        v += (g * g - v) * np.float32(1 - 0.999)
        p -= (m * alpha) / (np.sqrt(v) + np.float32(1e-7))

    def weights(self) -> list[np.ndarray]:
        """いまの重みのコピー (:meth:`copy_to` に渡す形)。"""
        return [w.copy() for k, b, *_ in self.layers for w in (k, b)]

    def copy_to(self, weights: list[np.ndarray]) -> None:
        """``weights`` (:meth:`weights` の形) を Keras モデルの Dense 層に書き込む。"""
        for position, kernel, bias in zip(zip(*self.chains, strict=True), weights[::2], weights[1::2], strict=True):
            if len(position) == 1:
                position[0].set_weights([kernel, bias])
                continue
            for member, layer in enumerate(position):
                layer.set_weights([kernel[member], bias[member, 0]])


_TRAINERS: OrderedDict[str, _CompiledTrainer] = OrderedDict()
_MAX_TRAINERS = 32
_PER_DATA_KEYS = {"name", "mean", "scale", "columns", "threshold", "threshold_percentile"}


def _shape_key(model: keras.Model, optimizer: str, n: int, batch: int, sample_shape) -> str:
    layers = []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if k not in _PER_DATA_KEYS}
        layers.append((type(layer).__name__, config, [list(w.shape) for w in layer.weights]))
    return json.dumps(
        [layers, optimizer.lower(), n, batch, list(sample_shape)], sort_keys=True, default=str
    )


def _trainer_for(
    model: keras.Model, optimizer: str, n: int, batch: int, sample_shape
) -> _CompiledTrainer:
    key = _shape_key(model, optimizer, n, batch, sample_shape)
    trainer = _TRAINERS.pop(key, None)
    if trainer is None:
        trainer = _CompiledTrainer(model, optimizer, n, batch)
    _TRAINERS[key] = trainer  # most recently used last
    while len(_TRAINERS) > _MAX_TRAINERS:
        _TRAINERS.popitem(last=False)
    return trainer


def train_autoencoder(
    model: keras.Model,
    X: np.ndarray,
    *,
    epochs: int = 50,
    batch_size: int = 32,
    lr: float = 1e-3,
    optimizer: str = "adam",
    validation_data: np.ndarray | None = None,
    patience: int | None = None,
    seed: int = 0,
) -> TrainingResult:
    """モデルを学習する。

    Keras の ``model.fit`` は 1 エポックごとに数十ミリ秒の準備コストがかかり、
    数百行の小さなデータではそれが学習時間のほとんどを占めます。ここでは次の 2 つの道を使い分けます。

    - Dense 層だけのモデル (:func:`build_autoencoder` の既定): Keras と同じ順伝播・誤差逆伝播・
      最適化手法の式を NumPy の ``float32`` で計算します。グラフを作る準備がいらないので、
      1 回目の学習から速く終わります。
    - LSTM や Conv1D を含むモデル: 1 エポック分のミニバッチ更新を ``tf.function`` の中で
      まとめて実行します。作ったグラフは、同じ形のモデル・行数・バッチサイズ・最適化手法の学習で
      使い回します (学習率は変えてよい)。

    どちらの道も、同じシードならビット単位で同じ結果になり、Keras 自身のモデルと最適化手法で
    学習した結果と浮動小数点の丸めの範囲で一致します。

    Parameters
    ----------
    model : keras.Model
        :func:`build_autoencoder` で作ったモデル。
    X : numpy.ndarray
        学習データ ``(行数, 列数)``、``float32``。
    epochs : int, default 50
        エポック数。
    batch_size : int, default 32
        ミニバッチの大きさ。
    lr : float, default 1e-3
        学習率。
    optimizer : {"adam", "sgd", "rmsprop", "adamw"}, default "adam"
        最適化手法。
    validation_data : numpy.ndarray, optional
        検証データ。与えると各エポックの ``val_loss`` を記録する。
    patience : int, optional
        早期終了の我慢エポック数。監視するのは ``val_loss`` (なければ ``loss``)。
        終了時には最良エポックの重みに戻す。
    seed : int, default 0
        ミニバッチの並べ替えに使う乱数のシード。

    Returns
    -------
    TrainingResult
        損失の履歴など。
    """
    if epochs < 1:
        raise InvalidDataError(f"epochs は 1 以上にしてください (いまは {epochs})。")
    if batch_size < 1:
        raise InvalidDataError(f"batch_size は 1 以上にしてください (いまは {batch_size})。")
    if patience is not None and patience < 1:
        raise InvalidDataError(f"patience は 1 以上にしてください (いまは {patience})。")
    _check_optimizer(optimizer)
    n = X.shape[0]
    batch = min(int(batch_size), n)
    has_val = validation_data is not None and len(validation_data) > 0
    numpy_path = is_dense_only(model)  # every optimizer in _OPTIMIZERS has a NumPy update
    if numpy_path:
        fast = _NumpyTrainer(model, optimizer, lr)
        z = fast.standardize(np.asarray(X, dtype=np.float32))
        z_val = fast.standardize(np.asarray(validation_data, dtype=np.float32)) if has_val else None
        n_full = (n // batch) * batch

        def run_epoch(perm: np.ndarray) -> float:
            total = 0.0
            for start in range(0, n_full, batch):
                total += fast.step(z[perm[start : start + batch]]) * batch
            if n_full < n:
                total += fast.step(z[perm[n_full:]]) * (n - n_full)
            return total / n

        def evaluate() -> float:
            return fast.loss(z_val)

        get_weights = fast.weights
    else:
        trainer = _trainer_for(model, optimizer, n, batch, tuple(X.shape[1:]))
        trainer.start(model, lr)
        x_tensor = tf.constant(X, dtype=tf.float32)
        val_tensor = tf.constant(validation_data, dtype=tf.float32) if has_val else None

        def run_epoch(perm: np.ndarray) -> float:
            return float(trainer.run_epoch(x_tensor, tf.constant(perm.astype(np.int32))))

        def evaluate() -> float:
            return float(trainer.evaluate(val_tensor))

        get_weights = trainer.model.get_weights

    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": []}
    if has_val:
        history["val_loss"] = []
    monitor = "val_loss" if has_val else "loss"
    best_value = np.inf
    best_epoch = 0
    best_weights = None
    wait = 0
    stopped_early = False
    for epoch in range(int(epochs)):
        history["loss"].append(run_epoch(rng.permutation(n)))
        if has_val:
            history["val_loss"].append(evaluate())
        if patience is None:
            continue
        current = history[monitor][-1]
        if current < best_value:
            best_value, best_epoch, wait = current, epoch, 0
            best_weights = get_weights()
        else:
            wait += 1
            if wait >= patience:
                stopped_early = True
                break
    if patience is None:
        best_epoch = len(history["loss"]) - 1
    final = best_weights if best_weights is not None else get_weights()
    if numpy_path:
        fast.copy_to(final)
    else:
        model.set_weights(final)
    return TrainingResult(history=history, best_epoch=best_epoch, stopped_early=stopped_early)


# --- scoring -----------------------------------------------------------------

#: 判定で一度に計算する行数。中間結果が CPU のキャッシュに収まる大きさにすると、
#: 縦に長い行列積 (OpenBLAS が苦手とする形) を避けられ、何倍も速くなる。
SCORE_CHUNK_ROWS = 8_192

_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _score_pool() -> ThreadPoolExecutor | None:
    """判定の塊を CPU のコアに分けて計算するスレッドプール (コアが 1 つなら ``None``)。

    NumPy の行列積と ufunc は計算中に GIL を手放すので、塊ごとにスレッドへ分けるとコアの数だけ
    速くなります。塊の計算は分け方によらず同じなので、異常度はビット単位で変わりません。
    プールは最初の判定で作り、fork された子プロセスでは作り直します (親のスレッドは子にないため)。
    """
    global _POOL
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2:
        return None
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(workers, thread_name_prefix="aeutil-score"))
        return _POOL[1]


class _NumpyForward:
    """Dense 層だけのモデルを NumPy の行列積で計算する異常度の計算器。"""

    def __init__(self, model: keras.Model) -> None:
        std = model.get_layer("standardize")
        self.mean = np.asarray(std.mean, dtype=np.float32)
        self.scale = np.asarray(std.scale, dtype=np.float32)
        # one chain of (kernel, bias, activation) per member of the ensemble (usually one)
        self.chains: list[list[tuple[np.ndarray, np.ndarray, object]]] = []
        for chain in dense_chains(model):
            layers = []
            for layer in chain:
                kernel, bias = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
                layers.append((kernel, bias, ACTIVATIONS[activation_name(layer)]))
            self.chains.append(layers)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0], dtype=np.float32)
        starts = range(0, X.shape[0], SCORE_CHUNK_ROWS)
        pool = _score_pool() if len(starts) > 1 else None
        if pool is None:
            for start in starts:
                self._score_block(X, start, out)
        else:
            # each block writes its own slice of out; list() re-raises a block's exception
            list(pool.map(lambda start: self._score_block(X, start, out), starts))
        return out

    def _score_block(self, X: np.ndarray, start: int, out: np.ndarray) -> None:
        """``X[start:start + SCORE_CHUNK_ROWS]`` の異常度を ``out`` の同じ位置に書く。"""
        stop = start + SCORE_CHUNK_ROWS
        block = X[start:stop]
        if len(block) == 1:
            # a one-row product goes through BLAS's matrix-vector path, whose last digits
            # can differ; score two copies so every row takes the matrix-matrix path and
            # the scores do not depend on how the data were split into blocks
            block = np.repeat(block, 2, axis=0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            z = block - self.mean
            z /= self.scale
            errors = []
            for h in self._reconstructions(z):
                h -= z
                np.square(h, out=h)
                errors.append(h.mean(axis=1, dtype=np.float32))
            # an ensemble scores the mean of its members' errors
            scores = errors[0] if len(errors) == 1 else np.mean(errors, axis=0, dtype=np.float32)
        if not np.isfinite(scores).all():
            scores = self._rescore_wide(block, scores)
        out[start:stop] = scores[: min(stop, len(X)) - start]

    def _reconstructions(self, z: np.ndarray):
        """標準化した入力 ``z`` の、メンバーごとの再構成 (標準化した空間、新しい配列) を順に返す。"""
        for layers in self.chains:
            h = z
            for kernel, bias, act in layers:
                h = h @ kernel
                h += bias
                h = act(h)
            yield h

    def reconstruct(self, X: np.ndarray) -> np.ndarray:
        """メンバーごとの再構成を元の単位で返す。形は ``(メンバー数, 行数, 列数)``。"""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            z = (X - self.mean) / self.scale
            return np.stack([h * self.scale + self.mean for h in self._reconstructions(z)])

    def _rescore_wide(self, block: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """float32 ではあふれた行 (学習データから桁違いに離れた行) を float64 で計算し直す。

        float32 で表せる最大の値で頭打ちにするので、異常度はいつも有限です
        (閾値を超えるので異常と判定される)。ほかの行の値は変えません。
        """
        ceiling = np.finfo(np.float32).max
        bad = ~np.isfinite(scores)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            z = (block[bad].astype(np.float64) - self.mean) / self.scale
            members = []
            for layers in self.chains:
                h = z
                for kernel, bias, act in layers:
                    h = act(h @ kernel.astype(np.float64) + bias)
                members.append(np.mean(np.square(h - z), axis=1))
            wide = np.mean(members, axis=0)
        wide = np.nan_to_num(wide, nan=ceiling, posinf=ceiling)
        scores = scores.copy()
        scores[bad] = np.minimum(wide, ceiling).astype(np.float32)
        return scores


class _KerasForward:
    """Dense 以外の層 (LSTM、Conv1D など) を含むモデルの異常度の計算器。

    ``model.predict`` (既定で 32 件ずつ) ではなく、コンパイル済みの関数に
    大きな塊で渡して計算します。
    """

    def __init__(self, model: keras.Model, chunk: int = 4096) -> None:
        self.chunk = chunk
        self._call = tf.function(lambda x: model(x, training=False))
        # compile once for any number of samples: calls with other batch sizes reuse this
        # graph instead of retracing (which TensorFlow would report on stderr)
        self._call.get_concrete_function(
            tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        )

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0], dtype=np.float32)
        for start in range(0, X.shape[0], self.chunk):
            out[start : start + self.chunk] = self._call(
                tf.constant(X[start : start + self.chunk], dtype=tf.float32)
            ).numpy()
        return out




def scorer_for(model: keras.Model) -> _NumpyForward | _KerasForward:
    """モデルから高速な異常度の計算器を作る。

    Dense 層だけのモデルは重みを取り出して NumPy の行列積で計算し、
    それ以外 (LSTM、Conv1D など) はコンパイル済みの Keras の計算を大きな塊で使います。
    """
    if is_dense_only(model):
        return _NumpyForward(model)
    return _KerasForward(model)


def reconstruction_error(model: keras.Model, X: np.ndarray) -> np.ndarray:
    """行ごとの再構成誤差を計算する。

    ``model.predict`` は既定で 32 行ずつ処理するため、数万行を超えると遅くなります。
    ここでは重みを取り出して NumPy の行列積で一度に計算します (同じ重み、同じ式)。

    Parameters
    ----------
    model : keras.Model
        :func:`build_autoencoder` で作ったモデル。
    X : numpy.ndarray
        ``(行数, 列数)`` の ``float32`` 配列。

    Returns
    -------
    numpy.ndarray
        行ごとの再構成誤差 (``float32``)。
    """
    return scorer_for(model)(X)
