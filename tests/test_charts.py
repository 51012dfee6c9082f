"""Control charts on a stream of anomaly scores (aeutil.charts).

The statistics are checked against independent computations (a linear filter for the EWMA, the
closed form of the CUSUM recursion), and the average run lengths measured on simulated N(0, 1)
streams against the textbook tables: Montgomery, Introduction to Statistical Quality Control,
the tabular CUSUM with k = 1/2, h = 5 (two-sided ARL 465 in control, 10.4 for a 1σ shift, 4.01
for 2σ) and the EWMA table adapted from Lucas & Saccucci (1990) (λ = 0.1, L = 2.814 and
λ = 0.2, L = 2.962: ARL 500 in control; 10.3 / 10.5 for 1σ; 4.4 / 3.7 for 2σ). The same
values come out of a Brook-Evans Markov chain with 300-400 states (465.4, 10.38, 4.01 for the
CUSUM; 499.4, 10.33, 4.36 and 499.6, 10.54, 3.74 for the EWMA charts).
"""

from __future__ import annotations

from aeutil import InvalidDataError
from aeutil.charts import (
    ControlChart,
    cusum_chart,
    detection_delay,
    ewma_chart,
    plot_control_chart,
    threshold_chart,
)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import signal, stats

RUNS = 400


def _average_run_length(chart, delta: float, *, seed: int, **kwargs) -> float:
    """Mean run length of ``chart`` on N(delta, 1) streams, μ = 0 and σ = 1 given (zero state).

    A run without an alarm is extended (the same stream, more points), never restarted:
    restarting would drop exactly the long runs and bias the average down.
    """
    lengths = []
    for run in range(RUNS):
        rng = np.random.default_rng([seed, run])
        x = rng.normal(delta, 1.0, 1000)
        while (delay := detection_delay(chart(x, mean=0.0, std=1.0, **kwargs), 0)) is None:
            x = np.concatenate([x, rng.normal(delta, 1.0, 3 * len(x))])
        lengths.append(delay)
    return float(np.mean(lengths))


CUSUM = {"k": 0.5, "h": 5.0, "two_sided": True}
EWMA_01 = {"lam": 0.1, "L": 2.814, "two_sided": True, "limits": "asymptotic"}
EWMA_02 = {"lam": 0.2, "L": 2.962, "two_sided": True, "limits": "asymptotic"}


@pytest.mark.parametrize(
    ("chart", "kwargs", "delta", "textbook", "tolerance"),
    [
        (cusum_chart, CUSUM, 0.0, 465.0, 0.20),
        (cusum_chart, CUSUM, 1.0, 10.4, 0.10),
        (cusum_chart, CUSUM, 2.0, 4.01, 0.10),
        # one-sided (the default): the in-control ARL doubles (Brook-Evans: 930.9), the
        # shifted ones do not change (the lower side never signals an upward shift)
        (cusum_chart, {"k": 0.5, "h": 5.0}, 0.0, 930.9, 0.20),
        (cusum_chart, {"k": 0.5, "h": 5.0}, 1.0, 10.4, 0.10),
        (ewma_chart, EWMA_01, 0.0, 500.0, 0.20),
        (ewma_chart, EWMA_01, 1.0, 10.3, 0.10),
        (ewma_chart, EWMA_01, 2.0, 4.4, 0.10),
        (ewma_chart, EWMA_02, 0.0, 500.0, 0.20),
        (ewma_chart, EWMA_02, 1.0, 10.5, 0.10),
        (ewma_chart, EWMA_02, 2.0, 3.7, 0.10),
        # one point at a time, μ + 3σ: ARL = 1 / P(Z > 3 - δ) exactly
        (threshold_chart, {}, 0.0, 1 / stats.norm.sf(3.0), 0.20),
        (threshold_chart, {}, 1.0, 1 / stats.norm.sf(2.0), 0.15),
        (threshold_chart, {}, 2.0, 1 / stats.norm.sf(1.0), 0.10),
    ],
)
def test_average_run_lengths_match_the_textbook(chart, kwargs, delta, textbook, tolerance):
    measured = _average_run_length(chart, delta, seed=20240, **kwargs)
    assert measured == pytest.approx(textbook, rel=tolerance)


