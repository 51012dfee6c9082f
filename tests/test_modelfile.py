"""The NumPy writer and reader of dense model files agree with Keras, both ways."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

import aeutil
from aeutil import modelfile
from aeutil.kerasfile import load_keras_model, save_keras_model

import h5py
import numpy as np
import pytest


def _without_ids(value):
    # Keras numbers its shared dtype policy with a memory address; only where it appears matters
    if isinstance(value, dict):
        return {k: ("id" if k == "shared_object_id" else _without_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


@pytest.fixture(scope="module", params=[1, 3], ids=["one", "ensemble"])
def detector(request, clusters):
    return aeutil.AutoEncoderDetector(
        epochs=3, n_models=request.param, hidden_units=(6, 5), encoding_dim=2, seed=2
    ).fit(clusters)


def _h5_items(data: bytes) -> dict:
    items = {}

    def visit(name, item):
        value = item[()].tobytes() if isinstance(item, h5py.Dataset) else None
        items[name] = (dict(item.attrs), value)

    with h5py.File(io.BytesIO(data)) as h5:
        h5.visititems(visit)
    return items


def _entries(path):
    with zipfile.ZipFile(path) as archive:
        return archive.namelist(), json.loads(archive.read("config.json")), archive.read("model.weights.h5")


def test_numpy_file_is_what_keras_writes(detector, tmp_path):
    ours, theirs = tmp_path / "ours.keras", tmp_path / "theirs.keras"
    detector.save(ours)
    save_keras_model(detector.model_, theirs)
    names_ours, config_ours, weights_ours = _entries(ours)
    names_theirs, config_theirs, weights_theirs = _entries(theirs)
    assert names_ours == names_theirs
    assert _without_ids(config_ours) == _without_ids(config_theirs)
    assert _h5_items(weights_ours) == _h5_items(weights_theirs)


def test_keras_reads_the_numpy_file(detector, clusters, tmp_path):
    path = tmp_path / "ours.keras"
    detector.save(path)
    model = load_keras_model(path)
    X = clusters.to_numpy(np.float32)
    expected = detector.reconstruction_error(X)
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-7)


def test_numpy_reader_vouches_for_files_keras_wrote(detector, clusters, tmp_path):
    path = tmp_path / "theirs.keras"
    save_keras_model(detector.model_, path)
    config, weights = modelfile.check_archive(path)
    assert modelfile._vouched_network(config, weights) is not None
    loaded = aeutil.AutoEncoderDetector.load(path)
    X = clusters.to_numpy(np.float32)
    assert loaded.reconstruction_error(X).tobytes() == detector.reconstruction_error(X).tobytes()


def test_unvouched_file_falls_back_to_keras(detector, clusters, tmp_path, monkeypatch):
    path = tmp_path / "ours.keras"
    detector.save(path)
    monkeypatch.setattr(modelfile, "_vouched_network", lambda config, weights: None)
    loaded = aeutil.AutoEncoderDetector.load(path)
    X = clusters.to_numpy(np.float32)
    assert loaded.reconstruction_error(X).tobytes() == detector.reconstruction_error(X).tobytes()


def test_scoring_a_saved_dense_model_needs_no_tensorflow(detector, tmp_path):
    path = tmp_path / "ours.keras"
    detector.save(path)
    code = (
        "import sys, numpy as np, aeutil\n"
        f"d = aeutil.AutoEncoderDetector.load({str(path)!r})\n"
        "d.predict(np.zeros((3, 2)))\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
