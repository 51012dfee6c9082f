"""compare_detectors: every method on the same split, one row of metrics and times each."""

from __future__ import annotations

from aeutil import HotellingT2, InvalidDataError
from aeutil.compare import COLUMNS, Comparison, compare_detectors

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score


class DistanceDetector:
    """A tiny detector: the squared distance from the training mean (larger = more anomalous)."""

    def __init__(self, scale=1.0):
        self.scale = scale

    def fit(self, X, y=None):
        self.mean_ = np.asarray(X, dtype=float).mean(axis=0)
        return self

    def score_samples(self, X):
        return -self.scale * ((np.asarray(X, dtype=float) - self.mean_) ** 2).sum(axis=1)


class FirstColumn:
    def fit(self, X, y=None):
        return self

    def score_samples(self, X):
        return -np.asarray(X, dtype=float)[:, 0]


def _split(seed=0):
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(200, 3))
    test = np.vstack([rng.normal(size=(90, 3)), rng.normal(4.0, 1.0, size=(10, 3))])
    labels = np.r_[np.ones(90, int), -np.ones(10, int)]  # aeutil's convention: -1 = anomaly
    return train, test, labels


def test_one_row_per_method_in_order_with_sklearn_metrics():
    train, test, labels = _split()
    result = compare_detectors(
        {"距離": DistanceDetector(), "1 列目": FirstColumn()}, train, test, labels
    )
    assert isinstance(result, Comparison)
    assert list(result.table.index) == ["距離", "1 列目"]
    assert result.table.index.name == "手法"
    assert tuple(result.table.columns) == COLUMNS
    anomaly = labels == -1
    expected = -result.detectors["距離"].score_samples(test)
    np.testing.assert_array_equal(result.scores["距離"], expected)
    row = result.table.loc["距離"]
    assert row["ROC-AUC"] == roc_auc_score(anomaly, expected)
    assert row["PR-AUC"] == average_precision_score(anomaly, expected)
    assert (result.table[["学習時間 [秒]", "計算時間 [秒]"]] >= 0).all().all()
    assert result.table.loc["距離", "ROC-AUC"] > 0.95
    # no threshold_: no false-positive or detection rate
    assert result.table[["誤検知率", "検出率"]].isna().all().all()


def test_rates_at_the_detectors_own_threshold():
    train, test, labels = _split()
    detector = DistanceDetector()
    detector.threshold_ = 9.0  # set by fit in a real detector; fit here keeps it
    result = compare_detectors({"d": detector}, train, test, labels)
    flags = result.scores["d"] > 9.0
    assert result.table.loc["d", "誤検知率"] == flags[labels == 1].mean()
    assert result.table.loc["d", "検出率"] == flags[labels == -1].mean()


@pytest.mark.parametrize("convert", [lambda y: y == -1, lambda y: (y == -1).astype(int)])
def test_the_three_label_conventions_give_the_same_table(convert):
    train, test, labels = _split()
    base = compare_detectors({"d": DistanceDetector()}, train, test, labels).table
    other = compare_detectors({"d": DistanceDetector()}, train, test, convert(labels)).table
    pd.testing.assert_frame_equal(base[["ROC-AUC", "PR-AUC"]], other[["ROC-AUC", "PR-AUC"]])


def test_to_points_maps_scores_before_the_metrics():
    train, test, labels = _split()
    # e.g. two labels per score (windows -> points): each score is repeated
    doubled = np.repeat(labels, 2)
    result = compare_detectors(
        {"d": DistanceDetector()}, train, test, doubled, to_points=lambda s: np.repeat(s, 2)
    )
    assert result.scores["d"].shape == (200,)
    direct = compare_detectors({"d": DistanceDetector()}, train, test, labels)
    assert result.table.loc["d", "ROC-AUC"] == pytest.approx(direct.table.loc["d", "ROC-AUC"])


def test_works_with_aeutil_detectors_and_dataframes():

    train, test, labels = _split()
    cols = ["a", "b", "c"]
    result = compare_detectors(
        {"T²": HotellingT2()}, pd.DataFrame(train, columns=cols),
        pd.DataFrame(test, columns=cols), labels,
    )
    np.testing.assert_allclose(result.scores["T²"], result.detectors["T²"].t2(test))
    flags = result.detectors["T²"].predict(test) == -1
    assert result.table.loc["T²", "誤検知率"] == flags[labels == 1].mean()


@pytest.mark.parametrize(
    ("detectors", "message"),
    [
        ({}, "1 組以上"),
        ([DistanceDetector()], "1 組以上"),
        ({"x": object()}, "fit と score_samples"),
    ],
)
def test_bad_detectors_are_refused_in_japanese(detectors, message):
    train, test, labels = _split()
    with pytest.raises(InvalidDataError, match=message):
        compare_detectors(detectors, train, test, labels)


def test_length_mismatch_and_bad_scores_are_refused():
    train, test, labels = _split()
    with pytest.raises(InvalidDataError, match="数が合いません"):
        compare_detectors({"d": DistanceDetector()}, train, test, labels[:-1])
    with pytest.raises(InvalidDataError, match="to_points"):
        compare_detectors({"d": DistanceDetector()}, train, test, labels,
                          to_points=lambda s: s[:-1])
    with pytest.raises(InvalidDataError):
        compare_detectors({"d": DistanceDetector(scale=np.nan)}, train, test, labels)
    with pytest.raises(InvalidDataError):
        compare_detectors({"d": DistanceDetector()}, train, test, np.ones(100))