def test_exact_ewma_limits_are_inside_the_asymptotic_ones_and_alarm_no_later():
    x = np.random.default_rng(1).normal(1.0, 1.0, 300)
    exact = ewma_chart(x, lam=0.1, L=2.814, mean=0.0, std=1.0)
    steady = ewma_chart(x, lam=0.1, L=2.814, mean=0.0, std=1.0, limits="asymptotic")
    np.testing.assert_array_equal(exact.statistic, steady.statistic)
    assert np.all(exact.upper_limit <= steady.upper_limit)
    assert exact.upper_limit[0] == pytest.approx(2.814 * 0.1)  # L σ λ at t = 1
    assert exact.upper_limit[-1] == pytest.approx(steady.upper_limit[-1])
    assert np.all(exact.alarms[steady.alarms])
    assert exact.first_alarm <= steady.first_alarm


# -- the statistics against independent computations ---------------------------------------


def test_ewma_statistic_and_limits_follow_the_formulas():
    x = np.random.default_rng(2).normal(5.0, 2.0, 200) + np.repeat([0.0, 2.0], 100)
    lam, L, mu, sigma = 0.25, 2.5, 5.0, 2.0
    chart = ewma_chart(x, lam=lam, L=L, mean=mu, std=sigma, two_sided=True)
    # z_t = λ x_t + (1 - λ) z_{t-1} with z_0 = μ, as a linear filter
    expected, _ = signal.lfilter([lam], [1.0, -(1.0 - lam)], x, zi=[(1.0 - lam) * mu])
    np.testing.assert_allclose(chart.statistic, expected, rtol=1e-12)
    t = np.arange(1, len(x) + 1)
    width = L * sigma * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
    np.testing.assert_allclose(chart.upper_limit, mu + width, rtol=1e-12)
    np.testing.assert_allclose(chart.lower_limit, mu - width, rtol=1e-12)
    outside = (expected > mu + width) | (expected < mu - width)
    assert outside.any() and not outside.all()
    np.testing.assert_array_equal(chart.alarms, outside)


def test_cusum_matches_the_closed_form_of_its_recursion():
    # C_t = max(0, y_t + C_{t-1}), C_0 = 0 is C_t = S_t - min(0, S_1, ..., S_t) with S the
    # cumulative sum of y (Lindley): an independent computation of both sides
    x = np.random.default_rng(3).normal(0.3, 1.5, 500)
    mu, sigma, k, h = 0.1, 1.5, 0.5, 4.0
    chart = cusum_chart(x, k=k, h=h, mean=mu, std=sigma, two_sided=True)
    for y, got in (
        (x - (mu + k * sigma), chart.statistic),
        ((mu - k * sigma) - x, -chart.lower_statistic),
    ):
        s = np.concatenate([[0.0], np.cumsum(y)])
        np.testing.assert_allclose(got, (s - np.minimum.accumulate(s))[1:], atol=1e-9)
    np.testing.assert_array_equal(chart.upper_limit, np.full(len(x), h * sigma))
    np.testing.assert_array_equal(chart.lower_limit, np.full(len(x), -h * sigma))
    expected = (chart.statistic > h * sigma) | (-chart.lower_statistic > h * sigma)
    np.testing.assert_array_equal(chart.alarms, expected)
    assert chart.alarms.any() and not chart.alarms.all()


def test_one_sided_charts_ignore_a_downward_shift():
    x = np.concatenate([np.zeros(50), np.full(50, -3.0)])
    for chart in (
        ewma_chart(x, mean=0.0, std=1.0),
        cusum_chart(x, mean=0.0, std=1.0),
        threshold_chart(x, mean=0.0, std=1.0),
    ):
        assert chart.first_alarm is None
    assert ewma_chart(x, mean=0.0, std=1.0, two_sided=True).first_alarm is not None
    assert cusum_chart(x, mean=0.0, std=1.0, two_sided=True).first_alarm is not None


def test_reference_period_estimates_mean_and_sample_std():
    x = np.random.default_rng(4).normal(10.0, 3.0, 120)
    for chart in (ewma_chart(x, n_reference=40), cusum_chart(x, n_reference=40)):
        assert chart.mean == pytest.approx(np.mean(x[:40]), rel=1e-12)
        assert chart.std == pytest.approx(np.std(x[:40], ddof=1), rel=1e-12)
    given_mean = threshold_chart(x, mean=9.0, n_reference=40, L=2.0)
    assert given_mean.mean == 9.0
    assert given_mean.upper_limit[0] == pytest.approx(9.0 + 2.0 * np.std(x[:40], ddof=1))


