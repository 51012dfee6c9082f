"""Keras のモデル: aeutil の層、モデルの組み立て、TensorFlow での学習と判定 (LSTM・Conv1D 用)。

ここで作る Keras モデルは、生の入力 ``x`` を受け取り、行ごとの **再構成誤差**
(標準化した空間での平均二乗誤差) をそのまま出力します。

``x`` → 標準化 (``Standardize``) → エンコーダ → 潜在表現 → デコーダ → 再構成
→ 再構成誤差 (``ReconstructionError``)

標準化の平均・標準偏差、閾値、列名はモデルの層の設定として保存されるので、
``.keras`` ファイル 1 つで判定に必要なものがすべて復元できます。

Dense 層だけのモデル (表形式のオートエンコーダ、:func:`build_autoencoder`) は、学習も判定も
``aeutil.engine`` が NumPy で計算します。このモジュールを読み込むと TensorFlow も
読み込まれるので、aeutil は Keras のモデルが必要になったとき (``model_``、Keras での保存、
LSTM・Conv1D のモデル) にだけこのモジュールを読み込みます。
"""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ._keras import keras, tf
from .engine import (  # noqa: F401 - re-exported: aeutil.model's names before the engine split
    ACTIVATIONS,
    SCORE_CHUNK_ROWS,
    TrainingResult,
    check_activation,
    check_optimizer,
    check_training,
    fit_loop,
    train_network,
)
from .engine import score as _numpy_score
from .network import DenseNetwork, default_architecture, resolve_architecture
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


# --- training ----------------------------------------------------------------


_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adamw": keras.optimizers.AdamW,
}


def _make_optimizer(name: str, lr: float) -> keras.optimizers.Optimizer:
    return _OPTIMIZERS[check_optimizer(name)](learning_rate=lr)


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


_TRAINERS: OrderedDict[str, _CompiledTrainer] = OrderedDict()
_MAX_TRAINERS = 32
# initial weights (and their seeds) are copied in start(); they do not change the graph
_PER_DATA_KEYS = {
    "name", "mean", "scale", "columns", "threshold", "threshold_percentile",
    "kernel_initializer", "recurrent_initializer", "seed",
}


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
    if is_dense_only(model):  # train_network checks the hyperparameters itself
        network = network_from_model(model)
        result = train_network(
            network, X, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
            validation_data=validation_data, patience=patience, seed=seed,
        )
        _write_weights(model, network)
        return result
    check_training(epochs, batch_size, patience, optimizer)
    n = X.shape[0]
    batch = min(int(batch_size), n)
    has_val = validation_data is not None and len(validation_data) > 0
    trainer = _trainer_for(model, optimizer, n, batch, tuple(X.shape[1:]))
    trainer.start(model, lr)
    x_tensor = tf.constant(X, dtype=tf.float32)
    val_tensor = tf.constant(validation_data, dtype=tf.float32) if has_val else None

    def run_epoch(perm: np.ndarray) -> float:
        return float(trainer.run_epoch(x_tensor, tf.constant(perm.astype(np.int32))))

    result, final = fit_loop(
        run_epoch, lambda: float(trainer.evaluate(val_tensor)), trainer.model.get_weights,
        n=n, epochs=epochs, patience=patience, has_val=has_val, seed=seed,
    )
    model.set_weights(final)
    return result


# --- NumPy networks <-> Keras models ---------------------------------------------------


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


# --- scoring -----------------------------------------------------------------


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


def scorer_for(model: keras.Model):
    """モデルから異常度の計算器 (``X`` → 行ごとの再構成誤差) を作る。

    Dense 層だけのモデルは重みを取り出して ``aeutil.engine.score`` (NumPy) で計算し、
    それ以外 (LSTM、Conv1D など) はコンパイル済みの Keras の計算を大きな塊で使います。
    """
    if is_dense_only(model):
        network = network_from_model(model)
        return lambda X: _numpy_score(network, X)
    return _KerasForward(model)


def reconstruction_error(model: keras.Model, X: np.ndarray) -> np.ndarray:
    """行ごとの再構成誤差を計算する。

    ``model.predict`` は既定で 32 行ずつ処理するため、数万行を超えると遅くなります。
    Dense 層だけのモデルは重みを取り出して NumPy の行列積で一度に計算します (同じ重み、同じ式)。

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
