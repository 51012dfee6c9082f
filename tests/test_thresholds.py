"""Threshold strategies: known distributions, the `scores > threshold` convention, bad input."""

from __future__ import annotations

from aeutil.thresholds import (
    as_anomaly_labels,
    threshold_best_f1,
    threshold_fixed_fpr,
    threshold_mean_std,
    threshold_percentile,
)
from aeutil.validation import InvalidDataError

import numpy as np
import pytest
from sklearn.metrics import f1_score

# -- percentile ---------------------------------------------------------------


def test_percentile_of_a_uniform_grid():
    scores = np.linspace(0.0, 1.0, 100_001)
    assert threshold_percentile(scores) == pytest.approx(0.95, abs=1e-9)
    assert threshold_percentile(scores, 50) == pytest.approx(0.5, abs=1e-9)
    assert threshold_percentile(scores, 100) == 1.0
    assert np.mean(scores > threshold_percentile(scores, 99)) == pytest.approx(0.01, abs=1e-4)


def test_percentile_matches_the_detector(fitted):
    det = fitted.detector
    assert threshold_percentile(det.train_errors_, det.threshold_percentile) == pytest.approx(
        det.threshold_, rel=1e-6
    )


# -- mean + k sigma -----------------------------------------------------------


def test_mean_std_on_a_standard_normal():
    scores = np.random.default_rng(0).standard_normal(1_000_000)
    assert threshold_mean_std(scores) == pytest.approx(3.0, abs=0.01)
    assert threshold_mean_std(scores, k=0) == pytest.approx(scores.mean())
    # on Gaussian scores about 0.135 % exceed mean + 3 sigma
    assert np.mean(scores > threshold_mean_std(scores)) == pytest.approx(0.00135, abs=0.0002)


def test_mean_std_on_skewed_scores_flags_far_more_than_the_gaussian_rate():
    # squared Gaussian errors (chi-square, 1 dof) look like reconstruction errors
    scores = np.random.default_rng(1).standard_normal(200_000) ** 2
    assert np.mean(scores > threshold_mean_std(scores)) > 5 * 0.00135


def test_mean_std_uses_the_population_std():
    assert threshold_mean_std([1.0, 3.0], k=1) == pytest.approx(3.0)


# -- fixed false-positive rate --------------------------------------------------


@pytest.mark.parametrize(
    ("fpr", "expected"),
    [(0.05, 95.0), (0.01, 99.0), (0.0, 100.0), (0.29, 71.0), (0.999, 1.0), (0.055, 95.0)],
)
def test_fixed_fpr_on_a_known_list(fpr, expected):
    scores = np.arange(100, 0, -1, dtype=float)  # 100, 99, ..., 1 (unsorted on purpose)
    threshold = threshold_fixed_fpr(scores, fpr)
    assert threshold == expected
    assert np.mean(scores > threshold) <= fpr + 1e-12
    # any smaller threshold would exceed the budget
    assert np.mean(scores > np.nextafter(threshold, -np.inf)) > fpr


def test_fixed_fpr_with_ties():
    scores = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    assert threshold_fixed_fpr(scores, 0.2) == 2.0  # only the 3 is flagged
    assert threshold_fixed_fpr(scores, 0.4) == 2.0  # flagging 2 points is impossible: still 1
    assert threshold_fixed_fpr(scores, 0.8) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_fixed_fpr_is_the_smallest_threshold_within_budget(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.exponential(size=int(rng.integers(20, 500))), 2).astype(np.float32)
    fpr = float(rng.uniform(0, 0.3))
    threshold = threshold_fixed_fpr(scores, fpr)
    assert np.mean(scores > threshold) <= fpr
    assert np.mean(scores > np.nextafter(threshold, -np.inf)) > fpr
    assert threshold in scores  # an observed score, no interpolation


def test_fixed_fpr_does_not_touch_the_input():
    scores = np.array([3.0, 1.0, 2.0])
    threshold_fixed_fpr(scores, 0.4)
    np.testing.assert_array_equal(scores, [3.0, 1.0, 2.0])


# -- best F1 ----------------------------------------------------------------------

HAND_SCORES = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
HAND_LABELS = np.array([0, 0, 1, 0, 1, 1])  # 1 = anomaly


def test_best_f1_on_a_hand_made_example():
    # flagging the top 4 (0.3 .. 0.6) gives precision 3/4, recall 1, F1 6/7: the best
    threshold = threshold_best_f1(HAND_SCORES, HAND_LABELS)
    assert threshold == 0.2
    pred = HAND_SCORES > threshold
    np.testing.assert_array_equal(pred, [False, False, True, True, True, True])
    assert f1_score(HAND_LABELS, pred) == pytest.approx(6 / 7)


