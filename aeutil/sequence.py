"""時系列の窓を再構成するオートエンコーダ (Dense・LSTM・Conv1D)。

3 種類とも、表形式のデータ用のモデル (``aeutil.model``) と同じ部品でできています。

窓 ``(窓の数, 時刻, チャンネル)`` → 標準化 (``Standardize``、チャンネルごと)
→ エンコーダ → 潜在表現 → デコーダ → 再構成 → 再構成誤差 (``ReconstructionError``、
時刻とチャンネルのすべてで平均して窓ごとに 1 つ)

学習は ``aeutil.kerastrain.train_autoencoder``、判定は ``aeutil.kerastrain.scorer_for``、
保存と読み込みは ``aeutil.kerasfile`` をそのまま使います。Keras のモデルの組み立ては
``aeutil.window_model`` にあり、学習と読み込みのときにだけ読み込みます (TensorFlow を使うため)。閾値・標準化の値・チャンネル名は
``.keras`` ファイル 1 つに入ります。
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from .base import BaseDetector
from .fitting import standardization
from .thresholds import check_percentile, threshold_percentile
from .validation import InvalidDataError, ModelFileError

__all__ = ["WINDOW_MODEL_KINDS", "WindowAutoEncoder", "build_window_autoencoder"]  # noqa: F822

#: 使えるモデルの種類。
WINDOW_MODEL_KINDS: tuple[str, ...] = ("dense", "lstm", "conv1d")
_MODEL_PREFIX = "window_autoencoder_"


def _check_kind(kind: str) -> str:
    if kind not in WINDOW_MODEL_KINDS:
        raise InvalidDataError(
            f"モデルの種類 {kind!r} には対応していません。使えるもの: {', '.join(WINDOW_MODEL_KINDS)}"
        )
    return kind


def __getattr__(name: str):
    # the Keras builder lives in aeutil.window_model (imports TensorFlow); kept importable here
    if name == "build_window_autoencoder":
        from .window_model import build_window_autoencoder

        return build_window_autoencoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class WindowAutoEncoder(BaseDetector):
    """時系列の窓を再構成し、窓ごとの再構成誤差で異常を見つける。

    窓は ``aeutil.make_windows`` で作った ``(窓の数, window, チャンネル数)``
    の配列です。標準化の平均と標準偏差は、学習データのすべての窓・時刻にわたって
    チャンネルごとに計算します。閾値は学習データの窓の再構成誤差の
    ``threshold_percentile`` パーセンタイルです。窓は互いに重なっていて、異常でない区間でも
    閾値を超えた窓が続けて現れやすいので、表形式のモデルの既定 (95) より高い 99 を既定にしています。

    Parameters
    ----------
    kind : {"dense", "lstm", "conv1d"}, default "dense"
        モデルの種類 (``build_window_autoencoder`` を参照)。
    window : int, default 32
        窓の長さ。``fit`` と ``score`` に渡す窓はこの長さでなければならない。
    latent : int, default 8
        潜在表現の大きさ。
    hidden : int, default 32
        中間層のユニット数 (Conv1D ではフィルター数)。
    epochs : int, default 20
        エポック数。
    batch_size : int, default 64
        バッチサイズ。
    lr : float, default 1e-3
        学習率 (Adam)。
    threshold_percentile : float, default 99.0
        閾値に使う学習データの窓の再構成誤差のパーセンタイル。
    seed : int, default 0
        乱数のシード。同じシードなら CPU 上でビット単位で同じ結果になる。シードは層の初期値と
        ミニバッチの並べ替えに直接渡すので、大域の乱数の状態 (NumPy・``random``・TensorFlow)
        は変わりません。

    Notes
    -----
    LSTM・Conv1D などの学習は TensorFlow で行います。同じシードで同じ結果にするため、最初の
    ``fit`` で ``tf.config.experimental.enable_op_determinism()`` を呼びます。これは TensorFlow
    のプロセス全体の切り替えで、元に戻す公開の方法がありません。以後、同じプロセスで動く
    TensorFlow の処理はすべて決定的な (ときに遅い) 実装を使います。表形式の
    :class:`AutoEncoderDetector` は NumPy だけで学習するので、この切り替えをしません。

    窓ごとの異常度は :meth:`reconstruction_error` (大きいほど異常) です。scikit-learn の約束どおり、
    :meth:`score_samples` はその符号を反転したもの、:meth:`score` はその平均です。

    Attributes
    ----------
    model_ : keras.Model
        学習済みモデル (窓から再構成誤差までを計算する)。
    threshold_ : float
        学習時に決めた閾値。
    channels_ : list of str
        チャンネル名。
    n_channels_ : int
        チャンネル数。
    history_ : dict
        エポックごとの損失 (``"loss"``)。
    train_scores_ : numpy.ndarray
        学習データの窓の再構成誤差。
    fit_time_s_ : float
        モデルの組み立てと学習にかかった時間 [秒] (計算機の混み具合で変わる)。
    """

    _fitted_attribute = "model_"

    def __init__(
        self,
        kind: str = "dense",
        *,
        window: int = 32,
        latent: int = 8,
        hidden: int = 32,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        threshold_percentile: float = 99.0,
        seed: int = 0,
    ) -> None:
        # scikit-learn's convention: store the parameters as given, check them in fit
        self.kind = kind
        self.window = window
        self.latent = latent
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.threshold_percentile = threshold_percentile
        self.seed = seed

    def _check_params(self) -> None:
        _check_kind(self.kind)
        if int(self.window) < 2:
            raise InvalidDataError(f"window は 2 以上にしてください (いまは {self.window})。")
        check_percentile(self.threshold_percentile, "threshold_percentile")

    # -- input checks ----------------------------------------------------

    def _windows(self, windows, source: str, n_channels: int | None = None) -> np.ndarray:
        arr = np.asarray(windows)
        if arr.ndim != 3:
            raise InvalidDataError(
                f"{source}は (窓の数, 時刻, チャンネル) の 3 次元配列にしてください "
                f"(いまの形: {arr.shape})。make_windows で作った窓を渡します。"
            )
        window = int(self.window)
        expected = (window, n_channels) if n_channels is not None else (window,)
        if arr.shape[1:1 + len(expected)] != expected:
            want = f"{self.window} 時刻" + (f" × {n_channels} チャンネル" if n_channels else "")
            raise InvalidDataError(
                f"{source}の窓の形が合いません: モデルは {want}の窓 (window={self.window}) を使いますが、"
                f"渡された窓の形は {arr.shape} (窓の数, 時刻, チャンネル) です。"
            )
        if arr.shape[0] == 0 or arr.shape[2] == 0:
            raise InvalidDataError(f"{source}が空です (形: {arr.shape})。")
        if not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
            raise InvalidDataError(f"{source}に数値でない値があります (型: {arr.dtype})。")
        with np.errstate(over="ignore"):
            out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            bad = int(np.argmin(np.isfinite(out).reshape(out.shape[0], -1).all(axis=1)))
            raise InvalidDataError(
                f"{source}に欠損値 (NaN) か無限大 (float32 の範囲外を含む) があります: {bad} 番目の窓"
            )
        return out

    # -- fitting ---------------------------------------------------------

    def fit(self, windows, channels: Sequence[str] | None = None) -> WindowAutoEncoder:
        """正常な期間の窓で学習し、閾値を決める。

        Parameters
        ----------
        windows : array-like, shape (n_windows, window, n_channels)
            学習データの窓。
        channels : sequence of str, optional
            チャンネル名 (モデルに記録する)。省略すると ``ch0, ch1, ...``。

        Returns
        -------
        WindowAutoEncoder
            学習済みの自分自身。

        Raises
        ------
        InvalidDataError
            窓の形が違う、窓が 2 つ未満、欠損値がある、ハイパーパラメータが不正。
        """
        self._check_params()
        data = self._windows(windows, "学習データ")
        if data.shape[0] < 2:
            raise InvalidDataError(f"学習には窓が 2 つ以上必要です (いまは {data.shape[0]})。")
        n_channels = data.shape[2]
        names = [f"ch{j}" for j in range(n_channels)] if channels is None else [str(c) for c in channels]
        if len(names) != n_channels:
            raise InvalidDataError(
                f"チャンネル名が {len(names)} 個ありますが、窓のチャンネルは {n_channels} 個です。"
            )
        mean, scale = standardization(data.reshape(-1, n_channels))

        from ._keras import tf
        from .kerastrain import train_autoencoder
        from .window_model import build_window_autoencoder

        started = time.perf_counter()
        tf.config.experimental.enable_op_determinism()  # process-wide, idempotent: see Notes
        model = build_window_autoencoder(
            self.kind,
            mean.astype(np.float32),
            scale.astype(np.float32),
            names,
            window=int(self.window),
            latent=int(self.latent),
            hidden=int(self.hidden),
            threshold_percentile=float(self.threshold_percentile),
            seed=int(self.seed),
        )
        result = train_autoencoder(
            model,
            data,
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            lr=float(self.lr),
            seed=int(self.seed),
        )
        self.fit_time_s_ = time.perf_counter() - started
        self._set_model(model)
        scores = self._scorer(data)  # float32: the threshold is taken from these values
        self._set_threshold(threshold_percentile(scores, self.threshold_percentile))
        model.get_layer("anomaly_score").threshold = self.threshold_
        self.history_ = result.history
        self.train_scores_ = scores
        return self

    def _set_model(self, model) -> None:
        from .kerastrain import scorer_for
        from .model import metadata_layer

        meta = metadata_layer(model)
        self.model_ = model
        self._reconstructor = None  # built on first use of feature_contributions
        self._scorer = scorer_for(model)
        self.channels_ = list(meta.columns)
        self.n_channels_ = len(meta.columns)
        if meta.threshold is not None:
            self._set_threshold(meta.threshold)

    # -- scoring ---------------------------------------------------------

    def reconstruction_error(self, windows) -> np.ndarray:
        """窓ごとの再構成誤差 (異常度。大きいほど異常) を返す。

        Parameters
        ----------
        windows : array-like, shape (n_windows, window, n_channels)
            判定する窓 (学習時と同じ長さ・同じチャンネル数)。

        Returns
        -------
        numpy.ndarray, shape (n_windows,)
            窓ごとの再構成誤差 (``float64``。モデルは ``float32`` で計算するので、
            値は ``float32`` の値をそのまま ``float64`` にしたもの)。

        Raises
        ------
        NotFittedError
            学習 (または読み込み) の前に呼んだ。
        InvalidDataError
            窓の長さやチャンネル数が学習時と違う。
        """
        self._check_fitted()
        data = self._windows(windows, "データ", self.n_channels_)
        return self._scorer(data).astype(np.float64)

    def feature_contributions(self, windows, *, batch_size: int = 1024) -> np.ndarray:
        """窓ごと・時刻ごと・チャンネルごとの寄与度。

        窓の異常度 (再構成誤差) は、標準化した空間での二乗誤差を時刻 (``window`` 個) と
        チャンネル (:math:`d` 個) について平均したものです。時刻 :math:`t`・チャンネル
        :math:`j` の寄与度を :math:`(\\hat z_{tj} - z_{tj})^2 / (\\text{window} \\cdot d)`
        とすると、すべて 0 以上で、窓ごとの和がその窓の異常度
        (:meth:`reconstruction_error`) になります (``float32`` の丸めの範囲で)。
        時刻ごとの値にするには :func:`aeutil.contributions_to_points` を使います。

        Parameters
        ----------
        windows : array-like, shape (n_windows, window, n_channels)
            判定する窓。
        batch_size : int, default 1024
            一度に計算する窓の数 (メモリの使用量を抑えるため)。

        Returns
        -------
        numpy.ndarray, shape (n_windows, window, n_channels)
            寄与度 (``float64``)。
        """
        self._check_fitted()
        data = self._windows(windows, "データ", self.n_channels_)
        if self._reconstructor is None:
            from ._keras import keras

            model = self.model_
            self._reconstructor = keras.Model(
                model.input,
                [model.get_layer("standardize").output, model.get_layer("reconstruction").output],
            )
        out = np.empty(data.shape, dtype=np.float64)
        scale = 1.0 / (data.shape[1] * data.shape[2])
        for start in range(0, len(data), int(batch_size)):
            z, z_hat = self._reconstructor(data[start : start + int(batch_size)], training=False)
            diff = np.asarray(z_hat, dtype=np.float64) - np.asarray(z, dtype=np.float64)
            out[start : start + len(diff)] = diff * diff * scale
        return out

    def _anomaly_scores(self, windows) -> np.ndarray:
        return self.reconstruction_error(windows)

    def _threshold_changed(self, value: float) -> None:
        self.model_.get_layer("anomaly_score").threshold = value

    # -- persistence -----------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """モデル・標準化・閾値・チャンネル名を ``.keras`` ファイル 1 つに保存する。"""
        from .kerasfile import save_keras_model

        self._check_fitted()
        save_keras_model(self.model_, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> WindowAutoEncoder:
        """``save`` したファイルから復元する。

        Raises
        ------
        FileNotFoundError
            ファイルがない。
        ModelFileError
            aeutil のモデルファイルでない、または窓のオートエンコーダではない。
        """
        from .kerasfile import load_keras_model
        from .model import metadata_layer

        model = load_keras_model(path)
        kind = model.name.removeprefix(_MODEL_PREFIX)
        if not model.name.startswith(_MODEL_PREFIX) or kind not in WINDOW_MODEL_KINDS:
            raise ModelFileError(
                f"{path} は窓のオートエンコーダ (WindowAutoEncoder) のモデルではありません "
                f"(モデル名 {model.name!r})。表形式のモデルは AutoEncoderDetector.load で読み込みます。"
            )
        code = model.get_layer("code")
        decoder = model.get_layer("decoder_0")
        size = {"dense": "units", "lstm": "units", "conv1d": "filters"}[kind]
        meta = metadata_layer(model)
        detector = cls(
            kind,
            window=int(model.input_shape[1]),
            latent=int(getattr(code, size)),
            hidden=int(getattr(decoder, size)),
            threshold_percentile=meta.threshold_percentile,
        )
        detector._set_model(model)
        return detector