def test_threshold_chart_with_a_given_threshold_is_predicts_rule():
    x = np.array([0.1, 0.5, 0.5000001, 0.2, 0.9])
    chart = threshold_chart(x, 0.5)
    np.testing.assert_array_equal(chart.alarms, [False, False, True, False, True])
    assert chart.first_alarm == 2 and chart.mean is None and chart.std is None
    np.testing.assert_array_equal(chart.statistic, x)


# -- comparing delays: small shifts and drifts vs large shifts -------------------------------


def _mean_delay(make_stream, seeds: int = 60) -> dict[str, float]:
    delays: dict[str, list[int]] = {"ewma": [], "cusum": [], "threshold": []}
    for seed in range(seeds):
        x, change = make_stream(np.random.default_rng(seed))
        charts = {
            "ewma": ewma_chart(x, n_reference=change),
            "cusum": cusum_chart(x, n_reference=change),
            "threshold": threshold_chart(x, n_reference=change),
        }
        for name, chart in charts.items():
            delay = detection_delay(chart, change)
            delays[name].append(len(x) - change + 1 if delay is None else delay)
    return {name: float(np.mean(values)) for name, values in delays.items()}


def test_ewma_and_cusum_find_a_small_level_shift_and_a_slow_drift_sooner():
    def level_shift(rng):
        return np.concatenate([rng.normal(0, 1, 200), rng.normal(1.0, 1, 300)]), 200

    def drift(rng):
        return np.concatenate([rng.normal(0, 1, 200), rng.normal(0, 1, 300) + 0.01 * np.arange(300)]), 200

    # measured (60 seeds): 1σ shift EWMA 11.5, CUSUM 10.8, threshold 44.8 points;
    # drift of 0.01σ per point EWMA 62.0, CUSUM 55.3, threshold 98.8 points
    for stream, factor in ((level_shift, 0.5), (drift, 0.7)):
        mean_delay = _mean_delay(stream)
        assert mean_delay["ewma"] < factor * mean_delay["threshold"], (stream.__name__, mean_delay)
        assert mean_delay["cusum"] < factor * mean_delay["threshold"], (stream.__name__, mean_delay)


def test_one_point_threshold_is_not_slower_for_a_large_shift():
    def big_shift(rng):
        return np.concatenate([rng.normal(0, 1, 200), rng.normal(4.0, 1, 100)]), 200

    mean_delay = _mean_delay(big_shift)
    assert mean_delay["threshold"] <= mean_delay["cusum"]
    assert mean_delay["threshold"] < 1.5


# -- detection_delay -------------------------------------------------------------------------


def test_detection_delay_counts_from_the_change_point():
    alarms = np.array([True, False, False, False, True, True, False])
    assert detection_delay(alarms, 0) == 1  # an alarm on the change point itself
    assert detection_delay(alarms, 1) == 4  # the false alarm at 0 is not counted
    assert detection_delay(alarms, 4) == 1
    assert detection_delay(alarms, 6) is None
    chart = threshold_chart([0.0, 0.0, 2.0, 0.0], 1.0)
    assert detection_delay(chart, 1) == 2 and chart.first_alarm == 2


@pytest.mark.parametrize(
    ("alarms", "change_point", "message"),
    [
        (np.zeros(5, dtype=bool), 5, "change_point は 0 以上 4 以下の整数"),
        (np.zeros(5, dtype=bool), -1, "change_point は 0 以上 4 以下の整数"),
        (np.zeros(5, dtype=bool), 1.5, "change_point"),
        (np.zeros(5, dtype=bool), True, "change_point"),
        (np.zeros(5), 0, "真偽値の 1 次元配列"),
        (np.zeros((5, 2), dtype=bool), 0, "真偽値の 1 次元配列"),
    ],
)
def test_detection_delay_checks_its_input(alarms, change_point, message):
    with pytest.raises(InvalidDataError, match=message):
        detection_delay(alarms, change_point)


