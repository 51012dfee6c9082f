"""Window autoencoders (Dense, LSTM, Conv1D): training, reproducibility, saving, bad input."""

from __future__ import annotations

import aeutil  # noqa: F401  (quiet TensorFlow before keras is imported)
from aeutil import InvalidDataError, ModelFileError, NotFittedError
from aeutil.sequence import WINDOW_MODEL_KINDS, WindowAutoEncoder
from aeutil.timeseries import CHANNELS, simulate_machine
from aeutil.windows import make_windows

import numpy as np
import pytest

WINDOW = 8
SMALL = {"latent": 4, "hidden": 8, "epochs": 3, "batch_size": 32}


@pytest.fixture(scope="module")
def windows():
    train, _ = simulate_machine(600, seed=0)
    test, _ = simulate_machine(300, seed=1, anomalies=[])
    x_train, _ = make_windows(train[list(CHANNELS)], WINDOW, stride=4)
    x_test, _ = make_windows(test[list(CHANNELS)], WINDOW, stride=3)
    return x_train, x_test


@pytest.fixture(scope="module")
def fitted(windows):
    x_train, _ = windows
    return {
        kind: WindowAutoEncoder(kind, window=WINDOW, seed=3, **SMALL).fit(x_train, CHANNELS)
        for kind in WINDOW_MODEL_KINDS
    }


@pytest.mark.parametrize("kind", WINDOW_MODEL_KINDS)
def test_each_kind_trains_and_scores(kind, fitted, windows):
    x_train, x_test = windows
    model = fitted[kind]
    assert model.model_.name == f"window_autoencoder_{kind}"
    assert model.model_.input_shape == (None, WINDOW, len(CHANNELS))
    assert len(model.history_["loss"]) == SMALL["epochs"]
    assert model.history_["loss"][-1] < model.history_["loss"][0]
    assert model.fit_time_s_ > 0
    assert model.channels_ == list(CHANNELS)
    scores = model.reconstruction_error(x_test)
    assert scores.shape == (len(x_test),) and scores.dtype == np.float64
    # float32 values cast up exactly; score_samples and score follow scikit-learn
    np.testing.assert_array_equal(scores.astype(np.float32), scores)
    np.testing.assert_array_equal(model.score_samples(x_test), -scores)
    np.testing.assert_array_equal(model.decision_function(x_test), model.threshold_ - scores)
    assert model.score(x_test) == pytest.approx(-scores.mean())
    assert np.isfinite(scores).all() and (scores >= 0).all()
    # the threshold is the 99th percentile of the training windows' scores
    assert model.threshold_ == pytest.approx(np.percentile(model.train_scores_, 99.0))
    np.testing.assert_array_equal(model.train_scores_, model.reconstruction_error(x_train))
    assert set(np.unique(model.predict(x_test))) <= {-1, 1}


@pytest.mark.parametrize("kind", WINDOW_MODEL_KINDS)
def test_same_seed_gives_bit_identical_scores(kind, fitted, windows):
    x_train, x_test = windows
    again = WindowAutoEncoder(kind, window=WINDOW, seed=3, **SMALL).fit(x_train, CHANNELS)
    np.testing.assert_array_equal(again.reconstruction_error(x_test), fitted[kind].reconstruction_error(x_test))
    assert again.threshold_ == fitted[kind].threshold_


@pytest.mark.parametrize("kind", WINDOW_MODEL_KINDS)
def test_save_and_load_round_trip(kind, fitted, windows, tmp_path):
    _, x_test = windows
    path = tmp_path / f"{kind}.keras"
    fitted[kind].save(path)
    loaded = WindowAutoEncoder.load(path)
    assert (loaded.kind, loaded.window, loaded.latent, loaded.hidden) == (
        kind, WINDOW, SMALL["latent"], SMALL["hidden"]
    )
    assert loaded.threshold_ == fitted[kind].threshold_
    assert loaded.channels_ == list(CHANNELS)
    np.testing.assert_array_equal(loaded.reconstruction_error(x_test), fitted[kind].reconstruction_error(x_test))


