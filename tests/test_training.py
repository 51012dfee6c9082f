"""The NumPy training loop computes what Keras computes with its own model and optimizer."""

from __future__ import annotations

import aeutil
from aeutil._keras import keras, tf
from aeutil.kerastrain import _make_optimizer, train_autoencoder
from aeutil.model import build_autoencoder

import numpy as np
import pytest


def _data(n: int = 70, d: int = 3) -> np.ndarray:
    rng = np.random.default_rng(11)
    return (rng.normal(size=(n, d)) * [1.0, 5.0, 0.1][:d] + [0.0, 100.0, -3.0][:d]).astype(np.float32)


def _build(X: np.ndarray, activation: str, hidden=(6,), seed: int = 4, n_models: int = 1) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_autoencoder(
        X.mean(axis=0),
        X.std(axis=0),
        [f"c{i}" for i in range(X.shape[1])],
        hidden_units=hidden,
        encoding_dim=2,
        activation=activation,
        n_models=n_models,
    )


def _keras_reference(model, X, *, epochs, batch_size, lr, optimizer, seed):
    """The reference: Keras' model and Keras' optimizer, one TensorFlow step per mini-batch."""
    opt = _make_optimizer(optimizer, lr)
    variables = model.trainable_variables
    rng = np.random.default_rng(seed)
    history = []
    n = len(X)

    @tf.function  # a graph per batch shape, so that 100 epochs take seconds, not a minute
    def step(xb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(xb, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    for _ in range(epochs):
        perm = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            xb = X[perm[start : start + batch_size]]
            total += float(step(tf.constant(xb))) * len(xb)
        history.append(total / n)
    return history


@pytest.mark.parametrize(
    ("activation", "optimizer", "n_models"),
    [
        ("relu", "adam", 1),
        ("tanh", "adam", 1),
        ("sigmoid", "rmsprop", 1),
        ("elu", "sgd", 1),
        ("softplus", "adamw", 1),
        ("linear", "adam", 1),
        ("relu", "adam", 3),
        ("tanh", "sgd", 2),
    ],
)
def test_numpy_loop_matches_keras_model_and_optimizer(activation, optimizer, n_models):
    X = _data()
    kwargs = dict(epochs=4, batch_size=16, lr=1e-2, optimizer=optimizer, seed=2)
    fast = _build(X, activation, n_models=n_models)
    slow = _build(X, activation, n_models=n_models)
    for a, b in zip(fast.get_weights(), slow.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # same start
    result = train_autoencoder(fast, X, **kwargs)
    expected = _keras_reference(slow, X, **kwargs)
    # 70 rows / batch 16: four full batches and a remainder of 6, per epoch
    np.testing.assert_allclose(result.history["loss"], expected, rtol=2e-5)
    for a, b in zip(fast.get_weights(), slow.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)
    scores_fast = np.asarray(fast(X))
    np.testing.assert_allclose(scores_fast, np.asarray(slow(X)), rtol=1e-4, atol=1e-7)


def test_numpy_loop_matches_keras_over_the_articles_whole_run():
    """The article's demo (8-4-8, 100 epochs, batch 16, Adam 1e-3): same losses to rounding."""
    X = aeutil.make_three_clusters(seed=0)[["feature1", "feature2"]].to_numpy(np.float32)
    fast, slow = _build(X, "relu", hidden=(8,), seed=1), _build(X, "relu", hidden=(8,), seed=1)
    kwargs = dict(epochs=100, batch_size=16, lr=1e-3, optimizer="adam", seed=1)
    result = train_autoencoder(fast, X, **kwargs)
    expected = _keras_reference(slow, X, **kwargs)
    np.testing.assert_allclose(result.history["loss"], expected, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(fast(X)), np.asarray(slow(X)), rtol=1e-3, atol=1e-6)


def test_validation_loss_and_early_stopping_use_the_restored_best_weights():
    X = _data(n=80)
    model = _build(X, "relu")
    result = train_autoencoder(
        model, X[:60], epochs=200, batch_size=8, lr=5e-2, validation_data=X[60:], patience=3
    )
    assert result.stopped_early
    best = result.best_epoch
    assert len(result.history["val_loss"]) == best + 4
    assert result.history["val_loss"][best] == min(result.history["val_loss"])
    # the model holds the weights of the best epoch: its validation loss is that epoch's
    np.testing.assert_allclose(
        float(np.mean(np.asarray(model(X[60:])))), result.history["val_loss"][best], rtol=1e-5
    )


def test_training_does_not_touch_the_callers_array():
    X = _data()
    before = X.copy()
    train_autoencoder(_build(X, "relu"), X, epochs=2, batch_size=16)
    np.testing.assert_array_equal(X, before)
