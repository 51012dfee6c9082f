"""Keras でのモデルファイルの保存と読み込み (LSTM・Conv1D の窓のモデルと、NumPy の読み手が
引き受けないファイル)。

読み込みは Keras の安全モード (``safe_mode=True``) で行い、その前に
:func:`aeutil.modelcheck.check_archive` で zip の中身・形式のバージョン・層の種類・重みの大きさを、
後に列名・閾値・標準化の値・重みを確かめます。
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ._keras import keras
from .engine import ACTIVATIONS
from .files import AtomicFile
from .model import ReconstructionError, Standardize, activation_name, dense_chains, metadata_layer
from .modelcheck import (
    FORMAT_VERSION,
    broken,
    check_archive,
    check_source,
    check_target,
    future_version_error,
    not_ours,
    short_message,
)
from .validation import ModelFileError

__all__ = ["save_keras_model", "load_keras_model", "check_table_model"]


def save_keras_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """モデルを ``.keras`` ファイル 1 つに、途中で壊れないよう保存する。

    同じフォルダーの一時ファイルに書き終え、ディスクに書き出してから名前を付け替える
    (アトミックな置き換え) ので、保存に失敗しても、途中でプロセスが止められても、
    元のファイルはそのまま残ります。失敗したときは書きかけのファイルも残りません。
    上書きするときは、元のファイルの権限をそのまま引き継ぎます。

    Parameters
    ----------
    model : keras.Model
        保存するモデル。
    path : str or path-like
        保存先。拡張子は ``.keras``。

    Returns
    -------
    pathlib.Path
        保存先のパス。
    """
    target = check_target(path)
    with AtomicFile(target, ".tmp.keras") as out:
        with warnings.catch_warnings():
            # Keras 3.15 converts its variables with np.array(x, copy=False), which
            # NumPy 2 reports as deprecated; harmless and outside our control.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save(out.path)
        return out.commit()


def _check_metadata(model: keras.Model, source: Path) -> None:
    """読み込んだ aeutil のモデルの付帯情報 (列名・閾値・標準化・重み) を確かめる。"""
    try:
        meta = metadata_layer(model)
    except ValueError:
        meta = None
    if not isinstance(meta, ReconstructionError):
        raise not_ours(source, "再構成誤差の層 'anomaly_score' がありません")
    if meta.format_version > FORMAT_VERSION:
        raise future_version_error(source, meta.format_version)
    n_inputs = model.input_shape[-1] if isinstance(model.input_shape, tuple) else None
    columns = meta.columns
    if not columns or len(columns) != n_inputs or len(set(columns)) != len(columns):
        raise broken(
            source, f"列名 {columns!r} が入力の列の数 ({n_inputs}) と合わないか、重複しています"
        )
    threshold = meta.threshold
    if threshold is None or not np.isfinite(threshold) or threshold < 0:
        raise broken(source, f"閾値 {threshold!r} が 0 以上の有限の値ではありません")
    if not 0.0 < meta.threshold_percentile <= 100.0:
        raise broken(source, f"閾値のパーセンタイル {meta.threshold_percentile!r} が正しくありません")
    try:
        std = model.get_layer("standardize")
    except ValueError:
        std = None
    if not isinstance(std, Standardize):
        raise not_ours(source, "標準化の層 'standardize' がありません")
    for label, values in (("平均", std.mean), ("標準偏差", std.scale)):
        if values.shape != (n_inputs,) or not np.isfinite(values).all():
            raise broken(source, f"標準化の{label}の値が正しくありません")
    if not (std.scale > 0).all():
        raise broken(source, "標準化の標準偏差に 0 以下の値があります")
    for weight in model.weights:
        if not np.isfinite(np.asarray(weight.numpy(), dtype=np.float64)).all():
            raise broken(source, f"重み {weight.path} に NaN か無限大があります")


def load_keras_model(path: str | os.PathLike) -> keras.Model:
    """aeutil で保存した ``.keras`` ファイルを安全モードで読み込む。

    Keras の ``safe_mode=True`` で読み込むので、ファイルに埋め込まれた任意のコード
    (Lambda 層など) は実行されません。Keras に渡す前に、zip の中身・ファイル形式のバージョン・
    層の種類と重みの大きさを確かめ、読み込んだ後に列名・閾値・標準化の値・重みを確かめます。
    壊れたファイルや細工されたファイルは、どれも :class:`ModelFileError` になります。

    Parameters
    ----------
    path : str or path-like
        モデルファイルのパス。

    Returns
    -------
    keras.Model
        読み込んだモデル。

    Raises
    ------
    FileNotFoundError
        ファイルがない。
    ModelFileError
        aeutil のモデルファイルではない、壊れている、新しいバージョンの aeutil で保存された、
        またはパスがフォルダー。メッセージはファイル名と理由を示す。
    """
    source = check_source(path)
    check_archive(source)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            # Keras warns, e.g., when it leaves weights freshly initialized: that file is broken
            warnings.filterwarnings("error", category=UserWarning, module=r"keras\.")
            model = keras.models.load_model(source, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many different types here
        raise ModelFileError(
            f"{source} を aeutil のモデルとして読み込めませんでした: {short_message(exc)}"
        ) from exc
    _check_metadata(model, source)
    return model


def check_table_model(model: keras.Model, source: str | os.PathLike) -> None:
    """表形式のオートエンコーダ (:func:`aeutil.model.build_autoencoder` の形) かを確かめる。

    ``AutoEncoderDetector.load`` が使います。入力 → 標準化 → Dense 層の鎖 → 再構成誤差、
    という形で、Dense 層の活性化関数が aeutil の計算できるものであることを確かめます。

    Raises
    ------
    ModelFileError
        形が違う (窓のモデル・細工されたモデルなど)。
    """
    source = Path(source)
    layers = model.layers
    dense = layers[2:-1]
    shaped = (
        len(layers) >= 5
        and isinstance(layers[0], keras.layers.InputLayer)
        and isinstance(layers[1], Standardize)
        and layers[1].name == "standardize"
        and isinstance(layers[-1], ReconstructionError)
        and layers[-1].name == "anomaly_score"
        and len(dense) % 2 == 0
        and all(type(layer) is keras.layers.Dense for layer in dense)
        and len(model.input_shape) == 2
    )
    if not shaped:
        kinds = ", ".join(type(layer).__name__ for layer in layers)
        raise ModelFileError(
            f"{source} は表形式のオートエンコーダ (AutoEncoderUtil・AutoEncoderDetector) の"
            f"モデルではありません (層: {kinds})。窓のモデルは WindowAutoEncoder.load で読み込みます。"
        )
    # one chain of Dense layers per member of an ensemble (usually one), all the same length
    chains = dense_chains(model)
    ends = []
    for chain in chains:
        previous = layers[1]
        for layer in chain:
            if layer.input is not previous.output or not layer.use_bias:
                raise ModelFileError(
                    f"{source} の層 {layer.name!r} のつながりが aeutil のモデルと違います。"
                    "ファイルが壊れているか、aeutil で保存したモデルではありません。"
                )
            if activation_name(layer) not in ACTIVATIONS:
                raise ModelFileError(
                    f"{source} の層 {layer.name!r} の活性化関数 {activation_name(layer)!r} には"
                    f"対応していません。使えるもの: {', '.join(ACTIVATIONS)}"
                )
            previous = layer
        ends.append(previous)
    meta_inputs = layers[-1].input
    if (
        not isinstance(meta_inputs, (list, tuple))
        or len(meta_inputs) != 1 + len(chains)
        or len({len(chain) for chain in chains}) != 1
        or meta_inputs[0] is not layers[1].output
        or any(meta is not end.output for meta, end in zip(meta_inputs[1:], ends, strict=True))
        or any(end.units != model.input_shape[-1] for end in ends)
    ):
        raise ModelFileError(
            f"{source} の再構成誤差の層のつながりが aeutil のモデルと違います。"
            "ファイルが壊れているか、aeutil で保存したモデルではありません。"
        )
