"""Point-level metrics with and without point adjustment (aeutil.events).

Point adjustment (PA): if any point inside a true anomaly interval is flagged, every point of
that interval counts as detected. Kim et al. (AAAI 2022) showed that it lets a random score
look excellent; these tests pin the definition and that effect.
"""

from __future__ import annotations

import aeutil  # noqa: F401  (quiet TensorFlow before anything imports it)
from aeutil import AnomalyInterval, InvalidDataError, point_adjust, point_metrics

import numpy as np
import pandas as pd
import pytest

N = 20
INTERVALS = [(2, 6), (10, 16)]
# flags: one hit inside (2, 6), none inside (10, 16), one false alarm at 18
FLAGS = np.zeros(N, dtype=bool)
FLAGS[[4, 18]] = True


def _labels(n, intervals):
    labels = np.zeros(n, dtype=bool)
    for start, end in intervals:
        labels[start:end] = True
    return labels


def test_point_adjust_by_hand():
    adjusted = point_adjust(FLAGS, INTERVALS)
    expected = np.zeros(N, dtype=bool)
    expected[2:6] = True  # the whole first interval
    expected[18] = True  # flags outside the intervals stay as they are
    np.testing.assert_array_equal(adjusted, expected)
    assert adjusted.dtype == bool


def test_point_metrics_by_hand():
    plain = point_metrics(FLAGS, INTERVALS)
    # 10 anomalous points; flagged: 4 (inside) and 18 (outside)
    assert (plain["tp"], plain["fp"], plain["fn"]) == (1, 1, 9)
    assert plain["precision"] == pytest.approx(0.5)
    assert plain["recall"] == pytest.approx(0.1)
    assert plain["f1"] == pytest.approx(2 * 0.5 * 0.1 / 0.6)
    adjusted = point_metrics(FLAGS, INTERVALS, adjust=True)
    assert (adjusted["tp"], adjusted["fp"], adjusted["fn"]) == (4, 1, 6)
    assert adjusted["precision"] == pytest.approx(0.8)
    assert adjusted["recall"] == pytest.approx(0.4)
    assert adjusted["f1"] == pytest.approx(2 * 0.8 * 0.4 / 1.2)


def test_the_docstring_example():
    assert point_adjust([0, 0, 0, 1, 0, 0, 0, 0], [(2, 6)]).astype(int).tolist() == [
        0, 0, 1, 1, 1, 1, 0, 0,
    ]


def test_truth_as_intervals_tuples_frame_or_labels_agree():
    labels = _labels(N, INTERVALS)
    forms = [
        INTERVALS,
        [AnomalyInterval(2, 6, "drift", "temperature_C"), AnomalyInterval(10, 16, "stuck", "x")],
        pd.DataFrame({"start": [2, 10], "end": [6, 16]}),
        labels,
        labels.astype(int),
        labels.tolist(),
        pd.Series(labels),
    ]
    expected = point_adjust(FLAGS, INTERVALS)
    for truth in forms:
        np.testing.assert_array_equal(point_adjust(FLAGS, truth), expected)
        assert point_metrics(FLAGS, truth) == point_metrics(FLAGS, INTERVALS)
        assert point_metrics(FLAGS, truth, adjust=True) == point_metrics(
            FLAGS, INTERVALS, adjust=True
        )


def test_adjacent_intervals_are_adjusted_separately_but_labels_merge_them():
    flags = np.zeros(10, dtype=bool)
    flags[1] = True
    # two intervals side by side: only the one with a hit is filled
    assert point_adjust(flags, [(0, 3), (3, 6)]).tolist() == [True] * 3 + [False] * 7
    # as labels they are one run of True, so the whole run is filled
    assert point_adjust(flags, _labels(10, [(0, 3), (3, 6)])).tolist() == (
        [True] * 6 + [False] * 4
    )


