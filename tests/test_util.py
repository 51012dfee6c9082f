"""AutoEncoderUtil: the article's API with its defects fixed."""

from __future__ import annotations

import aeutil
from aeutil import AutoEncoderUtil
from aeutil.model import dense_chains

import numpy as np
import pandas as pd
import pytest

COLUMNS = ["feature1", "feature2"]


def test_fit_predict_returns_article_triple(fitted, clusters):
    y, loss, threshold = fitted.predict(COLUMNS)
    assert y.shape == loss.shape == (len(clusters),)
    assert set(np.unique(y)) <= {-1, 1}
    assert isinstance(threshold, float)
    assert np.all(loss >= 0)
    np.testing.assert_array_equal(y, np.where(loss > threshold, -1, 1))


def test_threshold_is_learned_at_fit_time_and_reused(fitted, clusters):
    y_train, loss_train, thr_train = fitted.predict(COLUMNS)
    # the 95th percentile of the training errors: about 5% of the training rows are flagged
    assert thr_train == pytest.approx(np.percentile(loss_train, 95), rel=1e-6)
    # scoring a perfectly normal sub-sample must NOT recompute a new 95th percentile
    central = clusters[np.hypot(clusters.feature1, clusters.feature2) < 0.3]
    y_sub, loss_sub, thr_sub = fitted.predict(COLUMNS, df=central)
    assert thr_sub == thr_train
    assert (y_sub == -1).mean() < 0.05


def test_explicit_threshold_overrides(fitted):
    y, loss, thr = fitted.predict(COLUMNS, threshold=0.0)
    assert thr == 0.0
    assert (y == -1).sum() == (loss > 0).sum()


def test_threshold_percentile_is_configurable(clusters):
    util = AutoEncoderUtil(df=clusters, threshold_percentile=80).fit(COLUMNS, epochs=3)
    y, loss, thr = util.predict(COLUMNS)
    assert thr == pytest.approx(np.percentile(loss, 80), rel=1e-6)
    assert 0.15 < (y == -1).mean() < 0.25


def test_predict_does_not_mutate_self_df_or_caller_frame(fitted, clusters):
    before_self = fitted.df.copy()
    other = aeutil.make_uniform_points(n=15)
    snapshot = other.copy()
    fitted.predict(COLUMNS, df=other)
    pd.testing.assert_frame_equal(other, snapshot)
    pd.testing.assert_frame_equal(fitted.df, before_self)


def test_constructor_copies_the_frame(clusters):
    frame = clusters.copy()
    util = AutoEncoderUtil(df=frame)
    frame.iloc[0, 0] = 999.0
    assert util.df.iloc[0, 0] != 999.0


def test_fit_does_not_mutate_frame(clusters):
    frame = clusters.copy()
    util = AutoEncoderUtil(df=frame)
    util.fit(COLUMNS, epochs=2)
    pd.testing.assert_frame_equal(util.df, clusters)


def test_single_column_name_and_1d_data():
    df = aeutil.make_1d_data(n=80)
    util = AutoEncoderUtil(df=df).fit("feature1", epochs=5, batch_size=16)
    y, loss, thr = util.predict("feature1")
    assert y.shape == (80,)
    assert util.input_dim == 1
    assert util.columns == ["feature1"]
    far = pd.DataFrame({"feature1": [0.0, 8.0]})
    _, far_loss, _ = util.predict(["feature1"], df=far)
    assert far_loss[1] > far_loss[0]


def test_same_seed_gives_bit_identical_scores(clusters):
    a = AutoEncoderUtil(df=clusters, seed=3).fit(COLUMNS, epochs=10, batch_size=16)
    b = AutoEncoderUtil(df=clusters, seed=3).fit(COLUMNS, epochs=10, batch_size=16)
    c = AutoEncoderUtil(df=clusters, seed=4).fit(COLUMNS, epochs=10, batch_size=16)
    _, la, ta = a.predict(COLUMNS)
    _, lb, tb = b.predict(COLUMNS)
    _, lc, _ = c.predict(COLUMNS)
    assert la.tobytes() == lb.tobytes()
    assert ta == tb
    assert a.history == b.history
    assert not np.array_equal(la, lc)


