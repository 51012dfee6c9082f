"""The scikit-learn face: estimator conventions, GridSearchCV and pipelines."""

from __future__ import annotations

import aeutil
from aeutil import AutoEncoderDetector

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer


@pytest.fixture(scope="module")
def X():
    return aeutil.make_three_clusters(seed=0)[["feature1", "feature2"]].to_numpy()


def test_sign_conventions(X):
    det = AutoEncoderDetector(epochs=20, batch_size=16).fit(X)
    far = np.array([[8.0, -8.0]])
    err = det.reconstruction_error(np.r_[X[:5], far])
    np.testing.assert_array_equal(det.score_samples(X[:5]), -err[:5])
    np.testing.assert_allclose(det.decision_function(X[:5]), det.threshold_ - err[:5])
    assert det.predict(far)[0] == -1
    assert det.decision_function(far)[0] < 0
    assert det.offset_ == -det.threshold_
    assert det.n_features_in_ == 2
    assert (det.predict(X) == -1).mean() == pytest.approx(0.05, abs=0.01)


def test_fit_predict_from_outlier_mixin(X):
    labels = AutoEncoderDetector(epochs=2).fit_predict(X)
    assert set(np.unique(labels)) <= {-1, 1}


def test_get_set_params_and_clone():
    det = AutoEncoderDetector(encoding_dim=2, lr=0.01)
    params = det.get_params()
    assert params["encoding_dim"] == 2 and params["lr"] == 0.01
    twin = clone(det)
    assert twin.get_params() == params
    twin.set_params(encoding_dim=3)
    assert det.encoding_dim == 2


def test_grid_search_with_shuffled_folds(X):
    grid = GridSearchCV(
        AutoEncoderDetector(epochs=5, batch_size=32),
        {"encoding_dim": [1, 2], "lr": [1e-3, 1e-2]},
        cv=KFold(3, shuffle=True, random_state=0),
    )
    grid.fit(X)
    assert set(grid.best_params_) == {"encoding_dim", "lr"}
    assert len(grid.cv_results_["mean_test_score"]) == 4
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_.predict(X).shape == (len(X),)


def test_in_a_pipeline(X):
    pipe = make_pipeline(FunctionTransformer(lambda a: a * 2.0), AutoEncoderDetector(epochs=3))
    pipe.fit(X)
    assert pipe.predict(X).shape == (len(X),)
    assert pipe.score_samples(X).shape == (len(X),)


def test_dataframe_columns_are_remembered():
    df = aeutil.make_three_clusters(seed=0)[["feature1", "feature2"]]
    det = AutoEncoderDetector(epochs=2).fit(df)
    assert list(det.feature_names_in_) == ["feature1", "feature2"]
    reordered = df[["feature2", "feature1"]].assign(extra=1.0)
    np.testing.assert_array_equal(det.score_samples(reordered), det.score_samples(df))


def test_save_and_load_restore_architecture(X, tmp_path):
    det = AutoEncoderDetector(hidden_units=(6,), encoding_dim=2, activation="tanh", epochs=2)
    det.fit(X)
    path = tmp_path / "det.keras"
    det.save(path)
    back = AutoEncoderDetector.load(path)
    assert back.hidden_units == (6,) and back.encoding_dim == 2 and back.activation == "tanh"
    assert back.score_samples(X).tobytes() == det.score_samples(X).tobytes()


def test_not_fitted():
    with pytest.raises(aeutil.NotFittedError):
        AutoEncoderDetector().predict(np.zeros((2, 2)))


def test_dead_code_units_counts_constant_bottleneck_units():
    from aeutil import AutoEncoderDetector
    from aeutil.model import dead_code_units

    import numpy as np

    X = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    det = AutoEncoderDetector(hidden_units=(), encoding_dim=3, n_models=1, epochs=2, seed=0).fit(X)
    weights = det.model_.get_layer("code").get_weights()
    # make unit 0 dead: zero weights and a negative bias give ReLU(…) = 0 on every row
    weights[0][:, 0] = 0.0
    weights[1][0] = -1.0
    det.model_.get_layer("code").set_weights(weights)
    assert dead_code_units(det.model_, X) >= 1


@pytest.mark.parametrize("hidden", [(), (8,), (16, 8)])
def test_dead_code_units_of_the_detector_count_constant_units_of_every_network(hidden):
    # the NumPy count (no TensorFlow) against a direct computation of the ReLU bottleneck,
    # after forcing three units dead (zero weights, negative bias) in a 2-network ensemble
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    det = AutoEncoderDetector(hidden_units=hidden, encoding_dim=3, n_models=2, epochs=2,
                              seed=0).fit(X)
    code = len(hidden)  # the bottleneck's index among the layers
    for member, units in zip(det.network_.members, ([0], [1, 2]), strict=True):
        kernel, bias, _ = member[code]
        assert kernel.shape[1] == 3
        kernel[:, units] = 0.0
        bias[units] = -1.0
    z = (X - det.network_.mean) / det.network_.scale
    expected = 0
    for member in det.network_.members:
        h = z
        for kernel, bias, _ in member[: code + 1]:
            h = np.maximum(h @ kernel + bias, 0.0)
        expected += int((h.max(axis=0) == h.min(axis=0)).sum())
    assert expected >= 3
    assert det.dead_code_units(X) == expected


def test_dead_code_units_agree_with_the_keras_model():
    from aeutil.model import dead_code_units

    X = aeutil.make_three_clusters(seed=0)[["feature1", "feature2"]].to_numpy()
    for seed in range(3):
        det = AutoEncoderDetector(encoding_dim=2, activation="relu", epochs=100, lr=1e-2,
                                  seed=seed, n_models=1).fit(X)
        assert det.dead_code_units(X) == dead_code_units(det.model_, X)
