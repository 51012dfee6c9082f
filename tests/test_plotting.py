"""Plots return a Figure with the expected artists; import changes no global state."""

from __future__ import annotations

import subprocess
import sys

import aeutil
from aeutil import plot_ae_results, plot_ae_results_1d, setup_japanese_font

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

COLUMNS = ["feature1", "feature2"]


def _scatter_labels(ax) -> list[str]:
    return [c.get_label() for c in ax.collections if isinstance(c, PathCollection)]


def test_import_does_not_touch_rcparams():
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); import aeutil; "
        "after = dict(mpl.rcParams); "
        "diff = [k for k in before if before[k] != after[k]]; "
        "assert not diff, diff; "
        "import sys; assert 'japanize_matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_setup_japanese_font_selects_bundled_font():
    import matplotlib
    from matplotlib import font_manager

    name = setup_japanese_font()
    assert matplotlib.rcParams["font.family"] == [name]
    path = font_manager.findfont(name, fallback_to_default=False)
    assert path.endswith(".ttf")


def test_plot_2d_with_model_and_both_sets(fitted, clusters):
    y_train, _, thr = fitted.predict(COLUMNS)
    test = aeutil.make_uniform_points(n=20, seed=20)
    y_test, _, _ = fitted.predict(COLUMNS, df=test)
    fig = plot_ae_results(clusters.values, y_train, test.values, y_test, fitted, thr)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = _scatter_labels(ax)
    assert "学習データ(正常)" in labels
    assert any(label.startswith("テストデータ") for label in labels)
    # the score map (filled contours) and the decision boundary line at the threshold
    assert len(ax.collections) > len(labels)
    legend_texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("判定境界" in t for t in legend_texts)
    assert ax.get_xlabel() == "特徴量 1"
    fig.canvas.draw()  # renders without error


def test_plot_2d_boundary_uses_the_learned_threshold(fitted, clusters):
    fig = plot_ae_results(clusters.values, None, None, None, fitted)
    legend_texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(f"{fitted.threshold:.3g}" in t for t in legend_texts)


def test_plot_2d_test_only_and_train_only(fitted, clusters):
    test = aeutil.make_uniform_points(n=10)
    fig = plot_ae_results(None, None, test.values, np.ones(10, int), fitted)
    assert _scatter_labels(fig.axes[0]) == ["テストデータ(正常)"]
    fig = plot_ae_results(clusters.values, -np.ones(len(clusters), int))
    assert _scatter_labels(fig.axes[0]) == ["学習データ(異常)"]
    assert fig.axes[0].get_legend() is not None


def test_plot_2d_without_any_data_is_an_error():
    with pytest.raises(ValueError, match="データがありません"):
        plot_ae_results()


def test_plot_2d_label_length_mismatch(clusters):
    with pytest.raises(ValueError, match="y_train_pred"):
        plot_ae_results(clusters.values, np.ones(3, int))


def test_plot_functions_never_call_show(fitted, clusters, monkeypatch):
    import matplotlib.pyplot as plt

    def fail(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", fail)
    n_open = len(plt.get_fignums())
    plot_ae_results(clusters.values, None, None, None, fitted)
    assert len(plt.get_fignums()) == n_open  # not registered with pyplot either


def test_plot_1d_curve_threshold_and_points():
    df = aeutil.make_1d_data(n=60)
    util = aeutil.AutoEncoderUtil(df=df).fit("feature1", epochs=5)
    y, _, thr = util.predict("feature1")
    test = aeutil.make_uniform_points(n=10, n_features=1)
    y_test, _, _ = util.predict("feature1", df=test)
    fig = plot_ae_results_1d(df.values, y, test.values, y_test, util, thr)
    ax = fig.axes[0]
    line_labels = [line.get_label() for line in ax.get_lines()]
    assert "再構成誤差 (異常度の曲線)" in line_labels
    assert any(label.startswith("閾値") for label in line_labels)
    threshold_line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("閾値"))
    assert threshold_line.get_ydata()[0] == pytest.approx(thr)
    assert sum(len(c.get_offsets()) for c in ax.collections) == 70
    fig.canvas.draw()


def test_plot_1d_without_model():
    fig = plot_ae_results_1d(np.array([0.0, 1.0, 2.0]), np.array([1, 1, -1]))
    ax = fig.axes[0]
    assert _scatter_labels(ax) == ["学習データ(正常)", "学習データ(異常)"]
    assert ax.get_lines() == []


def test_legend_location_can_be_chosen(fitted, clusters):
    fig = plot_ae_results(clusters.values, None, None, None, fitted, legend_loc="upper right")
    assert fig.axes[0].get_legend()._loc == 1  # matplotlib's code for "upper right"


def test_colour_bar_ticks_have_at_most_three_significant_digits(fitted, clusters):
    y_train, _, thr = fitted.predict(COLUMNS)
    fig = plot_ae_results(clusters.values, y_train, model_util=fitted, threshold=thr)
    fig.canvas.draw()
    colour_bar = fig.axes[1]
    labels = [t.get_text() for t in colour_bar.get_yticklabels() if t.get_text()]
    assert len(labels) >= 3
    for label in labels:
        digits = label.replace("−", "").replace("-", "").replace(".", "").lstrip("0")
        assert len(digits.split("e")[0]) <= 3, labels
    # the levels start at 0 and reach the threshold
    levels = fig.axes[0].collections[0].levels
    assert levels[0] == 0.0 and levels[-1] >= thr
