"""Per-column contributions (寄与度): non-negative, and each row sums to its anomaly score."""

from __future__ import annotations

import aeutil
from aeutil import AutoEncoderDetector, AutoEncoderUtil, InvalidDataError, WindowAutoEncoder
from aeutil.contribplot import plot_contribution_heatmap, plot_contributions
from aeutil.windows import contributions_to_points, make_windows

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure


def _data(n=300, d=4, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2))
    mix = rng.normal(size=(2, d))
    return base @ mix + 0.05 * rng.normal(size=(n, d))


@pytest.fixture(scope="module", params=[1, 3])
def detector(request):
    return AutoEncoderDetector(epochs=5, n_models=request.param, seed=0).fit(_data())


def test_contributions_are_non_negative_and_sum_to_the_score(detector):
    X = _data(n=200, seed=1)
    X[5, 2] += 8.0  # one row with one broken column
    contrib = detector.feature_contributions(X)
    assert contrib.shape == X.shape and contrib.dtype == np.float64
    assert (contrib >= 0).all()
    np.testing.assert_allclose(contrib.sum(axis=1), detector.reconstruction_error(X), rtol=1e-5)
    np.testing.assert_allclose(contrib.sum(axis=1), -detector.score_samples(X), rtol=1e-5)
    # the broken column is the row's largest contribution
    assert contrib[5].argmax() == 2


def test_rows_beyond_float32_still_sum_to_a_finite_score(detector):
    X = _data(n=3, seed=2)
    X[1, 0] = 1e30
    contrib = detector.feature_contributions(X)
    assert np.isfinite(contrib).all() and contrib[1].argmax() == 0


def test_util_contributions_are_a_labelled_frame():
    frame = pd.DataFrame(_data(), columns=["振動", "温度", "電流", "圧力"])
    util = AutoEncoderUtil(df=frame, seed=0, n_models=2).fit(list(frame.columns), epochs=3)
    test = frame.iloc[:50].copy()
    test.index = np.arange(1000, 1050)
    out = util.contributions(list(frame.columns), df=test)
    assert list(out.columns) == list(frame.columns) and list(out.index) == list(test.index)
    _, loss, _ = util.predict(list(frame.columns), df=test)
    np.testing.assert_allclose(out.sum(axis=1).to_numpy(), loss, rtol=1e-5)
    np.testing.assert_array_equal(out.to_numpy(), util.detector.feature_contributions(test))


def test_window_contributions_sum_to_each_window_score():
    rng = np.random.default_rng(3)
    t = np.arange(400.0)
    signals = np.stack([np.sin(t / 5), np.cos(t / 9), rng.normal(0, 0.1, 400)], axis=1)
    windows, starts = make_windows(signals, 8, 2)
    model = WindowAutoEncoder("conv1d", window=8, latent=2, hidden=4, epochs=2, seed=0)
    model.fit(windows[:100])
    contrib = model.feature_contributions(windows, batch_size=37)
    assert contrib.shape == windows.shape and (contrib >= 0).all()
    np.testing.assert_allclose(
        contrib.sum(axis=(1, 2)), model.reconstruction_error(windows), rtol=1e-4
    )
    points = contributions_to_points(contrib, starts, len(signals))
    assert points.shape == (len(signals), 3) and np.isfinite(points).all()
    # a point covered by a single window: its value is that window's row times the window length
    first = points[0]
    np.testing.assert_allclose(first, contrib[0, 0] * 8)


def test_contributions_to_points_checks_its_input():
    with pytest.raises(InvalidDataError, match="3 次元"):
        contributions_to_points(np.zeros((4, 3)), [0, 1, 2, 3], 10)
    with pytest.raises(InvalidDataError, match="合いません"):
        contributions_to_points(np.zeros((4, 3, 2)), [0, 1, 2], 10)


def test_bar_chart_sorts_and_labels_the_shares():
    fig = plot_contributions(pd.Series([0.1, 0.6, 0.3], index=["a", "b", "c"]),
                             labels={"b": "温度"})
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    texts = sorted(t.get_text().strip() for t in ax.texts)
    assert texts == ["10%", "30%", "60%"]
    # the largest bar is drawn on top
    heights = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert sorted(heights, key=heights.get) == ["a", "c", "温度"]
    with pytest.raises(InvalidDataError, match="1 行分"):
        plot_contributions(np.ones((2, 3)))
    with pytest.raises(InvalidDataError, match="負の値"):
        plot_contributions([0.5, -0.1])


def test_heatmap_marks_the_flagged_intervals():
    values = np.abs(np.random.default_rng(0).normal(size=(50, 3)))
    flags = np.zeros(50, dtype=bool)
    flags[10:15] = flags[30:32] = True
    fig = plot_contribution_heatmap(values, ["a", "b", "c"], flags=flags)
    ax = fig.axes[0]
    spans = [p for p in ax.patches if p.get_facecolor()[0] > 0.8]
    assert len(spans) == 2
    assert len(fig.axes) == 2  # the colour bar
    with pytest.raises(InvalidDataError, match="flags の長さ"):
        plot_contribution_heatmap(values, ["a", "b", "c"], flags=flags[:10])


def test_names_are_exported():
    assert aeutil.contributions_to_points is contributions_to_points
    assert aeutil.plot_contributions is plot_contributions
