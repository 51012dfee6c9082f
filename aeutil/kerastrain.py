"""Keras のモデルを TensorFlow で学習・判定する (LSTM・Conv1D を含む窓のモデル用)。

Dense 層だけのモデルは、ここでも重みを取り出して ``aeutil.engine`` の NumPy の計算に
任せます (同じ式、同じ結果)。それ以外のモデルは、1 エポック分のミニバッチ更新を
``tf.function`` の中でまとめて実行し (``_CompiledTrainer``)、判定はコンパイル済みの
関数に大きな塊で渡します。
"""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np

from ._keras import keras, tf
from .engine import TrainingResult, check_optimizer, check_training, fit_loop, train_network
from .engine import score as _numpy_score
from .model import _write_weights, is_dense_only, network_from_model

__all__ = ["reconstruction_error", "scorer_for", "train_autoencoder"]


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

    - Dense 層だけのモデル (:func:`aeutil.model.build_autoencoder` の既定): Keras と同じ順伝播・誤差逆伝播・
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
        :func:`aeutil.model.build_autoencoder` で作ったモデル。
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
        :func:`aeutil.model.build_autoencoder` で作ったモデル。
    X : numpy.ndarray
        ``(行数, 列数)`` の ``float32`` 配列。

    Returns
    -------
    numpy.ndarray
        行ごとの再構成誤差 (``float32``)。
    """
    return scorer_for(model)(X)
