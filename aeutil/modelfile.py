"""モデルファイル (``.keras``) の保存と読み込み。TensorFlow を使わずに書き、読み、確かめる。

``.keras`` ファイルは zip で、中身は ``metadata.json``・``config.json`` (モデルの構造と付帯情報)・
``model.weights.h5`` (重みの HDF5) の 3 つです。Dense 層だけのオートエンコーダ
(:class:`aeutil.network.DenseNetwork`) は、Keras が書くのと同じファイルをここで ``zipfile`` と
``h5py`` で書き、同じように読みます (Keras でも読めることを ``tests/test_modelfile.py`` で確認)。

読み込みでは、まず zip の中身・形式のバージョン・層の種類・重みの大きさを確かめ
(:func:`check_archive`)、次に構造が aeutil の書く形とそっくり同じかを確かめます。
この読み手が保証できないファイル (窓のモデル、別の版の Keras が書いたファイルなど) は、
Keras の安全モードでの読み込み (:mod:`aeutil.kerasfile`) に回します。
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from importlib import metadata as _metadata
from pathlib import Path

import h5py
import numpy as np

from .engine import ACTIVATIONS
from .files import create_temp, replace_atomically
from .network import DenseNetwork
from .validation import InvalidDataError, ModelFileError

__all__ = ["FORMAT_VERSION", "check_archive", "save_network", "load_network"]

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


def _short(exc: BaseException, limit: int = 600) -> str:
    """例外のメッセージの最初の行 (Keras のメッセージは設定全体を含むことがあるので切り詰める)。"""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    text = lines[0]
    return text if len(text) <= limit else text[:limit] + "…"


def _broken(source: Path, detail: str) -> ModelFileError:
    return ModelFileError(
        f"{source} はモデルファイルとして壊れています ({detail})。"
        "保存し直すか、バックアップから戻してください。"
    )


def _not_ours(source: Path, detail: str) -> ModelFileError:
    return ModelFileError(f"{source} は aeutil で保存したモデルではありません ({detail})。")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _declared_weights(source: Path, layer: dict) -> int:
    """層の設定から、作られる重みの数を求める (読み込む前に大きさを確かめるため)。"""
    cls = layer.get("class_name")
    config = layer.get("config")
    if not isinstance(config, dict):
        raise _broken(source, f"層 {cls} の設定がありません")
    name = config.get("name", cls)
    if cls == "TimeDistributed":
        inner = config.get("layer")
        if not isinstance(inner, dict) or inner.get("class_name") != "Dense":
            raise _not_ours(source, f"層 {name!r} の中身が aeutil の使う層ではありません")
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
        raise _broken(source, f"層 {name!r} の大きさの設定が正しくありません")
    if cls == "LSTM":
        return 4 * size * (fan_in + size + 1)
    return kernel[0] * fan_in * size + size


def _check_layers(source: Path, layers: list, budget_bytes: int) -> None:
    total = 0
    for layer in layers:
        if not isinstance(layer, dict):
            raise _broken(source, "層の設定が正しくありません")
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
            raise _not_ours(
                source,
                f"aeutil のモデルにない層 {cls!r} (モジュール {module!r}) があります",
            )
        total += _declared_weights(source, layer)
    if 4 * total > budget_bytes:
        raise _broken(
            source,
            f"設定では重みが {total:,} 個ありますが、ファイルの大きさ "
            f"({budget_bytes // _MAX_WEIGHT_EXPANSION:,} バイト) ではとても入りきりません",
        )


def _future_version_error(source: Path, version: int) -> ModelFileError:
    return ModelFileError(
        f"{source} は新しいバージョンの aeutil で保存されたモデルです (ファイルの形式はバージョン {version})。"
        f"いま使っている aeutil が読めるのは形式のバージョン {FORMAT_VERSION} までです。"
        "aeutil を更新してから読み込んでください。"
    )


def check_archive(source: Path) -> tuple[dict, bytes]:
    """Keras に渡す前に、zip の中身と config.json を確かめる (Keras のコードは使わない)。"""
    size = source.stat().st_size
    if size == 0:
        raise ModelFileError(f"{source} は空のファイル (0 バイト) です。モデルファイルではありません。")
    if not zipfile.is_zipfile(source):
        with source.open("rb") as handle:
            if handle.read(4) == b"PK\x03\x04":
                # a zip's table of contents is at its end: this one was cut short
                raise _broken(source, "zip の終わりがありません。ファイルが途中で切れています")
        raise ModelFileError(
            f"{source} は Keras のモデルファイル (.keras) ではありません (zip 形式ではありません)。"
        )
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
            if len(names) != len(set(names)):
                raise _broken(source, "同じ名前の項目が zip の中に 2 つ以上あります")
            if "config.json" not in names:
                if not names:
                    raise ModelFileError(
                        f"{source} は空の zip ファイルです。モデルファイルではありません。"
                    )
                raise _broken(source, "モデルの構造 config.json がありません")
            if "model.weights.h5" not in names:
                raise _broken(source, "重み model.weights.h5 がありません")
            extra = [name for name in names if name not in _ARCHIVE_ENTRIES]
            if extra:
                raise _not_ours(source, f"aeutil が書かない項目 {extra[0]!r} が入っています")
            if archive.getinfo("config.json").file_size > _MAX_CONFIG_BYTES:
                raise _broken(source, "config.json が大きすぎます")
            if archive.getinfo("model.weights.h5").file_size > _MAX_WEIGHT_EXPANSION * size:
                raise _broken(source, "model.weights.h5 の大きさがファイルの大きさと合いません")
            raw = archive.read("config.json")  # checks the CRC-32 as well
            weights = archive.read("model.weights.h5")
    except ModelFileError:
        raise
    except Exception as exc:  # zipfile raises BadZipFile, EOFError, zlib.error, ...
        found = re.search(r"Bad CRC-32 for file '(.+)'", str(exc))
        if found:
            raise _broken(
                source, f"{found.group(1)} の中身がチェックサム (CRC-32) と合いません"
            ) from None
        raise _broken(source, f"zip として読めません: {_short(exc)}") from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _broken(source, f"config.json が JSON として読めません: {type(exc).__name__}") from None
    if not isinstance(config, dict):
        raise _broken(source, "config.json の中身が JSON のオブジェクトではありません")
    body = config.get("config")
    layers = body.get("layers") if isinstance(body, dict) else None
    if config.get("class_name") not in ("Functional", "Sequential") or not isinstance(layers, list):
        kind = config.get("class_name")
        raise _not_ours(source, f"モデルの種類 {kind!r} は aeutil のモデルの形ではありません")
    metas = [
        layer for layer in layers
        if isinstance(layer, dict) and layer.get("class_name") == "ReconstructionError"
    ]
    if len(metas) > 1:
        raise _not_ours(source, "再構成誤差の層が 2 つ以上あります")
    if metas:
        meta_config = metas[0].get("config")
        version = meta_config.get("format_version", 1) if isinstance(meta_config, dict) else None
        if not _positive_int(version):
            raise _broken(source, f"ファイル形式のバージョン {version!r} が正しくありません")
        if version > FORMAT_VERSION:
            raise _future_version_error(source, version)
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
        raise _broken(source, f"重み model.weights.h5 が読めません: {_short(exc)}") from None
    if problems:
        raise _broken(source, f"重み model.weights.h5 の {problems[0]!r} が Keras の書く形ではありません")
    if total > budget_bytes:
        raise _broken(source, "重み model.weights.h5 の配列の大きさがファイルの大きさと合いません")


# --- the dense autoencoder's file, written and read without Keras -------------------------

#: The id Keras gives the shared dtype policy is a memory address; any integer will do.
_SHARED_POLICY_ID = 1
_MODEL_NAME = "autoencoder"


def _policy(shared_id: int | None) -> dict:
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
              "registered_name": None}
    if shared_id is not None:
        policy["shared_object_id"] = shared_id
    return policy


def _tensor(width: int, source: str) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, width], "dtype": "float32", "keras_history": [source, 0, 0]}}


def _dense_config(name: str, units: int, activation: str, fan_in: int, source: str, shared) -> dict:
    initializer = {"module": "keras.initializers", "class_name": "GlorotUniform",
                   "config": {"seed": None, "input_axes": None, "output_axes": None},
                   "registered_name": None}
    zeros = {"module": "keras.initializers", "class_name": "Zeros", "config": {},
             "registered_name": None}
    return {
        "module": "keras.layers", "class_name": "Dense",
        "config": {
            "name": name, "trainable": True, "dtype": _policy(shared), "units": units,
            "activation": activation, "use_bias": True, "kernel_initializer": initializer,
            "bias_initializer": zeros, "kernel_regularizer": None, "bias_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None, "quantization_config": None,
        },
        "registered_name": None, "build_config": {"input_shape": [None, fan_in]}, "name": name,
        "inbound_nodes": [{"args": [_tensor(fan_in, source)], "kwargs": {}}],
    }


def _dense_names(n_layers: int, n_models: int) -> list[list[str]]:
    """層の名前 (メンバーごと、入力側から順)。:func:`aeutil.model.build_autoencoder` と同じ。"""
    n_hidden = (n_layers - 2) // 2
    base = ([f"encoder_{i}" for i in range(n_hidden)] + ["code"]
            + [f"decoder_{i}" for i in range(n_hidden)] + ["reconstruction"])
    if n_models == 1:
        return [base]
    return [[f"member{m}_{name}" for name in base] for m in range(n_models)]


def model_config(network: DenseNetwork, columns, threshold, threshold_percentile,
                 shared: int = _SHARED_POLICY_ID) -> dict:
    """Keras が :func:`aeutil.model.build_autoencoder` のモデルについて書く ``config.json`` の中身。"""
    d = network.n_features
    names = _dense_names(len(network.members[0]), len(network.members))
    layers = [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, d], "dtype": "float32", "sparse": False, "ragged": False,
                    "name": "x", "optional": False},
         "registered_name": None, "name": "x", "inbound_nodes": []},
        {"module": "aeutil.model", "class_name": "Standardize",
         "config": {"name": "standardize", "trainable": True, "dtype": _policy(None),
                    "mean": network.mean.tolist(), "scale": network.scale.tolist()},
         "registered_name": "aeutil>Standardize", "build_config": {"input_shape": [None, d]},
         "name": "standardize",
         "inbound_nodes": [{"args": [_tensor(d, "x")], "kwargs": {}}]},
    ]
    # Keras lists the layers by depth: the first layer of every member, then the second, ...
    for position in range(len(names[0])):
        for m, layers_m in enumerate(network.members):
            kernel, _, activation = layers_m[position]
            source = "standardize" if position == 0 else names[m][position - 1]
            layers.append(_dense_config(names[m][position], int(kernel.shape[1]), activation,
                                        int(kernel.shape[0]), source, shared))
    ends = [_tensor(d, member[-1]) for member in names]
    layers.append({
        "module": "aeutil.model", "class_name": "ReconstructionError",
        "config": {"name": "anomaly_score", "trainable": True, "dtype": _policy(shared),
                   "columns": [str(c) for c in columns],
                   "threshold": None if threshold is None else float(threshold),
                   "threshold_percentile": float(threshold_percentile),
                   "format_version": FORMAT_VERSION},
        "registered_name": "aeutil>ReconstructionError",
        "build_config": {"input_shape": [[None, d]] * (1 + len(names))}, "name": "anomaly_score",
        "inbound_nodes": [{"args": [[_tensor(d, "standardize"), *ends]], "kwargs": {}}],
    })
    return {
        "module": "keras.src.models.functional", "class_name": "Functional",
        "config": {"name": _MODEL_NAME, "trainable": True, "layers": layers,
                   "input_layers": ["x", 0, 0], "output_layers": ["anomaly_score", 0, 0]},
        "registered_name": "Functional", "build_config": {"input_shape": None},
        "compile_config": {},
    }


def _weight_layout(network: DenseNetwork) -> dict[str, tuple[str, list[np.ndarray]]]:
    """``model.weights.h5`` の中身: Keras の層の保存名 → (層の名前, 重みの列)。"""
    names = _dense_names(len(network.members[0]), len(network.members))
    layout = {"input_layer": ("x", []),
              "standardize": ("standardize", [network.mean, network.scale])}
    k = 0
    for position in range(len(names[0])):
        for m, layers_m in enumerate(network.members):
            kernel, bias, _ = layers_m[position]
            layout["dense" if k == 0 else f"dense_{k}"] = (names[m][position], [kernel, bias])
            k += 1
    layout["reconstruction_error"] = ("anomaly_score", [])
    return layout


def _weights_bytes(network: DenseNetwork) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        for key, (name, values) in sorted(_weight_layout(network).items()):
            group = h5.create_group(f"layers/{key}/vars")
            group.attrs["name"] = name
            for i, value in enumerate(values):
                group.create_dataset(str(i), data=np.asarray(value, dtype=np.float32))
        h5.create_group("vars").attrs["name"] = _MODEL_NAME
    return buffer.getvalue()


def save_network(network: DenseNetwork, columns, threshold: float, threshold_percentile: float,
                 path: str | os.PathLike) -> Path:
    """Dense 層だけのオートエンコーダを、Keras が書くのと同じ ``.keras`` ファイルに保存する。

    TensorFlow は使いません。書き終えてから名前を付け替えるので、途中で止まっても
    元のファイルは壊れません (:mod:`aeutil.files`)。
    """
    target = check_target(path)
    config = model_config(network, columns, threshold, threshold_percentile)
    meta = {"keras_version": _metadata.version("keras"),
            "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}
    tmp = create_temp(target.parent, target.stem, ".tmp.keras")
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr("metadata.json", json.dumps(meta))
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("model.weights.h5", _weights_bytes(network))
        replace_atomically(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def _vouched_network(config: dict, weights: bytes):
    """aeutil の書く形とそっくり同じファイルなら (ネットワーク, 付帯情報の設定) を返す。違えば None。"""
    try:
        layers = config["config"]["layers"]
        std, meta = layers[1]["config"], layers[-1]["config"]
        dense = [layer for layer in layers if layer.get("class_name") == "Dense"]
        n_models = len(layers[-1]["inbound_nodes"][0]["args"][0]) - 1
        shared = dense[0]["config"]["dtype"]["shared_object_id"]
        per_member = len(dense) // n_models
        with h5py.File(io.BytesIO(weights), "r") as h5:
            values = {}
            h5.visititems(lambda name, item: values.__setitem__(name, item))
            arrays = {name: item[()] for name, item in values.items() if isinstance(item, h5py.Dataset)}
            attrs = {name: dict(item.attrs) for name, item in values.items()}
        members = [[] for _ in range(n_models)]
        for k, layer in enumerate(dense):
            group = "dense" if k == 0 else f"dense_{k}"
            kernel, bias = arrays[f"layers/{group}/vars/0"], arrays[f"layers/{group}/vars/1"]
            members[k % n_models].append((kernel, bias, layer["config"]["activation"]))
        network = DenseNetwork(np.asarray(std["mean"], dtype=np.float32),
                               np.asarray(std["scale"], dtype=np.float32), members)
        expected = model_config(network, meta["columns"], meta["threshold"],
                                meta["threshold_percentile"], shared)
    except Exception:  # any shape this reader does not know: Keras decides
        return None
    if per_member * n_models != len(dense) or expected != config:
        return None
    if any(not isinstance(a, str) or a not in ACTIVATIONS for m in members for _, _, a in m):
        return None  # Keras' reader refuses it with the message that names the activation
    layout = _weight_layout(network)
    want = {f"layers/{key}/vars/{i}": value for key, (_, vals) in layout.items()
            for i, value in enumerate(vals)}
    groups = {"layers", "vars"} | {f"layers/{key}" for key in layout} | {
        f"layers/{key}/vars" for key in layout}
    if set(arrays) != set(want) or set(attrs) != groups | set(want):
        return None
    for name, value in want.items():
        got = arrays[name]
        if got.dtype != np.float32 or got.shape != value.shape or got.tobytes() != value.tobytes():
            return None
    if attrs["vars"] != {"name": _MODEL_NAME} or any(
        attrs[f"layers/{key}/vars"] != {"name": name} for key, (name, _) in layout.items()
    ):
        return None
    return network, meta


def _check_content(network: DenseNetwork, meta: dict, source: Path) -> None:
    """付帯情報 (列名・閾値・標準化)と重みを確かめる (Keras で読んだときと同じ確認・同じ文言)。"""
    n_inputs = network.n_features
    columns = meta["columns"]
    if not columns or len(columns) != n_inputs or len(set(columns)) != len(columns):
        raise _broken(
            source, f"列名 {columns!r} が入力の列の数 ({n_inputs}) と合わないか、重複しています"
        )
    threshold = meta["threshold"]
    if threshold is None or not np.isfinite(threshold) or threshold < 0:
        raise _broken(source, f"閾値 {threshold!r} が 0 以上の有限の値ではありません")
    if not 0.0 < meta["threshold_percentile"] <= 100.0:
        raise _broken(source, f"閾値のパーセンタイル {meta['threshold_percentile']!r} が正しくありません")
    for label, values in (("平均", network.mean), ("標準偏差", network.scale)):
        if not np.isfinite(values).all():
            raise _broken(source, f"標準化の{label}の値が正しくありません")
    if not (network.scale > 0).all():
        raise _broken(source, "標準化の標準偏差に 0 以下の値があります")
    names = _dense_names(len(network.members[0]), len(network.members))
    for member, member_names in zip(network.members, names, strict=True):
        for (kernel, bias, _), name in zip(member, member_names, strict=True):
            for label, value in (("kernel", kernel), ("bias", bias)):
                if not np.isfinite(value).all():
                    raise _broken(source, f"重み {name}/{label} に NaN か無限大があります")


def load_network(path: str | os.PathLike):
    """表形式のオートエンコーダのファイルを読み、``(ネットワーク, 列名, 閾値, パーセンタイル)`` を返す。

    aeutil が書く形とそっくり同じファイルは TensorFlow を使わずに読みます。
    それ以外は Keras の安全モードで読み、表形式のオートエンコーダかを確かめます。

    Raises
    ------
    FileNotFoundError
        ファイルがない。
    ModelFileError
        aeutil のモデルファイルでない、壊れている、表形式のモデルでない。
    """
    source = check_source(path)
    config, weights = check_archive(source)
    vouched = _vouched_network(config, weights)
    if vouched is not None:
        network, meta = vouched
        _check_content(network, meta, source)
        return network, list(meta["columns"]), float(meta["threshold"]), float(
            meta["threshold_percentile"])
    from .kerasfile import check_table_model, load_keras_model
    from .model import metadata_layer, network_from_model

    model = load_keras_model(source)
    check_table_model(model, source)  # a window model or a forged graph: ModelFileError
    meta = metadata_layer(model)
    return network_from_model(model), list(meta.columns), float(meta.threshold), float(
        meta.threshold_percentile)