def test_default_is_five_of_the_articles_8_4_8(fitted):
    # two columns: each member is the article's 8-4-8; five members by default (chapter 3)
    chains = dense_chains(fitted.model)
    assert len(chains) == 5 == fitted.n_models
    for chain in chains:
        assert [layer.units for layer in chain] == [8, 4, 8, 2]
    assert fitted.detector.hidden_units_ == (8,) and fitted.detector.encoding_dim_ == 4
    assert fitted.hidden_units is None  # the argument stays as given (scikit-learn convention)


def test_n_models_1_is_the_articles_single_model(clusters):
    util = AutoEncoderUtil(df=clusters, n_models=1).fit(COLUMNS, epochs=2)
    dense = [layer for layer in util.model.layers if layer.__class__.__name__ == "Dense"]
    assert [(layer.name, layer.units) for layer in dense] == [
        ("encoder_0", 8), ("code", 4), ("decoder_0", 8), ("reconstruction", 2)
    ]


def test_default_width_follows_the_number_of_columns():
    wide = pd.DataFrame(
        np.random.default_rng(0).normal(size=(64, 128)), columns=[f"c{j}" for j in range(128)]
    )
    util = AutoEncoderUtil(df=wide, n_models=2).fit(list(wide.columns), epochs=1)
    for chain in dense_chains(util.model):
        assert [layer.units for layer in chain] == [64, 16, 64, 128]
    assert util.detector.hidden_units_ == (64,) and util.detector.encoding_dim_ == 16


def test_architecture_is_configurable(clusters):
    util = AutoEncoderUtil(
        df=clusters, hidden_units=(16, 8), encoding_dim=1, activation="tanh", n_models=1
    ).fit(COLUMNS, epochs=2)
    dense = [layer for layer in util.model.layers if layer.__class__.__name__ == "Dense"]
    assert [layer.units for layer in dense] == [16, 8, 1, 8, 16, 2]
    assert dense[0].activation.__name__ == "tanh"


def test_only_the_unset_half_of_the_architecture_is_chosen(clusters):
    util = AutoEncoderUtil(df=clusters, encoding_dim=1, n_models=1).fit(COLUMNS, epochs=1)
    assert [layer.units for layer in dense_chains(util.model)[0]] == [8, 1, 8, 2]
    util = AutoEncoderUtil(df=clusters, hidden_units=(3,), n_models=1).fit(COLUMNS, epochs=1)
    assert [layer.units for layer in dense_chains(util.model)[0]] == [3, 4, 3, 2]


def test_history_is_kept_per_epoch(clusters):
    util = AutoEncoderUtil(df=clusters).fit(COLUMNS, epochs=12, batch_size=16)
    assert len(util.history["loss"]) == 12
    assert util.history["loss"][-1] < util.history["loss"][0]


def test_validation_split_and_early_stopping(clusters):
    util = AutoEncoderUtil(df=clusters).fit(
        COLUMNS, epochs=400, batch_size=16, lr=5e-2, validation_split=0.2, patience=3
    )
    hist = util.history
    assert len(hist["val_loss"]) == len(hist["loss"])
    assert len(hist["loss"]) < 400  # stopped early
    assert util.detector.stopped_early_
    best = util.detector.best_epoch_
    assert hist["val_loss"][best] == min(hist["val_loss"])


