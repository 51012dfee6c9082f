"""Same seed, same bits: sha256 of scores and training histories, recorded before refactoring.

The digests below were computed on the code before issue 12's refactoring (commit 1a6751c).
Any change to the numerics (initial weights, training, forward pass, saving and loading)
changes at least one of them. Scores are hashed as float32 bytes (the precision the networks
compute in), histories as float64 bytes (the Python floats recorded per epoch).

OpenBLAS picks its matrix kernels for the CPU it runs on, and kernels for different CPUs add
float32 products in different orders: the same seed gives the same bits on one machine, not
across machines. The digests were recorded with OpenBLAS's Haswell kernels (AVX2, which every
x86-64 machine this project supports has), so the digests are computed in a child process with
``OPENBLAS_CORETYPE=Haswell``: the test then checks the code, not the machine it runs on.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import aeutil

import numpy as np
import pytest

# (name, AutoEncoderDetector parameters): every activation, every optimizer, 1 and 5 networks
DETECTORS = {
    "relu-adam-1": dict(activation="relu", optimizer="adam", n_models=1),
    "relu-adam-5": dict(activation="relu", optimizer="adam", n_models=5),
    "tanh-adamw-1": dict(activation="tanh", optimizer="adamw", n_models=1),
    "sigmoid-sgd-5": dict(activation="sigmoid", optimizer="sgd", n_models=5, lr=0.05),
    "elu-rmsprop-1": dict(activation="elu", optimizer="rmsprop", n_models=1),
    "softplus-adam-5": dict(activation="softplus", optimizer="adam", n_models=5),
    "linear-adamw-5": dict(activation="linear", optimizer="adamw", n_models=5),
    "relu-val-patience-1": dict(
        activation="relu", optimizer="adam", n_models=1, validation_split=0.2, patience=3,
        hidden_units=(6, 5), encoding_dim=2,
    ),
}

EXPECTED = {
    "relu-adam-1": "f0d491f69904d3d9e147935170e5dd17f6fd28743edeb9341e95ff7bb0cb6c9a",
    "relu-adam-5": "079c146f2a164b1405aefe41c2c41b499e4d64e8a8f66791683005593d039701",
    "tanh-adamw-1": "0c6c36e03f32711f6f4afaaec1ef069ed44266eef9d5867d156708c187f19383",
    "sigmoid-sgd-5": "3de700770666eb1af04c070dca5caa234dbf8cd06075cb04c68f37b09ab7dcda",
    "elu-rmsprop-1": "1cb4a39b5156d27f9c669510c027b3d834215df798909accadff9faa62ae3447",
    "softplus-adam-5": "778eccd187931a538c6ccc6a6eb088222c01d523c0e006149166933a34871395",
    "linear-adamw-5": "f204af142863f5046aecbb5b53f93446584e2d4ca33cbb71a595836098614931",
    "relu-val-patience-1": "c5137c9050cd513a38aa03b696a68be0ece7cb85b6e062e77075fc9bece50d94",
    "window-dense": "21d2e4b988322e423d23fe34bfc9f01bd3667f22cb5dd3b9128621b4a0c4b591",
}


def _sha(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _train_data() -> np.ndarray:
    return aeutil.make_three_clusters(seed=42)[["feature1", "feature2"]].to_numpy()


def _inputs(train: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [
        train,
        train[:1],  # one row
        rng.normal(0.0, 3.0, size=(20_000, 2)),  # more than one scoring block
        np.array([[1e30, -1e30], [3e19, 0.0], [0.5, 0.5]]),  # float32 overflow: rescored wide
    ]


def _history(history: dict) -> list[np.ndarray]:
    return [np.asarray(history[key], dtype=np.float64) for key in sorted(history)]


def detector_digest(name: str, tmp_path) -> str:
    train = _train_data()
    det = aeutil.AutoEncoderDetector(epochs=12, batch_size=16, seed=3, **DETECTORS[name]).fit(train)
    scores = [np.asarray(det.reconstruction_error(x), dtype=np.float32) for x in _inputs(train)]
    path = tmp_path / f"{name}.keras"
    det.save(path)
    loaded = aeutil.AutoEncoderDetector.load(path)
    reloaded = [np.asarray(loaded.reconstruction_error(x), dtype=np.float32) for x in _inputs(train)]
    for a, b in zip(scores, reloaded, strict=True):
        assert a.tobytes() == b.tobytes()  # saving and loading change no bit
    threshold = np.float64(det.threshold_)
    return _sha(*scores, *_history(det.history_), threshold)


def _window_scores(model, windows) -> np.ndarray:
    # the per-window anomaly score (score_samples is its negative, as in scikit-learn)
    return np.asarray(model.reconstruction_error(windows), dtype=np.float32)


def window_digest() -> str:
    rng = np.random.default_rng(9)
    t = np.arange(600, dtype=np.float64)
    signals = np.stack([np.sin(t / 7.0), np.cos(t / 11.0)], axis=1) + rng.normal(0, 0.05, (600, 2))
    windows = np.lib.stride_tricks.sliding_window_view(signals, (16, 2))[::4, 0]
    model = aeutil.WindowAutoEncoder("dense", window=16, latent=4, hidden=8, epochs=3, seed=1)
    model.fit(windows[:100])
    scores = _window_scores(model, windows)
    return _sha(scores, *_history(model.history_), np.float64(model.threshold_))


def all_digests(folder: Path) -> dict[str, str]:
    digests = {key: detector_digest(key, folder) for key in DETECTORS}
    digests["window-dense"] = window_digest()
    return digests


@pytest.fixture(scope="module")
def recomputed(tmp_path_factory) -> dict[str, str]:
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        pytest.skip("the digests were recorded with OpenBLAS's x86-64 (Haswell) kernels")
    folder = tmp_path_factory.mktemp("bits")
    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, __file__, "--json", str(folder)],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", [*DETECTORS, "window-dense"])
def test_same_bits_as_before_the_refactoring(recomputed, name):
    assert recomputed[name] == EXPECTED[name]


def test_same_seed_same_bits_on_this_machine(tmp_path):
    # whatever kernels this machine's OpenBLAS uses: two fits with one seed agree bit for bit
    assert detector_digest("relu-adam-5", tmp_path) == detector_digest("relu-adam-5", tmp_path)


if __name__ == "__main__":  # prints the digests (to record them: only on the old code)
    import tempfile

    if sys.argv[1:2] == ["--json"]:
        print(json.dumps(all_digests(Path(sys.argv[2]))))
    else:
        with tempfile.TemporaryDirectory() as folder:
            for key, value in all_digests(Path(folder)).items():
                print(f'    "{key}": "{value}",')