def test_inputs_are_not_mutated():
    flags = FLAGS.copy()
    labels = _labels(N, INTERVALS)
    labels_before = labels.copy()
    adjusted = point_adjust(flags, labels)
    point_metrics(flags, labels, adjust=True)
    np.testing.assert_array_equal(flags, FLAGS)
    np.testing.assert_array_equal(labels, labels_before)
    assert not np.shares_memory(adjusted, flags)
    # already all True inside: still a new array
    full = labels.copy()
    assert not np.shares_memory(point_adjust(full, labels), full)


@pytest.mark.parametrize("seed", range(20))
def test_adjustment_never_lowers_recall_or_f1_and_only_adds_flags_inside(seed):
    rng = np.random.default_rng(seed)
    n = 300
    labels = rng.uniform(size=n) < 0.02
    labels = np.convolve(labels, np.ones(15), mode="same") > 0  # runs of about 15 points
    flags = rng.uniform(size=n) < rng.uniform(0.0, 0.3)
    plain = point_metrics(flags, labels)
    adjusted = point_metrics(flags, labels, adjust=True)
    if labels.any():
        assert adjusted["recall"] >= plain["recall"]
        assert adjusted["f1"] >= plain["f1"]
    assert adjusted["precision"] >= plain["precision"]  # false alarms stay, hits only grow
    assert adjusted["fp"] == plain["fp"]
    out = point_adjust(flags, labels)
    assert (out >= flags).all()  # flags are only added ...
    assert not (out & ~flags & ~labels).any()  # ... and only inside the intervals


def test_a_random_score_looks_excellent_after_adjustment_on_long_intervals():
    # Kim et al. (AAAI 2022): long intervals, a random score flagged at 1% of the points
    n = 20_000
    intervals = [(start, start + 400) for start in range(1_000, n - 400, 2_000)]
    rng = np.random.default_rng(0)
    train, test = rng.uniform(size=n), rng.uniform(size=n)
    flags = test > np.percentile(train, 99)
    plain = point_metrics(flags, intervals)
    adjusted = point_metrics(flags, intervals, adjust=True)
    assert plain["f1"] < 0.05
    assert adjusted["f1"] > 0.8
    assert adjusted["f1"] > 15 * plain["f1"]


def test_no_flags_and_no_anomalies():
    none = point_metrics(np.zeros(N, dtype=bool), INTERVALS, adjust=True)
    assert none["precision"] == 0 and none["recall"] == 0 and none["f1"] == 0
    no_truth = point_metrics(FLAGS, [])
    assert no_truth["precision"] == 0 and no_truth["fp"] == 2
    assert np.isnan(no_truth["recall"]) and np.isnan(no_truth["f1"])
    np.testing.assert_array_equal(point_adjust(FLAGS, []), FLAGS)
    np.testing.assert_array_equal(point_adjust(FLAGS, np.zeros(N, dtype=bool)), FLAGS)


@pytest.mark.parametrize(
    ("flags", "truth", "match"),
    [
        (np.where(np.arange(10) > 5, -1, 1), [(0, 2)], "-1"),
        (np.linspace(0, 1, 10), [(0, 2)], "真偽値"),
        (np.zeros((2, 5), dtype=bool), [(0, 2)], "1 次元"),
        (np.zeros(0, dtype=bool), [], "1 次元"),
        (np.zeros(10, dtype=bool), [(5, 12)], "不正"),
        (np.zeros(10, dtype=bool), [(5, 5)], "不正"),
        (np.zeros(10, dtype=bool), np.zeros(9, dtype=bool), "長さ"),
        (np.zeros(10, dtype=bool), np.full(10, 0.5), "正解のラベル"),
        (np.zeros(10, dtype=bool), [1, 0], "正解のラベルの長さ"),
        (np.zeros(10, dtype=bool), [5], "正解のラベル"),
    ],
)
def test_bad_arguments_are_named_in_japanese(flags, truth, match):
    with pytest.raises(InvalidDataError, match=match):
        point_adjust(flags, truth)
    with pytest.raises(InvalidDataError, match=match):
        point_metrics(flags, truth)
