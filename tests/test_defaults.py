"""The defaults: five members, and a width that follows the number of columns (chapter 3)."""

from __future__ import annotations

import aeutil
from aeutil.model import build_autoencoder, default_architecture, dense_chains
from aeutil.timeseries import simulate_machine
from aeutil.windows import make_windows

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV

COLUMNS = ["feature1", "feature2"]


@pytest.mark.parametrize(
    ("n_features", "expected"),
    [
        (1, ((8,), 4)),
        (2, ((8,), 4)),  # the article's 8-4-8
        (9, ((8,), 4)),  # Shuttle (chapter 9)
        (16, ((8,), 4)),
        (17, ((8,), 4)),
        (18, ((9,), 4)),
        (40, ((20,), 5)),
        (128, ((64,), 16)),  # chapter 8's windows, flattened: 32 samples x 4 channels
        (1000, ((64,), 16)),
    ],
)
def test_default_architecture_rule(n_features, expected):
    assert default_architecture(n_features) == expected


def test_defaults_are_an_ensemble_of_five_with_the_width_left_open():
    params = aeutil.AutoEncoderDetector().get_params()
    assert params["n_models"] == 5
    assert params["hidden_units"] is None and params["encoding_dim"] is None
    util = aeutil.AutoEncoderUtil()
    assert util.n_models == 5 and util.hidden_units is None and util.encoding_dim is None
    assert clone(aeutil.AutoEncoderDetector()).get_params() == params


def test_build_autoencoder_fills_in_only_what_is_missing():
    mean, scale = np.zeros(40, np.float32), np.ones(40, np.float32)
    columns = [f"c{j}" for j in range(40)]
    units = [layer.units for layer in dense_chains(build_autoencoder(mean, scale, columns))[0]]
    assert units == [20, 5, 20, 40]
    model = build_autoencoder(mean, scale, columns, hidden_units=(12, 6))
    assert [layer.units for layer in dense_chains(model)[0]] == [12, 6, 5, 6, 12, 40]


def test_grid_search_over_one_half_keeps_the_other_automatic(clusters):
    search = GridSearchCV(
        aeutil.AutoEncoderDetector(epochs=2, n_models=1), {"encoding_dim": [1, 2]}, cv=2
    ).fit(clusters[COLUMNS].to_numpy())
    best = search.best_estimator_
    assert best.hidden_units is None and best.hidden_units_ == (8,)
    assert best.encoding_dim_ == search.best_params_["encoding_dim"]


def test_the_width_rule_matters_on_wide_data():
    """The article's fixed 8-4-8 squeezes 128 inputs into 8 numbers; the default does better."""
    window = 32
    train_df, _ = simulate_machine(3000, seed=0)
    test_df, _ = simulate_machine(4000, seed=1, anomalies="default")
    channels = [c for c in train_df.columns if c not in ("time_s", "anomaly", "anomaly_kind")]
    x_train, _ = make_windows(train_df[channels].to_numpy(np.float32), window, 4)
    x_test, starts = make_windows(test_df[channels].to_numpy(np.float32), window, 4)
    labels = np.array([test_df["anomaly"].to_numpy()[s : s + window].any() for s in starts])
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    assert x_train.shape[1] == 128

    def auc(**params) -> float:
        detector = aeutil.AutoEncoderDetector(seed=0, n_models=1, **params).fit(x_train)
        return roc_auc_score(labels, -detector.score_samples(x_test))

    article = auc(hidden_units=(8,), encoding_dim=4)
    default = auc()
    assert default > article + 0.03, (default, article)