def test_training_reduces_error_with_scaling(clusters):
    # the same data in very different units: scaling keeps both features equally weighted
    scaled = clusters.assign(feature2=clusters.feature2 * 1000.0)
    util = AutoEncoderUtil(df=scaled).fit(COLUMNS, epochs=40, batch_size=16)
    std_layer = util.model.get_layer("standardize")
    np.testing.assert_allclose(std_layer.scale, scaled.std(ddof=0).to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(std_layer.mean, scaled.mean().to_numpy(), rtol=1e-5, atol=1e-3)
    _, loss, _ = util.predict(COLUMNS)
    assert np.isfinite(loss).all()


def test_constant_column_gives_finite_scores():
    df = pd.DataFrame({"a": np.linspace(0, 1, 50), "b": np.full(50, 3.0)})
    util = AutoEncoderUtil(df=df).fit(["a", "b"], epochs=3)
    _, loss, thr = util.predict(["a", "b"])
    assert np.isfinite(loss).all() and np.isfinite(thr)
    # any change of the constant column is unusual
    changed = pd.DataFrame({"a": [0.5, 0.5], "b": [3.0, 4.0]})
    _, changed_loss, _ = util.predict(["a", "b"], df=changed)
    assert changed_loss[1] > changed_loss[0]


def test_reconstruction_error_matches_keras_forward_pass(fitted, clusters):
    X = clusters.to_numpy(np.float32)
    fast = fitted.reconstruction_error(X)
    keras_out = np.asarray(fitted.model(X))
    np.testing.assert_allclose(fast, keras_out, rtol=1e-5, atol=1e-7)


def test_input_dim_assignment_before_load_is_harmless(fitted, tmp_path):
    path = tmp_path / "ae_model.keras"
    fitted.save_model(path)
    loaded = AutoEncoderUtil()
    loaded.input_dim = 2  # the article's line: still runs, and is not needed
    loaded.load_model(path)
    assert loaded.input_dim == 2


def test_load_model_without_path_uses_constructor_path(fitted, tmp_path):
    path = tmp_path / "m.keras"
    fitted.save_model(path)
    util = AutoEncoderUtil(model_path=path)
    util.load_model()
    assert util.threshold == fitted.threshold


def test_read_csv_sets_df(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"温度": [1.0, 2.0], "圧力": [3.0, 4.0]}).to_csv(
        path, index=False, encoding="cp932"
    )
    util = AutoEncoderUtil()
    frame = util.read_csv(path)
    assert list(frame.columns) == ["温度", "圧力"]
    assert util.df is frame


def test_fit_and_predict_are_quiet(clusters, capfd):
    util = AutoEncoderUtil(df=clusters).fit(COLUMNS, epochs=2)
    util.predict(COLUMNS)
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


def test_window_models_score_one_value_per_window():
    """The error layer averages over time and channels; non-Dense models use the Keras path."""
    from aeutil._keras import keras
    from aeutil.kerastrain import scorer_for, train_autoencoder
    from aeutil.model import ReconstructionError, Standardize

    rng = np.random.default_rng(0)
    windows = rng.normal(size=(64, 10, 3)).astype(np.float32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 3))
    z = Standardize(np.zeros(3), np.ones(3), name="standardize")(inputs)
    h = keras.layers.LSTM(4)(z)
    h = keras.layers.RepeatVector(10)(h)
    h = keras.layers.LSTM(4, return_sequences=True)(h)
    z_hat = keras.layers.TimeDistributed(keras.layers.Dense(3))(h)
    err = ReconstructionError(["a", "b", "c"], name="anomaly_score")([z, z_hat])
    model = keras.Model(inputs, err)
    result = train_autoencoder(model, windows, epochs=2, batch_size=16)
    assert len(result.history["loss"]) == 2
    scores = scorer_for(model)(windows)
    assert scores.shape == (64,)
    np.testing.assert_allclose(scores, np.asarray(model(windows)), rtol=1e-5, atol=1e-7)


def test_same_seed_gives_bit_identical_scores_and_other_seeds_do_not(clusters):
    """Dense models train in NumPy: the same seed repeats bit for bit, a new seed differs."""

    def fit(seed: int, lr: float = 1e-3) -> np.ndarray:
        util = AutoEncoderUtil(df=clusters, seed=seed).fit(COLUMNS, epochs=8, batch_size=16, lr=lr)
        return util.predict(COLUMNS)[1]

    fresh = fit(5)
    fit(5, lr=5e-2)  # a fit in between (other learning rate) leaves no state behind
    assert fit(5).tobytes() == fresh.tobytes()
    assert fit(6).tobytes() != fresh.tobytes()


