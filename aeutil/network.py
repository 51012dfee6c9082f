"""表形式のオートエンコーダのネットワーク: 構成・重み・初期値 (NumPy だけ、TensorFlow なし)。

:class:`DenseNetwork` は、標準化の平均と標準偏差と、ネットワークごとの Dense 層の重み
(カーネル・バイアス・活性化関数) を持つだけの入れ物です。学習と異常度の計算は
:mod:`aeutil.engine`、ファイルへの保存と読み込みは :mod:`aeutil.modelfile`、
Keras のモデルへの変換は :mod:`aeutil.model` が受け持ちます。

初期値は Keras の ``GlorotUniform`` と同じ数を NumPy で作ります
(TensorFlow の ``stateless_uniform`` と同じ Philox 乱数。``tests/test_network.py`` で確認)。
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .validation import InvalidDataError

__all__ = [
    "DenseNetwork",
    "default_architecture",
    "resolve_architecture",
    "initial_network",
    "glorot_uniform",
]

#: 1 層: (カーネル ``(入力, 出力)``, バイアス ``(出力,)``, 活性化関数の名前)。
Layer = tuple[np.ndarray, np.ndarray, str]


@dataclass
class DenseNetwork:
    """Dense 層だけのオートエンコーダ (アンサンブルなら同じ形のネットワークが複数)。

    Attributes
    ----------
    mean : numpy.ndarray
        標準化に使う列ごとの平均 (``float32``)。
    scale : numpy.ndarray
        標準化に使う列ごとの標準偏差 (``float32``、0 は 1 に置き換え済み)。
    members : list of list of tuple
        ネットワークごとの層の列 (入力側から順)。層は
        ``(カーネル (入力, 出力), バイアス (出力,), 活性化関数の名前)``、重みは ``float32``。
    """

    mean: np.ndarray
    scale: np.ndarray
    members: list[list[Layer]] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        """入力の列数。"""
        return int(self.mean.shape[0])

    @property
    def units(self) -> tuple[int, ...]:
        """1 個のネットワークの各層の出力の大きさ (最後は列数)。"""
        return tuple(int(kernel.shape[1]) for kernel, _, _ in self.members[0])

    @property
    def activation(self) -> str:
        """中間層の活性化関数の名前。"""
        return self.members[0][0][2]

    def copy(self) -> DenseNetwork:
        """重みまで複製したもの。"""
        return DenseNetwork(
            self.mean.copy(),
            self.scale.copy(),
            [[(k.copy(), b.copy(), a) for k, b, a in layers] for layers in self.members],
        )


# --- architecture -------------------------------------------------------------


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
    """``None`` の指定を :func:`default_architecture` の値で埋め、値を確かめる。"""
    default_hidden, default_code = default_architecture(n_features)
    hidden = default_hidden if hidden_units is None else tuple(hidden_units)
    code = default_code if encoding_dim is None else encoding_dim
    if int(code) < 1 or any(int(u) < 1 for u in hidden):
        raise InvalidDataError("ユニット数と encoding_dim は 1 以上の整数にしてください。")
    return tuple(int(u) for u in hidden), int(code)


# --- Keras' GlorotUniform, in NumPy ---------------------------------------------------

_M_A, _M_B = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W_A, _W_B = 0x9E3779B9, 0xBB67AE85
_LOW32 = np.uint64(0xFFFFFFFF)
_32 = np.uint64(32)


def _philox(counter, key):
    """Philox4x32-10 (TensorFlow の ``random::PhiloxRandom``)。32 ビットの値を uint64 に入れて計算。"""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0, p1 = _M_A * c0, _M_B * c2
        c0, c1, c2, c3 = (
            (p1 >> _32) ^ c1 ^ np.uint64(k0), p1 & _LOW32, (p0 >> _32) ^ c3 ^ np.uint64(k1), p0 & _LOW32,
        )
        k0, k1 = (k0 + _W_A) & 0xFFFFFFFF, (k1 + _W_B) & 0xFFFFFFFF
    return c0, c1, c2, c3


def _stateless_uniform_bits(n: int, seed: int) -> np.ndarray:
    """``tf.random.stateless_uniform(seed=[seed, 0])`` の元になる 32 ビットの乱数 ``n`` 個。"""
    s = np.uint64(seed)
    start = [np.array([v], dtype=np.uint64) for v in (s & _LOW32, s >> _32, 0, 0)]
    mix = [int(m[0]) for m in _philox(start, (0x3EC8F720, 0x02461E29))]  # GenerateKey
    key, base = (mix[0], mix[1]), (0, 0, mix[2], mix[3])
    steps = np.arange((n + 3) // 4, dtype=np.uint64)
    words, carry = [], steps
    for word in base:  # the 128-bit counter plus the step, with carries
        total = np.uint64(word) + carry
        words.append(total & _LOW32)
        carry = total >> _32
    return np.stack(_philox(words, key), axis=1).reshape(-1)[:n].astype(np.uint32)


def glorot_uniform(shape: tuple[int, int], seed: int) -> np.ndarray:
    """``keras.initializers.GlorotUniform(seed)`` と同じ値 (TensorFlow バックエンド、``float32``)。"""
    fan_in, fan_out = shape
    scale = 1.0 / max(1.0, (fan_in + fan_out) / 2.0)
    limit = math.sqrt(3.0 * scale)
    bits = _stateless_uniform_bits(fan_in * fan_out, int(seed))
    unit = ((bits & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1.0)
    low, high = np.float32(-limit), np.float32(limit)
    return (unit * (high - low) + low).reshape(shape)


def initial_network(
    mean: np.ndarray,
    scale: np.ndarray,
    *,
    hidden_units: Sequence[int],
    encoding_dim: int,
    activation: str,
    n_models: int,
    seed: int,
) -> DenseNetwork:
    """初期値のネットワーク (``keras.utils.set_random_seed(seed)`` の後の Keras と同じ値)。

    Keras は Dense 層を作るたびに ``random.randint(1, 10**9)`` で初期値のシードを引きます。
    ここでは Python の大域の乱数を使わず、``random.Random(seed)`` から同じ順に引きます。
    """
    n_features = int(mean.shape[0])
    units = [*hidden_units, encoding_dim, *reversed(hidden_units), n_features]
    activations = [activation] * (len(units) - 1) + ["linear"]
    draws = random.Random(int(seed))
    members = []
    for _ in range(int(n_models)):
        layers, fan_in = [], n_features
        for width, act in zip(units, activations, strict=True):
            kernel = glorot_uniform((fan_in, int(width)), draws.randint(1, int(1e9)))
            layers.append((kernel, np.zeros(int(width), dtype=np.float32), act))
            fan_in = int(width)
        members.append(layers)
    return DenseNetwork(
        np.asarray(mean, dtype=np.float32), np.asarray(scale, dtype=np.float32), members
    )