def test_a_standardized_scale_is_stored_per_channel(fitted, windows):
    x_train, _ = windows
    std = fitted["dense"].model_.get_layer("standardize")
    flat = x_train.reshape(-1, len(CHANNELS))
    np.testing.assert_allclose(std.mean, flat.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std.scale, flat.std(axis=0), rtol=1e-5)


def test_a_channel_with_a_spread_below_float32_is_divided_by_one(windows):
    """A spread of 1e-40 (below float32's smallest normal number) must not blow up the scores."""
    x_train, x_test = windows
    tiny = x_train.astype(np.float64).copy()
    tiny[..., 0] = np.where(np.arange(tiny.shape[1]) % 2, 1e-40, 0.0)
    model = WindowAutoEncoder("dense", window=WINDOW, seed=3, **SMALL).fit(tiny.astype(np.float32), CHANNELS)
    assert model.model_.get_layer("standardize").scale[0] == 1.0
    assert np.all(np.isfinite(model.reconstruction_error(x_test)))


def test_wrong_window_shape_is_a_clear_error(fitted, windows):
    _, x_test = windows
    model = fitted["dense"]
    with pytest.raises(InvalidDataError, match="8 時刻 × 4 チャンネル"):
        model.reconstruction_error(x_test[:, :6, :])
    with pytest.raises(InvalidDataError, match="8 時刻 × 4 チャンネル"):
        model.reconstruction_error(x_test[:, :, :3])
    with pytest.raises(InvalidDataError, match="3 次元"):
        model.reconstruction_error(x_test[0])
    bad = x_test.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(InvalidDataError, match="2 番目の窓"):
        model.reconstruction_error(bad)


def test_bad_arguments_and_not_fitted(windows, tmp_path):
    x_train, x_test = windows
    with pytest.raises(InvalidDataError, match="gru"):
        WindowAutoEncoder("gru").fit(x_train)
    with pytest.raises(InvalidDataError, match="4 の倍数"):
        WindowAutoEncoder("conv1d", window=10, **SMALL).fit(
            make_windows(np.zeros((40, 2)) + np.arange(40)[:, None], 10, 2)[0]
        )
    with pytest.raises(InvalidDataError, match="window=8"):
        WindowAutoEncoder("dense", window=WINDOW).fit(x_train[:, :4, :])
    with pytest.raises(InvalidDataError, match="チャンネル名"):
        WindowAutoEncoder("dense", window=WINDOW, **SMALL).fit(x_train, ["a", "b"])
    with pytest.raises(NotFittedError):
        WindowAutoEncoder("dense", window=WINDOW).reconstruction_error(x_test)
    with pytest.raises(NotFittedError):
        WindowAutoEncoder("dense", window=WINDOW).save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


def test_loading_a_table_model_is_refused(tmp_path):
    detector = aeutil.AutoEncoderDetector(epochs=1, seed=0).fit(np.random.default_rng(0).normal(size=(20, 2)))
    path = tmp_path / "table.keras"
    detector.save(path)
    with pytest.raises(ModelFileError, match="WindowAutoEncoder"):
        WindowAutoEncoder.load(path)


def test_parameters_follow_scikit_learn(windows):
    """get_params/clone work, and __init__ keeps the parameters exactly as given."""
    from sklearn.base import clone

    model = WindowAutoEncoder("lstm", window=WINDOW, latent=3, seed=7)
    assert model.get_params()["kind"] == "lstm" and model.get_params()["latent"] == 3
    twin = clone(model)
    assert twin.get_params() == model.get_params() and twin is not model
    assert "lstm" in repr(model)


def test_fit_leaves_the_global_random_state_alone(windows):
    import random
    import sys

    x_train, _ = windows
    random.seed(123)
    np.random.seed(123)
    py_state, np_state = random.getstate(), np.random.get_state()
    WindowAutoEncoder("lstm", window=WINDOW, seed=3, **SMALL).fit(x_train, CHANNELS)
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    # TensorFlow's global seed was never set (keras.utils.set_random_seed is not called)
    assert "tensorflow" in sys.modules
    from tensorflow.python.eager import context

    assert context.global_seed() is None
