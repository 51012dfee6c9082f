"""AutoEncoderDetector follows scikit-learn's conventions (issue 12, step 2).

Scores are float64, the number of features is checked when scoring, sparse input is refused
with a Japanese message that names the problem, and ``fit`` leaves the caller's global random
state (NumPy's legacy generator, ``random``, TensorFlow) as it found it.
"""

from __future__ import annotations

import random
import re
import sys

from aeutil import AutoEncoderDetector, InvalidDataError, InvalidTypeError, NotFittedError

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

JA_TEXT = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")

SCORERS = ("reconstruction_error", "score_samples", "decision_function")


def _data(n: int = 60, d: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.fixture(scope="module")
def fitted() -> AutoEncoderDetector:
    return AutoEncoderDetector(epochs=2, n_models=2, seed=1).fit(_data())


@pytest.mark.parametrize("method", SCORERS)
def test_scores_are_float64_with_the_float32_values(fitted, method):
    X = _data(seed=2)
    out = getattr(fitted, method)(X)
    assert out.dtype == np.float64 and out.shape == (len(X),)
    # the networks compute in float32; the cast up is exact
    errors = fitted.reconstruction_error(X)
    np.testing.assert_array_equal(errors.astype(np.float32).astype(np.float64), errors)


def test_decision_function_agrees_with_predict(fitted):
    X = _data(n=500, seed=3)
    labels = fitted.predict(X)
    assert set(np.unique(labels)) <= {-1, 1}
    np.testing.assert_array_equal(np.where(fitted.decision_function(X) >= 0, 1, -1), labels)
    np.testing.assert_allclose(fitted.score_samples(X) - fitted.offset_, fitted.decision_function(X))


@pytest.mark.parametrize("method", ("predict", *SCORERS, "score"))
@pytest.mark.parametrize("n_columns", (1, 4))
def test_number_of_features_is_checked(fitted, method, n_columns):
    with pytest.raises(InvalidDataError, match="列の数が合いません") as info:
        getattr(fitted, method)(_data(10, n_columns))
    assert isinstance(info.value, ValueError)
    assert f"{n_columns} 列です" in str(info.value)


@pytest.mark.parametrize("kind", (sparse.csr_matrix, sparse.csr_array, sparse.coo_matrix))
def test_sparse_input_is_refused_in_fit(kind):
    with pytest.raises(InvalidDataError, match="学習データが疎行列 \\(scipy.sparse の") as info:
        AutoEncoderDetector(epochs=1, n_models=1).fit(kind(_data()))
    assert isinstance(info.value, ValueError)
    assert "toarray()" in str(info.value)


@pytest.mark.parametrize("method", ("predict", *SCORERS, "score"))
def test_sparse_input_is_refused_when_scoring(fitted, method):
    with pytest.raises(InvalidDataError, match="疎行列"):
        getattr(fitted, method)(sparse.csr_matrix(_data(seed=4)))


def test_not_fitted_error_is_scikit_learns():
    with pytest.raises(SklearnNotFittedError):
        AutoEncoderDetector().predict(_data())
    assert issubclass(NotFittedError, SklearnNotFittedError)


def _tf_state():
    tf = sys.modules["tensorflow"]
    # TF has no public getters for the global seed (tf.random.set_seed, which
    # keras.utils.set_random_seed calls) and the op-determinism switch; its own modules have them
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config as tf_config

    try:
        generator = tf.random.get_global_generator().state.numpy().tobytes()
    except RuntimeError:
        # once op determinism is on (an earlier Keras test may have turned it on), TF refuses
        # to create the global generator; there is none whose state could change
        generator = None
    return (context.global_seed(), generator, tf_config.is_op_determinism_enabled())


@pytest.mark.parametrize("kwargs", ({}, {"validation_split": 0.2, "patience": 1}))
def test_fit_leaves_the_global_random_state_alone(kwargs):
    np.random.seed(12345)
    random.seed(678)
    numpy_before = np.random.get_state()
    random_before = random.getstate()
    tf_loaded = "tensorflow" in sys.modules
    tf_before = _tf_state() if tf_loaded else None

    AutoEncoderDetector(epochs=2, n_models=2, seed=3, **kwargs).fit(_data())

    numpy_after = np.random.get_state()
    assert numpy_before[0] == numpy_after[0]
    np.testing.assert_array_equal(numpy_before[1], numpy_after[1])
    assert numpy_before[2:] == numpy_after[2:]
    assert random.getstate() == random_before
    if tf_loaded:
        assert _tf_state() == tf_before
    else:
        # fit trains in NumPy: TensorFlow is not even imported, so its state cannot change
        assert "tensorflow" not in sys.modules


# scikit-learn's own estimator checks. The four expected failures fail only because a check
# matches scikit-learn's English error message, while aeutil's messages are Japanese: the
# exception type and the behaviour (refusing the input, checking the feature count) are right.
EXPECTED_FAILURES = {
    # wants "X has 3 features, but ... is expecting 4 features as input" (aeutil: 列の数が合いません)
    "check_n_features_in_after_fitting": "英語のメッセージ (列の数の検査は行っている)",
    # wants ValueError "Complex data not supported" (aeutil: 複素数の列なので使えません)
    "check_complex_data": "英語のメッセージ (複素数は ValueError で断っている)",
    # wants "0 feature(s) (shape=(3, 0)) while a minimum of 1 is required" (aeutil: 空です)
    "check_estimators_empty_data_messages": "英語のメッセージ (空のデータは ValueError で断っている)",
    # wants "Reshape your data" (aeutil: 1 次元の配列です ... X.reshape(-1, 1))
    "check_fit2d_predict1d": "英語のメッセージ (1 次元の配列は ValueError で断っている)",
}


@parametrize_with_checks(
    [AutoEncoderDetector(epochs=2, n_models=1, batch_size=64)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _fitted_small() -> AutoEncoderDetector:
    return AutoEncoderDetector(epochs=2, n_models=1, batch_size=64).fit(_data(d=4))


# what each expected failure checks, done directly: the exception type scikit-learn asks for
MESSAGE_ONLY = {
    "check_n_features_in_after_fitting": lambda: _fitted_small().predict(_data(d=3)),
    "check_complex_data": lambda: AutoEncoderDetector(epochs=1).fit(_data() + 1j),
    "check_estimators_empty_data_messages": lambda: AutoEncoderDetector(epochs=1).fit(
        np.empty((3, 0))
    ),
    "check_fit2d_predict1d": lambda: _fitted_small().predict(_data(d=4)[0]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_expected_failures_are_message_only(name):
    """Each expected failure raises the ValueError scikit-learn asks for, in Japanese."""
    with pytest.raises(ValueError) as info:
        MESSAGE_ONLY[name]()
    assert isinstance(info.value, InvalidDataError)
    assert JA_TEXT.search(str(info.value))
    with pytest.raises(ValueError, match="空です"):
        AutoEncoderDetector(epochs=1).fit(np.empty((0, 3)))


def test_a_value_of_the_wrong_type_is_a_type_error():
    X = _data().astype(object)
    X[3, 1] = {"foo": "bar"}
    with pytest.raises(InvalidTypeError, match="1 列目 に数値でない値があります: 3 行目") as info:
        AutoEncoderDetector(epochs=1, n_models=1).fit(X)
    assert isinstance(info.value, TypeError) and isinstance(info.value, InvalidDataError)


def test_a_one_dimensional_array_is_refused_with_the_fix():
    with pytest.raises(InvalidDataError, match=r"1 次元の配列です \(長さ 60\).*reshape\(-1, 1\)"):
        AutoEncoderDetector(epochs=1, n_models=1).fit(_data()[:, 0])
