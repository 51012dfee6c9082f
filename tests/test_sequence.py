"""Window autoencoders (Dense, LSTM, Conv1D): training, reproducibility, saving, bad input."""

from __future__ import annotations

import aeutil  # noqa: F401  (quiet TensorFlow before keras is imported)
from aeutil import InvalidDataError, ModelFileError, NotFittedError
from aeutil.sequence import WINDOW_MODEL_KINDS, WindowAutoEncoder
from aeutil.timeseries import CHANNELS, make_windows, simulate_machine

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
    scores = model.score(x_test)
    assert scores.shape == (len(x_test),) and scores.dtype == np.float32
    assert np.isfinite(scores).all() and (scores >= 0).all()
    # the threshold is the 99th percentile of the training windows' scores
    assert model.threshold_ == pytest.approx(np.percentile(model.train_scores_, 99.0))
    np.testing.assert_array_equal(model.train_scores_, model.score(x_train))
    assert set(np.unique(model.predict(x_test))) <= {-1, 1}


@pytest.mark.parametrize("kind", WINDOW_MODEL_KINDS)
def test_same_seed_gives_bit_identical_scores(kind, fitted, windows):
    x_train, x_test = windows
    again = WindowAutoEncoder(kind, window=WINDOW, seed=3, **SMALL).fit(x_train, CHANNELS)
    np.testing.assert_array_equal(again.score(x_test), fitted[kind].score(x_test))
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
    np.testing.assert_array_equal(loaded.score(x_test), fitted[kind].score(x_test))


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
    assert np.all(np.isfinite(model.score(x_test)))


def test_wrong_window_shape_is_a_clear_error(fitted, windows):
    _, x_test = windows
    model = fitted["dense"]
    with pytest.raises(InvalidDataError, match="8 時刻 × 4 チャンネル"):
        model.score(x_test[:, :6, :])
    with pytest.raises(InvalidDataError, match="8 時刻 × 4 チャンネル"):
        model.score(x_test[:, :, :3])
    with pytest.raises(InvalidDataError, match="3 次元"):
        model.score(x_test[0])
    bad = x_test.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(InvalidDataError, match="2 番目の窓"):
        model.score(bad)


def test_bad_arguments_and_not_fitted(windows, tmp_path):
    x_train, x_test = windows
    with pytest.raises(InvalidDataError, match="gru"):
        WindowAutoEncoder("gru")
    with pytest.raises(InvalidDataError, match="4 の倍数"):
        WindowAutoEncoder("conv1d", window=10, **SMALL).fit(
            make_windows(np.zeros((40, 2)) + np.arange(40)[:, None], 10, 2)[0]
        )
    with pytest.raises(InvalidDataError, match="window=8"):
        WindowAutoEncoder("dense", window=WINDOW).fit(x_train[:, :4, :])
    with pytest.raises(InvalidDataError, match="チャンネル名"):
        WindowAutoEncoder("dense", window=WINDOW, **SMALL).fit(x_train, ["a", "b"])
    with pytest.raises(NotFittedError):
        WindowAutoEncoder("dense", window=WINDOW).score(x_test)
    with pytest.raises(NotFittedError):
        WindowAutoEncoder("dense", window=WINDOW).save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


def test_loading_a_table_model_is_refused(tmp_path):
    detector = aeutil.AutoEncoderDetector(epochs=1, seed=0).fit(np.random.default_rng(0).normal(size=(20, 2)))
    path = tmp_path / "table.keras"
    detector.save(path)
    with pytest.raises(ModelFileError, match="WindowAutoEncoder"):
        WindowAutoEncoder.load(path)
