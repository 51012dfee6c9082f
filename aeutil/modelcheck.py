"""モデルファイル (``.keras``) を読み込む前の確認 (TensorFlow も Keras も使わない)。

``.keras`` ファイルは zip で、中身は ``metadata.json``・``config.json`` (モデルの構造と付帯情報)・
``model.weights.h5`` (重みの HDF5) の 3 つです。:func:`check_archive` は、zip の中身・形式の
バージョン・層の種類・重みの大きさを確かめます。壊れたファイルや細工されたファイルは
:class:`~aeutil.ModelFileError` になり、読み込み (:mod:`aeutil.modelfile` の NumPy の読み手や
:mod:`aeutil.kerasfile` の Keras) には渡りません。保存先と読み込むファイルのパスの確認もここです。
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np

from .validation import InvalidDataError, ModelFileError

__all__ = [
    "FORMAT_VERSION",
    "broken",
    "check_archive",
    "check_source",
    "check_target",
    "future_version_error",
    "not_ours",
    "short_message",
]

FORMAT_VERSION = 1


def check_target(path: str | os.PathLike) -> Path:
    """保存先のパスを確かめる (拡張子 .keras、フォルダーがある)。"""
    target = Path(path)
    if target.suffix != ".keras":
        raise InvalidDataError(f"モデルの保存先は拡張子 .keras にしてください: {target}")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"保存先のフォルダーがありません: {target.parent}")
    if target.is_dir():
        raise InvalidDataError(f"モデルの保存先 {target} はフォルダーです。ファイル名を指定してください。")
    return target


def check_source(path: str | os.PathLike) -> Path:
    """読み込むモデルファイルのパスを確かめる。"""
    source = Path(path)
    if source.is_dir():
        raise ModelFileError(f"{source} はフォルダーです。モデルファイル (.keras) を指定してください。")
    if not source.is_file():
        raise FileNotFoundError(f"モデルファイルが見つかりません: {source}")
    return source


# --- checks before anything is loaded ----------------------------------------------------

_ARCHIVE_ENTRIES = ("metadata.json", "config.json", "model.weights.h5")
_MAX_CONFIG_BYTES = 64 << 20
#: Declared weights may take at most this many times the file's size in memory: a file that
#: Keras wrote holds every weight uncompressed, so an honest file never comes near it, and a
#: forged config cannot make loading allocate gigabytes from a few kilobytes.
_MAX_WEIGHT_EXPANSION = 16
#: Layers found in models that aeutil builds (aeutil.model, aeutil.sequence). Lambda is let
#: through to Keras, whose safe mode refuses it with a message that says why.
_BUILTIN_LAYERS = {
    "InputLayer", "Dense", "Flatten", "Reshape", "RepeatVector", "LSTM", "TimeDistributed",
    "Conv1D", "Conv1DTranspose", "Lambda",
}
_AEUTIL_LAYERS = {"Standardize", "ReconstructionError"}


def short_message(exc: BaseException, limit: int = 600) -> str:
    """例外のメッセージの最初の行 (Keras のメッセージは設定全体を含むことがあるので切り詰める)。"""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    text = lines[0]
    return text if len(text) <= limit else text[:limit] + "…"


def broken(source: Path, detail: str) -> ModelFileError:
    """壊れたモデルファイルのエラー (``detail`` に何が壊れているかを書く)。"""
    return ModelFileError(
        f"{source} はモデルファイルとして壊れています ({detail})。"
        "保存し直すか、バックアップから戻してください。"
    )


def not_ours(source: Path, detail: str) -> ModelFileError:
    """aeutil で保存したモデルではないファイルのエラー (``detail`` に理由を書く)。"""
    return ModelFileError(f"{source} は aeutil で保存したモデルではありません ({detail})。")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _declared_weights(source: Path, layer: dict) -> int:
    """層の設定から、作られる重みの数を求める (読み込む前に大きさを確かめるため)。"""
    cls = layer.get("class_name")
    config = layer.get("config")
    if not isinstance(config, dict):
        raise broken(source, f"層 {cls} の設定がありません")
    name = config.get("name", cls)
    if cls == "TimeDistributed":
        inner = config.get("layer")
        if not isinstance(inner, dict) or inner.get("class_name") != "Dense":
            raise not_ours(source, f"層 {name!r} の中身が aeutil の使う層ではありません")
        return _declared_weights(source, inner)
    size_key = {"Dense": "units", "LSTM": "units", "Conv1D": "filters", "Conv1DTranspose": "filters"}
    if cls not in size_key:
        return 0
    size = config.get(size_key[cls])
    build = layer.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    fan_in = shape[-1] if isinstance(shape, list) and shape else None
    kernel = config.get("kernel_size", [1]) if cls.startswith("Conv1D") else [1]
    if isinstance(kernel, int):
        kernel = [kernel]
    if not (
        _positive_int(size)
        and _positive_int(fan_in)
        and isinstance(kernel, list)
        and len(kernel) == 1
        and _positive_int(kernel[0])
    ):
        raise broken(source, f"層 {name!r} の大きさの設定が正しくありません")
    if cls == "LSTM":
        return 4 * size * (fan_in + size + 1)
    return kernel[0] * fan_in * size + size


def _check_layers(source: Path, layers: list, budget_bytes: int) -> None:
    total = 0
    for layer in layers:
        if not isinstance(layer, dict):
            raise broken(source, "層の設定が正しくありません")
        cls = layer.get("class_name")
        registered = layer.get("registered_name")
        module = layer.get("module")
        if not isinstance(cls, str):
            known = False
        elif cls in _AEUTIL_LAYERS:
            known = registered == f"aeutil>{cls}"
        else:
            known = (
                cls in _BUILTIN_LAYERS
                and registered in (None, cls)
                and (module is None or (isinstance(module, str) and module.startswith("keras")))
            )
        if not known:
            raise not_ours(
                source,
                f"aeutil のモデルにない層 {cls!r} (モジュール {module!r}) があります",
            )
        total += _declared_weights(source, layer)
    if 4 * total > budget_bytes:
        raise broken(
            source,
            f"設定では重みが {total:,} 個ありますが、ファイルの大きさ "
            f"({budget_bytes // _MAX_WEIGHT_EXPANSION:,} バイト) ではとても入りきりません",
        )


def future_version_error(source: Path, version: int) -> ModelFileError:
    """新しいバージョンの aeutil が書いた (いまの aeutil では読めない) ファイルのエラー。"""
    return ModelFileError(
        f"{source} は新しいバージョンの aeutil で保存されたモデルです (ファイルの形式はバージョン {version})。"
        f"いま使っている aeutil が読めるのは形式のバージョン {FORMAT_VERSION} までです。"
        "aeutil を更新してから読み込んでください。"
    )


def _read_entries(source: Path, size: int) -> tuple[bytes, bytes]:
    """zip の中身を確かめて、config.json と model.weights.h5 のバイト列を返す。"""
    if not zipfile.is_zipfile(source):
        with source.open("rb") as handle:
            if handle.read(4) == b"PK\x03\x04":
                # a zip's table of contents is at its end: this one was cut short
                raise broken(source, "zip の終わりがありません。ファイルが途中で切れています")
        raise ModelFileError(
            f"{source} は Keras のモデルファイル (.keras) ではありません (zip 形式ではありません)。"
        )
    try:
        with zipfile.ZipFile(source) as archive:
            _check_names(source, archive.namelist())
            if archive.getinfo("config.json").file_size > _MAX_CONFIG_BYTES:
                raise broken(source, "config.json が大きすぎます")
            if archive.getinfo("model.weights.h5").file_size > _MAX_WEIGHT_EXPANSION * size:
                raise broken(source, "model.weights.h5 の大きさがファイルの大きさと合いません")
            raw = archive.read("config.json")  # checks the CRC-32 as well
            weights = archive.read("model.weights.h5")
    except ModelFileError:
        raise
    except Exception as exc:  # zipfile raises BadZipFile, EOFError, zlib.error, ...
        found = re.search(r"Bad CRC-32 for file '(.+)'", str(exc))
        if found:
            raise broken(
                source, f"{found.group(1)} の中身がチェックサム (CRC-32) と合いません"
            ) from None
        raise broken(source, f"zip として読めません: {short_message(exc)}") from None
    return raw, weights


def _check_names(source: Path, names: list[str]) -> None:
    """zip の項目が、aeutil (Keras) の書く 3 つだけかを確かめる。"""
    if len(names) != len(set(names)):
        raise broken(source, "同じ名前の項目が zip の中に 2 つ以上あります")
    if "config.json" not in names:
        if not names:
            raise ModelFileError(
                f"{source} は空の zip ファイルです。モデルファイルではありません。"
            )
        raise broken(source, "モデルの構造 config.json がありません")
    if "model.weights.h5" not in names:
        raise broken(source, "重み model.weights.h5 がありません")
    extra = [name for name in names if name not in _ARCHIVE_ENTRIES]
    if extra:
        raise not_ours(source, f"aeutil が書かない項目 {extra[0]!r} が入っています")


def _parse_config(source: Path, raw: bytes) -> tuple[dict, list]:
    """config.json を読み、モデルの設定と層の列を返す (形式のバージョンも確かめる)。"""
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise broken(source, f"config.json が JSON として読めません: {type(exc).__name__}") from None
    if not isinstance(config, dict):
        raise broken(source, "config.json の中身が JSON のオブジェクトではありません")
    body = config.get("config")
    layers = body.get("layers") if isinstance(body, dict) else None
    if config.get("class_name") not in ("Functional", "Sequential") or not isinstance(layers, list):
        kind = config.get("class_name")
        raise not_ours(source, f"モデルの種類 {kind!r} は aeutil のモデルの形ではありません")
    metas = [
        layer for layer in layers
        if isinstance(layer, dict) and layer.get("class_name") == "ReconstructionError"
    ]
    if len(metas) > 1:
        raise not_ours(source, "再構成誤差の層が 2 つ以上あります")
    if metas:
        meta_config = metas[0].get("config")
        version = meta_config.get("format_version", 1) if isinstance(meta_config, dict) else None
        if not _positive_int(version):
            raise broken(source, f"ファイル形式のバージョン {version!r} が正しくありません")
        if version > FORMAT_VERSION:
            raise future_version_error(source, version)
    return config, layers


def check_archive(source: Path) -> tuple[dict, bytes]:
    """Keras に渡す前に、zip の中身と config.json を確かめる (Keras のコードは使わない)。

    Returns
    -------
    config : dict
        config.json の中身。
    weights : bytes
        model.weights.h5 の中身。

    Raises
    ------
    ModelFileError
        zip でない・途中で切れている・項目が足りないか多い・config.json が読めない・
        新しい形式のバージョン・aeutil のモデルにない層・重みの大きさが合わない、など。
    """
    size = source.stat().st_size
    if size == 0:
        raise ModelFileError(f"{source} は空のファイル (0 バイト) です。モデルファイルではありません。")
    raw, weights = _read_entries(source, size)
    config, layers = _parse_config(source, raw)
    # models without the metadata layer go on to Keras: it refuses unsafe ones with its own
    # message, and the check after loading names what is missing
    _check_layers(source, layers, _MAX_WEIGHT_EXPANSION * size)
    _check_weights(source, weights, _MAX_WEIGHT_EXPANSION * size)
    return config, weights


def _check_weights(source: Path, data: bytes, budget_bytes: int) -> None:
    """重みの HDF5 が、Keras の書く形 (圧縮なしの数値の配列だけ) かを確かめる。

    圧縮した配列は、小さなファイルから巨大な配列を作らせることができる (読み込みで
    メモリーを使い果たす) ので、Keras が書かない形のものは読みません。
    """
    problems: list[str] = []
    total = 0

    def visit(name: str, item) -> None:
        nonlocal total
        if not isinstance(item, h5py.Dataset):
            return
        if item.external or item.is_virtual or item.chunks is not None or item.dtype.kind not in "fiu":
            problems.append(name)
            return
        total += int(np.prod(item.shape, dtype=object)) * item.dtype.itemsize

    try:
        with h5py.File(io.BytesIO(data), "r") as weights:
            weights.visititems(visit)
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError, ... on broken files
        raise broken(source, f"重み model.weights.h5 が読めません: {short_message(exc)}") from None
    if problems:
        raise broken(source, f"重み model.weights.h5 の {problems[0]!r} が Keras の書く形ではありません")
    if total > budget_bytes:
        raise broken(source, "重み model.weights.h5 の配列の大きさがファイルの大きさと合いません")
