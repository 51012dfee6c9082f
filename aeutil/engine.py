"""NumPy で書いたオートエンコーダの計算: 活性化関数・順伝播・誤差逆伝播・最適化手法・異常度。

Dense 層だけのオートエンコーダ (:class:`aeutil.network.DenseNetwork`) の学習と判定は、
すべてここで NumPy の ``float32`` で計算します (TensorFlow は使いません)。
Keras が行うのと同じ式・同じ定数・同じ計算の順なので、結果は Keras 自身のモデルと最適化手法で
学習した結果と浮動小数点の丸めの範囲で一致し (``tests/test_training.py``)、
同じシードならビット単位で同じになります (``tests/test_bit_identity.py``)。

- 活性化関数 :data:`ACTIVATIONS` とその微分 :func:`activation_slope` (入力を書き換えない)
- 順伝播 :func:`forward` (1 つだけ。``dtype`` で ``float32``/``float64`` を選ぶ)
- 誤差逆伝播 :func:`backward`
- 最適化手法 :data:`OPTIMIZERS` (``adam``・``adamw``・``sgd``・``rmsprop``、1 つ 1 関数)
- 学習 :func:`train_network`、異常度 :func:`score`、再構成 :func:`reconstruct`
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .network import DenseNetwork
from .validation import InvalidDataError

__all__ = [
    "ACTIVATIONS",
    "OPTIMIZERS",
    "SCORE_CHUNK_ROWS",
    "TrainingResult",
    "activation_slope",
    "backward",
    "check_activation",
    "check_optimizer",
    "contributions",
    "forward",
    "reconstruct",
    "score",
    "train_network",
]

# --- activations (each returns a new array, or its input unchanged for linear) -----------


def _relu(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, np.float32(0.0))


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
    return np.logaddexp(np.float32(0.0), a).astype(a.dtype, copy=False)


#: 使える活性化関数 (名前 → NumPy での計算)。
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": _relu,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "elu": _elu,
    "softplus": _softplus,
    "linear": lambda a: a,
}


def check_activation(activation: str) -> str:
    """活性化関数の名前を検査する。"""
    if activation not in ACTIVATIONS:
        raise InvalidDataError(
            f"活性化関数 {activation!r} には対応していません。"
            f"使えるもの: {', '.join(ACTIVATIONS)}"
        )
    return activation


def activation_slope(name: str, pre: np.ndarray, post: np.ndarray) -> np.ndarray | None:
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
        return _sigmoid(pre)
    return None


# --- forward and backward ------------------------------------------------------------


def forward(layers, z: np.ndarray, *, dtype=np.float32, keep: bool = False):
    """順伝播: ``h ← 活性化(h @ カーネル + バイアス)`` を層の順に計算する。

    Parameters
    ----------
    layers : list of (kernel, bias, activation)
        層の列。カーネルは ``(入力, 出力)``、アンサンブルをまとめた ``(メンバー, 入力, 出力)`` でもよい。
    z : numpy.ndarray
        標準化した入力。
    dtype : numpy dtype, default float32
        計算の精度 (``float64`` は ``float32`` であふれる行を計算し直すときに使う)。
    keep : bool, default False
        ``True`` なら各層の入力 (活性化前) と出力を返す (誤差逆伝播に使う)。

    Returns
    -------
    numpy.ndarray or (list, list)
        再構成。``keep=True`` なら (活性化前の値の列, 各層の出力の列。先頭は ``z``)。
    """
    h = z.astype(dtype, copy=False)
    pres, posts = [], [h]
    for kernel, bias, activation in layers:
        a = h @ kernel.astype(dtype, copy=False)
        a += bias
        h = ACTIVATIONS[activation](a)
        if keep:
            pres.append(a)
            posts.append(h)
    return (pres, posts) if keep else h


def backward(layers, grads, pres, posts, delta: np.ndarray) -> None:
    """誤差逆伝播: 損失の出力に対する勾配 ``delta`` から、各層の重みの勾配を ``grads`` に書く。

    ``grads`` は層ごとの (カーネルの勾配, バイアスの勾配) で、``layers`` と同じ形の配列です。
    """
    stacked = layers[0][0].ndim == 3  # an ensemble: (members, in, out) kernels
    for i in range(len(layers) - 1, -1, -1):
        kernel = layers[i][0]
        grad_kernel, grad_bias = grads[i]
        if stacked:
            np.matmul(np.swapaxes(posts[i], -1, -2), delta, out=grad_kernel)
            np.add.reduce(delta, axis=-2, out=grad_bias, keepdims=True)
        else:
            np.matmul(posts[i].T, delta, out=grad_kernel)
            # np.add.reduce is what np.sum calls, without its Python wrapper (µs per call)
            np.add.reduce(delta, axis=0, out=grad_bias)
        if i:
            delta = delta @ (np.swapaxes(kernel, -1, -2) if stacked else kernel.T)
            slope = activation_slope(layers[i - 1][2], pres[i - 1], posts[i])
            if slope is not None:
                delta *= slope


# --- optimizers: the same formulas, constants and order of operations as keras.optimizers ---


def _sgd(p, g, slots, lr, t) -> None:
    p -= lr * g


def _rmsprop(p, g, slots, lr, t) -> None:
    velocity = slots[0]
    velocity *= np.float32(0.9)
    velocity += np.float32(0.1) * (g * g)
    p -= (lr * g) / np.sqrt(velocity + np.float32(1e-7))


def _adam(p, g, slots, lr, t) -> None:
    m, v = slots
    alpha = lr * np.sqrt(1 - np.float32(0.999) ** t) / (1 - np.float32(0.9) ** t)
    m += (g - m) * np.float32(1 - 0.9)
    v += (g * g - v) * np.float32(1 - 0.999)
    p -= (m * alpha) / (np.sqrt(v) + np.float32(1e-7))


def _adamw(p, g, slots, lr, t) -> None:
    p -= p * np.float32(0.004) * lr  # decoupled weight decay, then Adam
    _adam(p, g, slots, lr, t)


#: 最適化手法 (名前 → ``f(重み, 勾配, 状態, 学習率, 更新回数)``、重みと状態をその場で更新)。
OPTIMIZERS = {"adam": _adam, "sgd": _sgd, "rmsprop": _rmsprop, "adamw": _adamw}


def check_optimizer(name: str) -> str:
    """最適化手法の名前を検査し、小文字にして返す。"""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise InvalidDataError(
            f"最適化手法 {name!r} には対応していません。使えるもの: {', '.join(OPTIMIZERS)}"
        )
    return key


# --- training ------------------------------------------------------------------------


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


class _Trainer:
    """重みを 1 本の配列に並べ、最適化手法の更新を配列全体に一度に適用する学習器。"""

    def __init__(self, network: DenseNetwork, optimizer: str, lr: float) -> None:
        self.network = network
        # members of an ensemble share one shape: stack the i-th layer of every member
        # into (members, in, out), so that one matmul serves them all
        single = len(network.members) == 1
        stacked = []
        for position in zip(*network.members, strict=True):
            kernels, biases, activations = zip(*position, strict=True)
            if single:
                stacked.append((kernels[0], biases[0], activations[0]))
            else:
                stacked.append((np.stack(kernels), np.stack(biases)[:, None, :], activations[0]))
        total = sum(k.size + b.size for k, b, _ in stacked)
        self.params = np.empty(total, dtype=np.float32)
        flat_grads = np.zeros(total, dtype=np.float32)
        self.layers, self.grads, offset = [], [], 0
        for kernel, bias, activation in stacked:
            views = []
            for value in (kernel, bias):
                end = offset + value.size
                self.params[offset:end] = value.ravel()
                views.append((self.params[offset:end].reshape(value.shape),
                              flat_grads[offset:end].reshape(value.shape)))
                offset = end
            (k, gk), (b, gb) = views
            self.layers.append((k, b, activation))
            self.grads.append((gk, gb))
        self.flat_grads = flat_grads
        self.update = OPTIMIZERS[check_optimizer(optimizer)]
        self.lr = np.float32(lr)
        self.slots = [np.zeros_like(self.params) for _ in range(2)]
        self.iterations = 0

    def loss(self, z: np.ndarray) -> float:
        diff = forward(self.layers, z) - z
        return float(np.mean(np.mean(diff * diff, axis=-1)))

    def step(self, z: np.ndarray) -> float:
        """1 つのミニバッチで 1 回更新し、更新前の損失を返す。"""
        pres, posts = forward(self.layers, z, keep=True)
        diff = posts[-1] - z
        flat = diff.ravel()
        loss = float(flat @ flat) / flat.size
        # the loss is the mean over members, rows and columns
        backward(self.layers, self.grads, pres, posts, diff * np.float32(2.0 / diff.size))
        self.iterations += 1
        self.update(self.params, self.flat_grads, self.slots, self.lr, np.float32(self.iterations))
        return loss

    def weights(self) -> np.ndarray:
        return self.params.copy()

    def write_back(self, params: np.ndarray) -> None:
        """``params`` (:meth:`weights` の形) をネットワークの重みに書き戻す。"""
        self.params[...] = params
        for position, (kernel, bias, _) in enumerate(self.layers):
            for m, layers in enumerate(self.network.members):
                k, b = (kernel, bias) if kernel.ndim == 2 else (kernel[m], bias[m, 0])
                layers[position] = (k.copy(), b.copy(), layers[position][2])


def fit_loop(run_epoch, evaluate, get_weights, *, n, epochs, patience, has_val, seed):
    """エポックの繰り返しと早期終了 (NumPy と TensorFlow の学習で共通)。

    Returns
    -------
    (TrainingResult, weights)
        結果と、採用するエポックの重み (``get_weights()`` の返したもの)。
    """
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": []}
    if has_val:
        history["val_loss"] = []
    monitor = "val_loss" if has_val else "loss"
    best_value, best_epoch, best_weights, wait, stopped_early = np.inf, 0, None, 0, False
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
    return TrainingResult(history, best_epoch, stopped_early), final


def check_training(epochs: int, batch_size: int, patience: int | None, optimizer: str) -> None:
    """学習のハイパーパラメータを検査する。"""
    if epochs < 1:
        raise InvalidDataError(f"epochs は 1 以上にしてください (いまは {epochs})。")
    if batch_size < 1:
        raise InvalidDataError(f"batch_size は 1 以上にしてください (いまは {batch_size})。")
    if patience is not None and patience < 1:
        raise InvalidDataError(f"patience は 1 以上にしてください (いまは {patience})。")
    check_optimizer(optimizer)


def train_network(
    network: DenseNetwork,
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
    """ネットワークを NumPy で学習する (重みをその場で書き換える)。

    引数の意味は :func:`aeutil.kerastrain.train_autoencoder` と同じです。
    """
    check_training(epochs, batch_size, patience, optimizer)
    n = X.shape[0]
    batch = min(int(batch_size), n)
    has_val = validation_data is not None and len(validation_data) > 0
    trainer = _Trainer(network, optimizer, lr)
    mean, scale = network.mean, network.scale
    z = (np.asarray(X, dtype=np.float32) - mean) / scale
    z_val = (np.asarray(validation_data, dtype=np.float32) - mean) / scale if has_val else None
    n_full = (n // batch) * batch

    def run_epoch(perm: np.ndarray) -> float:
        total = 0.0
        for start in range(0, n_full, batch):
            total += trainer.step(z[perm[start : start + batch]]) * batch
        if n_full < n:
            total += trainer.step(z[perm[n_full:]]) * (n - n_full)
        return total / n

    result, final = fit_loop(
        run_epoch, lambda: trainer.loss(z_val), trainer.weights,
        n=n, epochs=epochs, patience=patience, has_val=has_val, seed=seed,
    )
    trainer.write_back(final)
    return result


# --- scoring -------------------------------------------------------------------------

#: 判定で一度に計算する行数。中間結果が CPU のキャッシュに収まる大きさにすると、
#: 縦に長い行列積 (OpenBLAS が苦手とする形) を避けられ、何倍も速くなる。
SCORE_CHUNK_ROWS = 8_192

def standardized(network: DenseNetwork, X: np.ndarray, dtype=np.float32) -> np.ndarray:
    """``(X - 平均) / 標準偏差``: ネットワークの入力の空間 (学習データで標準化した空間) へ移す。"""
    return (np.asarray(X).astype(dtype, copy=False) - network.mean) / network.scale


def _member_errors(network: DenseNetwork, block: np.ndarray, dtype) -> np.ndarray:
    """行ごとの再構成誤差 (ネットワークについて平均)。``dtype`` の精度で計算する。"""
    z = standardized(network, block, dtype)
    errors = []
    for layers in network.members:
        diff = forward(layers, z, dtype=dtype) - z
        np.square(diff, out=diff)
        errors.append(diff.mean(axis=1, dtype=dtype))
    # an ensemble scores the mean of its members' errors
    return errors[0] if len(errors) == 1 else np.mean(errors, axis=0, dtype=dtype)


def _score_block(network: DenseNetwork, X: np.ndarray, start: int, out: np.ndarray) -> None:
    """``X[start:start + SCORE_CHUNK_ROWS]`` の異常度を ``out`` の同じ位置に書く。"""
    stop = start + SCORE_CHUNK_ROWS
    block = X[start:stop]
    if len(block) == 1:
        # a one-row product goes through BLAS's matrix-vector path, whose last digits
        # can differ; score two copies so every row takes the matrix-matrix path and
        # the scores do not depend on how the data were split into blocks
        block = np.repeat(block, 2, axis=0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scores = _member_errors(network, block, np.float32)
        bad = ~np.isfinite(scores)
        if bad.any():
            # rows far outside the training data overflow float32: recompute them in float64,
            # capped at float32's largest value so that every score is finite (and anomalous)
            ceiling = np.finfo(np.float32).max
            wide = np.nan_to_num(_member_errors(network, block[bad], np.float64),
                                 nan=ceiling, posinf=ceiling)
            scores[bad] = np.minimum(wide, ceiling).astype(np.float32)
    out[start:stop] = scores[: min(stop, len(X)) - start]


def score(network: DenseNetwork, X: np.ndarray) -> np.ndarray:
    """行ごとの再構成誤差 (``float32``)。``SCORE_CHUNK_ROWS`` 行の塊ごとに計算する。

    塊ごとのスレッドプールは、2 コアの計算機で測ると、狭いネットワーク (2〜8 列) で 40 万行を
    0.09 秒から 0.06 秒に縮める一方、32 列では OpenBLAS 自身のスレッドとぶつかって遅くなった
    (0.19 秒 → 0.23 秒) ので使いません。
    """
    X = np.asarray(X, dtype=np.float32)
    out = np.empty(X.shape[0], dtype=np.float32)
    for start in range(0, X.shape[0], SCORE_CHUNK_ROWS):
        _score_block(network, X, start, out)
    return out


def _member_squares(network: DenseNetwork, block: np.ndarray, dtype) -> np.ndarray:
    """列ごとの二乗誤差をネットワークについて平均し、列の数で割ったもの (``float64``)。"""
    z = standardized(network, block, dtype)
    total = np.zeros(z.shape, dtype=np.float64)
    for layers in network.members:
        diff = forward(layers, z, dtype=dtype) - z
        total += np.square(diff, dtype=np.float64)
    return total / (len(network.members) * z.shape[1])


def contributions(network: DenseNetwork, X: np.ndarray) -> np.ndarray:
    """列ごとの寄与度 (``float64``、形は ``(行数, 列数)``)。

    異常度は、標準化した空間での二乗誤差を列 (:math:`d` 個) とネットワーク (:math:`M` 個)
    について平均したものです。

    .. math::

        e(x) = \\frac{1}{M} \\sum_{m=1}^{M} \\frac{1}{d} \\sum_{j=1}^{d}
               (\\hat z_{mj} - z_j)^2
             = \\sum_{j=1}^{d} c_j, \\qquad
        c_j = \\frac{1}{M d} \\sum_{m=1}^{M} (\\hat z_{mj} - z_j)^2 \\ge 0

    なので、列 :math:`j` の寄与度 :math:`c_j` は 0 以上で、行ごとの和が異常度
    (:func:`score`) に等しくなります (:func:`score` は ``float32`` で足すので、
    その丸めの範囲で)。``float32`` であふれる行は ``float64`` で計算し直します。
    """
    X = np.asarray(X, dtype=np.float32)
    out = np.empty(X.shape, dtype=np.float64)
    for start in range(0, X.shape[0], SCORE_CHUNK_ROWS):
        block = X[start : start + SCORE_CHUNK_ROWS]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            parts = _member_squares(network, block, np.float32)
            bad = ~np.isfinite(parts).all(axis=1)
            if bad.any():
                parts[bad] = _member_squares(network, block[bad], np.float64)
        out[start : start + len(block)] = parts
    return out


def reconstruct(network: DenseNetwork, X: np.ndarray) -> np.ndarray:
    """ネットワークごとの再構成を元の単位で返す。形は ``(メンバー数, 行数, 列数)``。"""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = standardized(network, X)
        return np.stack(
            [forward(layers, z) * network.scale + network.mean for layers in network.members]
        )


def bottleneck(network: DenseNetwork, X: np.ndarray) -> np.ndarray:
    """ネットワークごとのボトルネック (潜在表現) の値。形は ``(メンバー数, 行数, ユニット数)``。

    層の並びは「中間層 … ボトルネック … 中間層 … 出力」と左右対称なので、ボトルネックは
    入力側から ``(層の数 - 2) / 2`` 番目 (0 から数える) の層の出力です。
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = standardized(network, X)
        code = (len(network.members[0]) - 2) // 2
        return np.stack([forward(layers[: code + 1], z) for layers in network.members])