# -- input checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: ewma_chart(x), "mean と std を渡すか、n_reference"),
        (lambda x: cusum_chart(x, mean=0.0), "mean と std を渡すか、n_reference"),
        (lambda x: ewma_chart(x, mean=0, std=1, n_reference=10), "n_reference は使いません"),
        (lambda x: ewma_chart(x, n_reference=1), "n_reference は 2 以上 50 "),
        (lambda x: ewma_chart(x, n_reference=51), "n_reference は 2 以上 50 "),
        (lambda x: ewma_chart(x, n_reference=2.5), "n_reference"),
        (lambda x: ewma_chart(x, mean=0, std=0.0), "std は 0 より大きく"),
        (lambda x: ewma_chart(x, mean=0, std=-1.0), "std は 0 より大きく"),
        (lambda x: ewma_chart(x, mean=np.nan, std=1.0), "mean は有限の数"),
        (lambda x: ewma_chart(x, mean=0, std=1, lam=0.0), "lam は 0 より大きく 1 以下"),
        (lambda x: ewma_chart(x, mean=0, std=1, lam=1.5), "lam は 0 より大きく 1 以下"),
        (lambda x: ewma_chart(x, mean=0, std=1, L=-3), "L は 0 より大きく有限"),
        (lambda x: ewma_chart(x, mean=0, std=1, limits="steady"), 'limits は "exact" か'),
        (lambda x: cusum_chart(x, mean=0, std=1, h=0), "h は 0 より大きく"),
        (lambda x: cusum_chart(x, mean=0, std=1, k=-0.5), "k は 0 以上"),
        (lambda x: threshold_chart(x, 1.0, n_reference=10), "threshold を渡したときは"),
        (lambda x: threshold_chart(x, np.inf), "threshold は有限の数"),
        (lambda x: cusum_chart(np.ones(50), n_reference=10), "標準偏差が 0 です"),
    ],
)
def test_arguments_are_checked_in_japanese(call, message):
    x = np.random.default_rng(5).normal(size=50)
    with pytest.raises(InvalidDataError, match=message):
        call(x)


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([0.1, np.nan, 0.3], "欠損値 \\(NaN\\) があります: 1 番目"),
        ([0.1, 0.2, np.inf], "無限大 \\(inf\\) があります: 2 番目"),
        (np.zeros((3, 2)), "1 次元の配列"),
        (["a", "b", "c"], "数値にしてください"),
        ([], "空です"),
    ],
)
def test_bad_scores_are_named(scores, message):
    with pytest.raises(InvalidDataError, match=message):
        cusum_chart(scores, mean=0.0, std=1.0)


def test_inputs_are_not_changed_and_a_series_keeps_its_index():
    values = np.random.default_rng(6).normal(size=30)
    series = pd.Series(values.copy(), index=pd.date_range("2024-01-01", periods=30, freq="min"))
    before = series.copy()
    chart = ewma_chart(series, n_reference=10)
    pd.testing.assert_series_equal(series, before)
    frame = chart.to_frame()
    assert frame.index.equals(series.index)
    assert list(frame.columns) == ["score", "statistic", "upper_limit", "alarm"]
    chart.statistic[:] = 0.0  # the result owns its arrays
    pd.testing.assert_series_equal(series, before)
    two = cusum_chart(values, mean=0.0, std=1.0, two_sided=True).to_frame()
    names = ["score", "statistic", "upper_limit", "lower_statistic", "lower_limit", "alarm"]
    assert list(two.columns) == names
    assert isinstance(two.index, pd.RangeIndex)


# -- plotting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda x: ewma_chart(x, n_reference=50, two_sided=True),
        lambda x: cusum_chart(x, n_reference=50, two_sided=True),
        lambda x: threshold_chart(x, n_reference=50),
    ],
)
def test_plot_returns_a_figure_with_the_limit_line(make):
    rng = np.random.default_rng(7)
    chart = make(np.concatenate([rng.normal(0, 1, 100), rng.normal(2, 1, 50)]))
    assert isinstance(chart, ControlChart) and chart.first_alarm is not None
    opened = plt.get_fignums()
    fig = plot_control_chart(chart, change_point=100)
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == opened  # not registered with pyplot, nothing shown
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["上側管理限界"].get_ydata(), chart.upper_limit)
    assert "変化点" in lines and "最初の警報" in lines
    assert ax.get_title().endswith(")") and ax.get_xlabel() == "点の番号"


def test_plot_refuses_something_else():
    with pytest.raises(InvalidDataError, match="ControlChart を渡してください"):
        plot_control_chart(np.zeros(3))