@pytest.mark.parametrize(
    "labels",
    [HAND_LABELS, HAND_LABELS.astype(bool), np.where(HAND_LABELS == 1, -1, 1), HAND_LABELS.tolist()],
    ids=["0/1", "bool", "-1/1", "list"],
)
def test_best_f1_accepts_each_label_convention(labels):
    assert threshold_best_f1(HAND_SCORES, labels) == 0.2


def test_best_f1_when_flagging_everything_is_best():
    scores = np.array([1.0, 2.0, 3.0])
    labels = np.array([True, True, False])  # the highest score is normal
    threshold = threshold_best_f1(scores, labels)
    assert threshold < 1.0 and (scores > threshold).all()


@pytest.mark.parametrize("seed", range(8))
def test_best_f1_reproduces_the_best_rule_with_strict_inequality(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 200))
    labels = rng.random(n) < 0.2
    labels[:2] = [True, False]
    scores = np.round(rng.normal(size=n) + 1.5 * labels, 1).astype(np.float32)  # ties on purpose
    threshold = threshold_best_f1(scores, labels)
    got = f1_score(labels, scores > threshold, zero_division=0)
    candidates = np.r_[np.unique(scores), scores.min() - 1.0]
    best = max(f1_score(labels, scores > c, zero_division=0) for c in candidates)
    assert got == pytest.approx(best)


# -- labels ---------------------------------------------------------------------------


def test_label_conventions():
    np.testing.assert_array_equal(as_anomaly_labels([0, 1, 1]), [False, True, True])
    np.testing.assert_array_equal(as_anomaly_labels([-1, 1, 1]), [True, False, False])
    np.testing.assert_array_equal(as_anomaly_labels([1.0, -1.0]), [False, True])
    np.testing.assert_array_equal(as_anomaly_labels(np.array([[True], [False]])), [True, False])


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0, 1, 2], "読み取れません"),
        ([-1, 0, 1], "読み取れません"),
        (["a", "b"], "True/False"),
        ([1, 1, 1], "両方"),
        ([0, 0], "両方"),
        ([True, True], "両方"),
        ([], "空"),
        (np.zeros((2, 2)), "1 次元"),
    ],
)
def test_bad_labels(labels, match):
    with pytest.raises(InvalidDataError, match=match):
        as_anomaly_labels(labels)


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "func", [threshold_percentile, threshold_mean_std, threshold_fixed_fpr], ids=lambda f: f.__name__
)
@pytest.mark.parametrize(
    ("scores", "match"),
    [
        ([], "空"),
        ([1.0, np.nan], "欠損値 \\(NaN\\).*1 番目"),
        ([np.inf, 1.0], "無限大 \\(inf\\).*0 番目"),
        (["a", "b"], "数値"),
        ([True, False], "数値"),
        (np.ones((3, 2)), "1 次元"),
    ],
)
def test_bad_scores(func, scores, match):
    with pytest.raises(InvalidDataError, match=match):
        func(scores)


def test_column_vector_scores_are_accepted():
    assert threshold_percentile(np.arange(11.0).reshape(-1, 1), 50) == 5.0


@pytest.mark.parametrize("percentile", [0, -1, 100.5, np.nan])
def test_bad_percentile(percentile):
    with pytest.raises(InvalidDataError, match="percentile は 0 より大きく 100 以下"):
        threshold_percentile([1.0, 2.0], percentile)


@pytest.mark.parametrize("fpr", [-0.1, 1.0, 1.5, np.nan])
def test_bad_fpr(fpr):
    with pytest.raises(InvalidDataError, match="fpr は 0 以上 1 未満"):
        threshold_fixed_fpr([1.0, 2.0], fpr)


@pytest.mark.parametrize("k", [-1.0, np.nan, np.inf])
def test_bad_k(k):
    with pytest.raises(InvalidDataError, match="k は 0 以上"):
        threshold_mean_std([1.0, 2.0], k)


def test_best_f1_bad_input():
    with pytest.raises(InvalidDataError, match="長さが合いません"):
        threshold_best_f1([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(InvalidDataError, match="両方"):
        threshold_best_f1([0.1, 0.2], [1, 1])
    with pytest.raises(InvalidDataError, match="欠損値"):
        threshold_best_f1([0.1, np.nan], [0, 1])
