"""Dense 層だけのオートエンコーダのモデルファイル (``.keras``) を、TensorFlow を使わずに書き、読む。

``.keras`` ファイルは zip で、中身は ``metadata.json``・``config.json`` (モデルの構造と付帯情報)・
``model.weights.h5`` (重みの HDF5) の 3 つです。Dense 層だけのオートエンコーダ
(:class:`aeutil.network.DenseNetwork`) は、Keras が書くのと同じファイルをここで ``zipfile`` と
``h5py`` で書き、同じように読みます (Keras でも読めることを ``tests/test_modelfile.py`` で確認)。

読み込みでは、まず zip の中身・形式のバージョン・層の種類・重みの大きさを確かめ
(:func:`aeutil.modelcheck.check_archive`)、次に構造が aeutil の書く形とそっくり同じかを確かめます。
この読み手が保証できないファイル (窓のモデル、別の版の Keras が書いたファイルなど) は、
Keras の安全モードでの読み込み (:mod:`aeutil.kerasfile`) に回します。
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from importlib import metadata as _metadata
from pathlib import Path

import h5py
import numpy as np

from .engine import ACTIVATIONS
from .files import AtomicFile
from .modelcheck import FORMAT_VERSION, broken, check_archive, check_source, check_target
from .network import DenseNetwork

__all__ = ["FORMAT_VERSION", "check_archive", "save_network", "load_network"]

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
    with AtomicFile(target, ".tmp.keras") as out:
        with zipfile.ZipFile(out.path, "w") as archive:
            archive.writestr("metadata.json", json.dumps(meta))
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("model.weights.h5", _weights_bytes(network))
        return out.commit()


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
        raise broken(
            source, f"列名 {columns!r} が入力の列の数 ({n_inputs}) と合わないか、重複しています"
        )
    threshold = meta["threshold"]
    if threshold is None or not np.isfinite(threshold) or threshold < 0:
        raise broken(source, f"閾値 {threshold!r} が 0 以上の有限の値ではありません")
    if not 0.0 < meta["threshold_percentile"] <= 100.0:
        raise broken(source, f"閾値のパーセンタイル {meta['threshold_percentile']!r} が正しくありません")
    for label, values in (("平均", network.mean), ("標準偏差", network.scale)):
        if not np.isfinite(values).all():
            raise broken(source, f"標準化の{label}の値が正しくありません")
    if not (network.scale > 0).all():
        raise broken(source, "標準化の標準偏差に 0 以下の値があります")
    names = _dense_names(len(network.members[0]), len(network.members))
    for member, member_names in zip(network.members, names, strict=True):
        for (kernel, bias, _), name in zip(member, member_names, strict=True):
            for label, value in (("kernel", kernel), ("bias", bias)):
                if not np.isfinite(value).all():
                    raise broken(source, f"重み {name}/{label} に NaN か無限大があります")


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