def test_reused_training_graph_gives_the_same_result_as_a_fresh_one():
    """Non-Dense models (LSTM) share a compiled TensorFlow loop per shape; state is reset."""
    from aeutil import kerastrain as model_module

    windows = np.random.default_rng(0).normal(size=(48, 6, 2)).astype(np.float32)

    def fit(lr: float) -> np.ndarray:
        from aeutil._keras import keras
        from aeutil.kerastrain import scorer_for, train_autoencoder
        from aeutil.model import ReconstructionError, Standardize

        keras.utils.set_random_seed(3)
        inputs = keras.Input((6, 2))
        z = Standardize(np.zeros(2), np.ones(2), name="standardize")(inputs)
        # fixed names: automatic ones (lstm_7, ...) would make every build a new shape
        h = keras.layers.LSTM(3, name="enc")(z)
        h = keras.layers.RepeatVector(6, name="repeat")(h)
        h = keras.layers.LSTM(3, return_sequences=True, name="dec")(h)
        z_hat = keras.layers.TimeDistributed(keras.layers.Dense(2, name="d"), name="out")(h)
        model = keras.Model(inputs, ReconstructionError(["a", "b"], name="anomaly_score")([z, z_hat]))
        train_autoencoder(model, windows, epochs=2, batch_size=16, lr=lr, seed=3)
        return scorer_for(model)(windows)

    model_module._TRAINERS.clear()
    fresh = fit(1e-3)
    assert len(model_module._TRAINERS) == 1
    fit(5e-2)  # same shape, other learning rate: the same compiled loop is reused
    assert len(model_module._TRAINERS) == 1
    assert fit(1e-3).tobytes() == fresh.tobytes()
    model_module._TRAINERS.clear()


def test_scale_of_the_data_is_not_baked_into_the_shared_graph(clusters):
    """Two data sets of the same shape but different scales share a graph, not a scaling."""
    small = AutoEncoderUtil(df=clusters, seed=1).fit(COLUMNS, epochs=5, batch_size=16)
    big_frame = clusters * 1000.0 + 50.0
    big = AutoEncoderUtil(df=big_frame, seed=1).fit(COLUMNS, epochs=5, batch_size=16)
    # standardisation makes the two problems identical: the same seed gives the same errors
    np.testing.assert_allclose(
        big.predict(COLUMNS)[1], small.predict(COLUMNS)[1], rtol=1e-3, atol=1e-6
    )


def test_scores_do_not_depend_on_how_the_rows_are_split(fitted):
    """Scoring rows one at a time, or in blocks of any size, gives bit-identical scores."""
    from aeutil.engine import SCORE_CHUNK_ROWS

    X = aeutil.make_uniform_points(n=SCORE_CHUNK_ROWS + 1, seed=3).to_numpy(np.float32)
    whole = fitted.reconstruction_error(X)
    assert fitted.reconstruction_error(X[-1:]).tobytes() == whole[-1:].tobytes()
    parts = np.concatenate([fitted.reconstruction_error(X[i : i + 777]) for i in range(0, len(X), 777)])
    assert parts.tobytes() == whole.tobytes()


def test_a_row_far_outside_is_rescored_in_its_own_block(fitted):
    """A row that overflows float32 is rescored in float64 inside its block, and only it."""
    from aeutil.engine import SCORE_CHUNK_ROWS

    X = aeutil.make_uniform_points(n=5 * SCORE_CHUNK_ROWS + 17, seed=4).to_numpy(np.float32)
    X = X.copy()  # writable
    X[3 * SCORE_CHUNK_ROWS + 5] = 1e30
    scores = fitted.reconstruction_error(X)
    assert np.isfinite(scores).all() and scores.argmax() == 3 * SCORE_CHUNK_ROWS + 5
    others = np.delete(np.arange(len(X)), 3 * SCORE_CHUNK_ROWS + 5)
    clean = fitted.reconstruction_error(X[others])
    assert clean.tobytes() == scores[others].tobytes()


def test_scoring_works_in_a_forked_child(fitted):
    """Scoring in a forked child (multiprocessing's default on Linux) gives the parent's bits."""
    import multiprocessing

    from aeutil.engine import SCORE_CHUNK_ROWS

    X = aeutil.make_uniform_points(n=3 * SCORE_CHUNK_ROWS, seed=5).to_numpy(np.float32)
    expected = fitted.reconstruction_error(X)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=lambda: queue.put(fitted.reconstruction_error(X).tobytes()))
    child.start()
    try:
        # read before join: a child that put more than a pipe's worth waits for the reader
        assert queue.get(timeout=60) == expected.tobytes(), "the child scored differently"
    finally:
        child.join(timeout=10)
        if child.exitcode is None:
            child.kill()
    assert child.exitcode == 0
