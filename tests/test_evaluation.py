"""Evaluation with labels: values equal scikit-learn's, ROC/PR figure, bad input."""

from __future__ import annotations

from aeutil.evaluation import Evaluation, evaluate, plot_roc_pr
from aeutil.validation import InvalidDataError

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


@pytest.fixture(scope="module")
def example():
    rng = np.random.default_rng(3)
    labels = rng.random(400) < 0.1  # True = anomaly
    scores = rng.exponential(size=400) + 1.2 * labels
    return scores, labels


def test_values_equal_sklearn(example):
    scores, labels = example
    threshold = float(np.percentile(scores, 90))
    result = evaluate(scores, labels, threshold)
    pred = scores > threshold
    tn, fp, fn, tp = confusion_matrix(labels, pred).ravel()
    assert (result.tn, result.fp, result.fn, result.tp) == (tn, fp, fn, tp)
    assert result.tn + result.fp + result.fn + result.tp == len(scores)
    assert result.precision == pytest.approx(precision_score(labels, pred))
    assert result.recall == pytest.approx(recall_score(labels, pred))
    assert result.f1 == pytest.approx(f1_score(labels, pred))
    assert result.false_positive_rate == pytest.approx(fp / (fp + tn))
    assert result.roc_auc == pytest.approx(roc_auc_score(labels, scores))
    assert result.pr_auc == pytest.approx(average_precision_score(labels, scores))
    assert result.anomaly_rate == pytest.approx(labels.mean())
    assert result.threshold == threshold


def test_label_conventions_give_the_same_result(example):
    scores, labels = example
    as_bool = evaluate(scores, labels, 1.5)
    assert evaluate(scores, labels.astype(int), 1.5) == as_bool
    assert evaluate(scores, np.where(labels, -1, 1), 1.5) == as_bool
    assert evaluate(list(scores), list(labels), 1.5) == as_bool


def test_threshold_uses_strict_inequality():
    result = evaluate([1.0, 2.0, 3.0], [0, 1, 1], 2.0)  # the 2.0 is not flagged
    assert (result.tp, result.fn, result.fp, result.tn) == (1, 1, 0, 1)


def test_perfect_scores():
    scores = np.array([0.1, 0.2, 0.3, 5.0, 6.0])
    labels = np.array([1, 1, 1, -1, -1])  # aeutil: -1 = anomaly
    result = evaluate(scores, labels, 1.0)
    assert result.roc_auc == 1.0 and result.pr_auc == 1.0
    assert result.precision == result.recall == result.f1 == 1.0
    assert result.false_positive_rate == 0.0


def test_no_predicted_positive_has_defined_zero_scores(example):
    scores, labels = example
    result = evaluate(scores, labels, scores.max())  # nothing is flagged; no warning either
    assert result.tp == result.fp == 0
    assert result.precision == 0.0 and result.f1 == 0.0 and result.recall == 0.0


def test_as_dict_and_confusion_frame(example):
    result = evaluate(*example, 1.5)
    assert isinstance(result, Evaluation)
    d = result.as_dict()
    assert d["tp"] == result.tp and d["roc_auc"] == result.roc_auc
    frame = result.confusion_frame()
    assert frame.loc["実際: 異常", "判定: 異常"] == result.tp
    assert frame.loc["実際: 正常", "判定: 異常"] == result.fp
    assert int(frame.to_numpy().sum()) == len(example[0])


def _labels_of(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_plot_roc_pr_without_threshold(example):
    scores, labels = example
    fig = plot_roc_pr(scores, labels, title="テスト")
    assert isinstance(fig, Figure)
    ax_roc, ax_pr = fig.axes
    assert len(fig.axes) == 2
    roc_labels, pr_labels = _labels_of(ax_roc), _labels_of(ax_pr)
    assert len(roc_labels) == 2 and len(pr_labels) == 2
    assert f"{roc_auc_score(labels, scores):.3f}" in roc_labels[0]
    assert f"{average_precision_score(labels, scores):.3f}" in pr_labels[0]
    baseline = ax_pr.get_lines()[1]
    np.testing.assert_allclose(baseline.get_ydata(), labels.mean())
    assert fig.get_suptitle() == "テスト"
    legend_texts = [t.get_text() for t in ax_pr.get_legend().get_texts()]
    assert any("基準線" in t for t in legend_texts)


def test_plot_roc_pr_marks_the_operating_point(example):
    scores, labels = example
    fig = plot_roc_pr(scores, labels, threshold=1.5)
    ax_roc, ax_pr = fig.axes
    result = evaluate(scores, labels, 1.5)
    point_roc, point_pr = ax_roc.get_lines()[-1], ax_pr.get_lines()[-1]
    assert "閾値" in point_roc.get_label() and "閾値" in point_pr.get_label()
    assert point_roc.get_xydata().tolist() == [[result.false_positive_rate, result.recall]]
    assert point_pr.get_xydata().tolist() == [[result.recall, result.precision]]


@pytest.mark.parametrize("func", [evaluate, plot_roc_pr], ids=["evaluate", "plot_roc_pr"])
def test_bad_input(func):
    args = (0.5,) if func is evaluate else ()
    with pytest.raises(InvalidDataError, match="長さが合いません"):
        func([0.1, 0.2, 0.3], [0, 1], *args)
    with pytest.raises(InvalidDataError, match="両方"):
        func([0.1, 0.2, 0.3], [1, 1, 1], *args)
    with pytest.raises(InvalidDataError, match="欠損値"):
        func([0.1, np.nan], [0, 1], *args)
    with pytest.raises(InvalidDataError, match="読み取れません"):
        func([0.1, 0.2, 0.3], [0, 1, 2], *args)


@pytest.mark.parametrize("threshold", [np.nan, np.inf, "abc", None])
def test_bad_threshold(threshold):
    with pytest.raises(InvalidDataError, match="threshold"):
        evaluate([0.1, 0.2], [0, 1], threshold)


def test_plot_bad_threshold():
    with pytest.raises(InvalidDataError, match="threshold"):
        plot_roc_pr([0.1, 0.2], [0, 1], threshold=np.nan)
