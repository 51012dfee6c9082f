"""The classical detectors (aeutil.classical) against direct NumPy computations.

Hotelling's T² against ``np.linalg.inv(np.cov(...))``, its F and χ² limits against scipy.stats,
the MT method's MD against its textbook definition, PCA's T² and Q against an eigendecomposition
of the correlation matrix; the singular cases (constant, duplicated, summed columns) raise a
Japanese error naming the columns; scikit-learn's estimator checks.
"""

from __future__ import annotations

import re
import warnings

from aeutil import ColumnNotFoundError, InvalidDataError
from aeutil.classical import SINGULAR_TOLERANCE, HotellingT2, MahalanobisTaguchi, PCAMonitor

import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

JA_TEXT = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")
COV = np.array([[1.0, 0.6, 0.2, 0.0], [0.6, 2.0, 0.5, 0.3], [0.2, 0.5, 1.5, -0.4], [0.0, 0.3, -0.4, 1.0]])


def _gaussian(n: int = 200, seed: int = 0, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal([10.0, -3.0, 0.5, 100.0], COV, size=n) + shift


def _t2_numpy(train: np.ndarray, X: np.ndarray) -> np.ndarray:
    d = X - train.mean(axis=0)
    return np.einsum("ij,jk,ik->i", d, np.linalg.inv(np.cov(train, rowvar=False)), d)


def _frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=["温度", "圧力", "流量", "回転数"])


DETECTORS = (HotellingT2, MahalanobisTaguchi, PCAMonitor)


# -- Hotelling's T² --------------------------------------------------------------------------


@pytest.mark.parametrize("as_frame", (False, True))
def test_t2_is_the_numpy_formula(as_frame):
    train, test = _gaussian(), _gaussian(50, seed=1, shift=0.5)
    wrap = _frame if as_frame else (lambda a: a)
    model = HotellingT2().fit(wrap(train))
    np.testing.assert_allclose(model.t2(wrap(test)), _t2_numpy(train, test), rtol=1e-10)
    np.testing.assert_allclose(model.train_scores_, _t2_numpy(train, train), rtol=1e-10)
    np.testing.assert_allclose(model.covariance_, np.cov(train, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(model.location_, train.mean(axis=0), rtol=1e-12)
    assert model.t2(test).dtype == np.float64
    if as_frame:
        assert list(model.feature_names_in_) == ["温度", "圧力", "流量", "回転数"]
    else:
        assert not hasattr(model, "feature_names_in_") and model.columns_ == ["x0", "x1", "x2", "x3"]


def test_t2_keeps_float64_precision_for_large_offsets():
    # float32 resolves 1e6 only to 0.06: a 0.01 variation would be lost in float32
    rng = np.random.default_rng(2)
    train = 1e6 + rng.normal(scale=0.01, size=(100, 2)) @ np.array([[1.0, 0.5], [0.0, 1.0]])
    test = 1e6 + rng.normal(scale=0.01, size=(20, 2))
    model = HotellingT2().fit(train)
    # (both lose ~8 digits to the offset; float32 input would lose all of them)
    np.testing.assert_allclose(model.t2(test), _t2_numpy(train, test), rtol=1e-5)


@pytest.mark.parametrize("alpha", (0.01, 0.05))
def test_thresholds_are_the_f_chi2_and_percentile_formulas(alpha):
    train = _gaussian(40)
    n, p = train.shape
    f_limit = p * (n + 1) * (n - 1) / (n * (n - p)) * stats.f.ppf(1 - alpha, p, n - p)
    assert HotellingT2(alpha=alpha).fit(train).threshold_ == pytest.approx(f_limit, rel=1e-12)
    chi2 = HotellingT2(threshold="chi2", alpha=alpha).fit(train).threshold_
    assert chi2 == pytest.approx(stats.chi2.ppf(1 - alpha, p), rel=1e-12)
    assert f_limit > chi2  # the F limit pays for estimating the mean and covariance
    pct = HotellingT2(threshold="percentile", threshold_percentile=90).fit(train).threshold_
    assert pct == pytest.approx(np.percentile(_t2_numpy(train, train), 90), rel=1e-10)


def test_f_limit_gives_its_false_alarm_rate_on_new_normal_rows_and_chi2_does_not():
    # small training sets (n = 25, p = 4): the F limit is exact for a new row, chi2 is too low
    rng = np.random.default_rng(3)
    rates = {"f": [], "chi2": []}
    for _ in range(200):
        train = rng.multivariate_normal(np.zeros(4), COV, size=25)
        new = rng.multivariate_normal(np.zeros(4), COV, size=200)
        for method, values in rates.items():
            values.append(np.mean(HotellingT2(threshold=method, alpha=0.05).fit(train).predict(new) == -1))
    assert np.mean(rates["f"]) == pytest.approx(0.05, abs=0.005)
    assert np.mean(rates["chi2"]) > 0.09


def test_robust_and_shrunk_covariances_come_from_scikit_learn():
    from sklearn.covariance import LedoitWolf, MinCovDet

    train = _gaussian(150)
    train[:5] += 30.0  # a few gross outliers: MCD should ignore them
    mcd = HotellingT2(covariance="mcd", random_state=4).fit(train)
    z = (train - train.mean(axis=0)) / train.std(axis=0)
    reference = MinCovDet(random_state=4).fit(z)
    np.testing.assert_allclose(mcd.location_, train.mean(axis=0) + train.std(axis=0) * reference.location_)
    assert np.all(mcd.t2(train[:5]) > 100 * mcd.threshold_)
    lw = HotellingT2(covariance="ledoit_wolf", threshold="chi2").fit(train)
    d = train.std(axis=0)
    np.testing.assert_allclose(lw.covariance_, LedoitWolf().fit(z).covariance_ * np.outer(d, d), rtol=1e-10)


def test_mcd_leaves_the_global_random_state_alone():
    np.random.seed(123)
    before = np.random.get_state()
    first = HotellingT2(covariance="mcd", random_state=7).fit(_gaussian()).t2(_gaussian(5, seed=9))
    after = np.random.get_state()
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]
    second = HotellingT2(covariance="mcd", random_state=7).fit(_gaussian()).t2(_gaussian(5, seed=9))
    np.testing.assert_array_equal(first, second)


# -- contributions -------------------------------------------------------------------------


def test_t2_contributions_sum_to_t2_can_be_negative_and_are_the_regression_form():
    train, test = _gaussian(), _gaussian(100, seed=5, shift=1.0)
    model = HotellingT2().fit(train)
    contrib = model.feature_contributions(test)
    np.testing.assert_allclose(contrib.sum(axis=1), model.t2(test), rtol=1e-12)
    assert (contrib < 0).any()  # correlated columns: the decomposition is not non-negative
    # c_j = d_j (d_j - d̂_j) / s²_j·, d̂_j the regression of d_j on the other columns under S
    S, d = np.cov(train, rowvar=False), test - train.mean(axis=0)
    for j in range(4):
        rest = [i for i in range(4) if i != j]
        beta = np.linalg.solve(S[np.ix_(rest, rest)], S[rest, j])
        residual_var = S[j, j] - S[j, rest] @ beta
        predicted = d[:, rest] @ beta
        np.testing.assert_allclose(contrib[:, j], d[:, j] * (d[:, j] - predicted) / residual_var, rtol=1e-8)
        np.testing.assert_array_equal(contrib[:, j] < 0, np.sign(d[:, j]) != np.sign(d[:, j] - predicted))


def test_contributions_of_uncorrelated_columns_are_squared_z_scores():
    rng = np.random.default_rng(6)
    train = np.column_stack([rng.normal(size=100), rng.normal(size=100)])
    train[:, 1] -= np.polyval(np.polyfit(train[:, 0], train[:, 1], 1), train[:, 0])  # exactly uncorrelated
    model = HotellingT2().fit(train)
    test = rng.normal(size=(20, 2))
    expected = (test - train.mean(axis=0)) ** 2 / train.var(axis=0, ddof=1)
    np.testing.assert_allclose(model.feature_contributions(test), expected, rtol=1e-8, atol=1e-12)


# -- the MT method ---------------------------------------------------------------------------


def test_md_is_the_mt_formula_and_averages_one_on_the_unit_space():
    train, test = _gaussian(), _gaussian(30, seed=7, shift=0.3)
    model = MahalanobisTaguchi().fit(_frame(train))
    z = (test - train.mean(axis=0)) / train.std(axis=0)
    R = np.corrcoef(train, rowvar=False)
    expected = np.einsum("ij,jk,ik->i", z, np.linalg.inv(R), z) / 4
    np.testing.assert_allclose(model.md(_frame(test)), expected, rtol=1e-10)
    assert model.train_scores_.mean() == pytest.approx(1.0, abs=1e-12)
    assert model.threshold_ == 4.0
    n = len(train)
    np.testing.assert_allclose(model.md(test), _t2_numpy(train, test) * n / ((n - 1) * 4), rtol=1e-10)
    contrib = model.feature_contributions(test)
    np.testing.assert_allclose(contrib.sum(axis=1), model.md(test), rtol=1e-12)


@pytest.mark.parametrize("k", (1, 5))
def test_md_above_4_rate_is_the_chi2_tail_stated_in_the_docstring(k):
    rng = np.random.default_rng(8)
    model = MahalanobisTaguchi().fit(rng.normal(size=(20000, k)))
    rate = np.mean(model.predict(rng.normal(size=(400000, k))) == -1)
    assert rate == pytest.approx(stats.chi2.sf(4 * k, k), rel=0.15)  # 4.6% for k=1, 0.13% for k=5


# -- PCA -------------------------------------------------------------------------------------


def _low_rank(n: int = 300, seed: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 2))
    loadings = np.array([[1.0, 0.8, 0.6, 0.0, 0.3, -0.5], [0.0, 0.5, -0.7, 1.0, 0.9, 0.4]])
    return latent @ loadings * [1, 2, 3, 4, 5, 6] + 0.1 * rng.normal(size=(n, 6)) + 50.0


def test_pca_t2_and_q_are_the_eigendecomposition_formulas():
    train, test = _low_rank(), _low_rank(40, seed=10)
    model = PCAMonitor().fit(train)
    z_train = (train - train.mean(axis=0)) / train.std(axis=0)
    values, vectors = np.linalg.eigh(np.cov(z_train, rowvar=False))
    values, vectors = values[::-1], vectors[:, ::-1]
    A = int(np.argmax(np.cumsum(values) / values.sum() > 0.9)) + 1
    assert model.n_components_ == A == 2
    z = (test - train.mean(axis=0)) / train.std(axis=0)
    t = z @ vectors[:, :A]
    np.testing.assert_allclose(model.t2(test), (t**2 / values[:A]).sum(axis=1), rtol=1e-8)
    residual = z - t @ vectors[:, :A].T
    np.testing.assert_allclose(model.q(test), (residual**2).sum(axis=1), rtol=1e-8)
    np.testing.assert_allclose(model.feature_contributions(test), residual**2, rtol=1e-8, atol=1e-15)


def test_pca_flags_either_limit_with_a_combined_score_threshold_one():
    train = _low_rank()
    model = PCAMonitor(n_components=2, threshold_percentile=99).fit(train)
    t2, q = model.t2(train), model.q(train)
    assert model.t2_limit_ == pytest.approx(np.percentile(t2, 99))
    assert model.q_limit_ == pytest.approx(np.percentile(q, 99))
    assert model.threshold_ == 1.0
    expected = (t2 > model.t2_limit_) | (q > model.q_limit_)
    np.testing.assert_array_equal(model.predict(train) == -1, expected)
    assert 0.01 < expected.mean() <= 0.02
    # along the main structure but far: T² only; breaking the correlation: Q only
    z_far = 5 * np.sqrt(model.pca_.explained_variance_[0]) * model.pca_.components_[0]
    far = model.mean_ + model.std_ * z_far  # T² = 25, Q = 0
    broken = train[1].copy()
    broken[3] += 20 * train[:, 3].std() * 0.1  # column 3 alone moves, against the others
    assert model.t2(far[None])[0] > model.t2_limit_ and model.q(far[None])[0] < model.q_limit_
    assert model.q(broken[None])[0] > model.q_limit_
    contrib = model.feature_contributions(broken[None])[0]
    assert np.argmax(contrib) == 3 and np.all(contrib >= 0)


def test_pca_with_all_components_has_no_q_and_stays_finite():
    model = PCAMonitor(n_components=4).fit(_gaussian())
    scores = model.decision_function(_gaussian(10, seed=11))
    assert np.all(np.isfinite(scores))
    np.testing.assert_allclose(model.q(_gaussian(10, seed=11)), 0.0, atol=1e-20)


# -- singular training data -------------------------------------------------------------------


def _with(column: str, values) -> pd.DataFrame:
    frame = _frame(_gaussian(100))
    frame[column] = values(frame)
    return frame


SINGULAR = {
    "constant": (lambda f: 7.5, r"列 '定数' \(すべて 7.5\) は値が一定です"),
    "duplicate": (lambda f: f["圧力"], r"列 '圧力'、'定数' が \(ほぼ\) 一次従属です.*関係: 圧力 - 定数 ≈ 一定"),
    "sum": (
        lambda f: f["温度"] + f["流量"],
        r"列 '温度'、'流量'、'定数' が \(ほぼ\) 一次従属です.*関係: 温度 \+ 流量 - 定数 ≈ 一定",
    ),
    "scaled sum": (
        lambda f: 2 * f["温度"] - 0.5 * f["流量"] + 3,
        r"列 '温度'、'流量'、'定数' が .*関係: 温度 - 0.25·流量 - 0.5·定数 ≈ 一定",
    ),
}


@pytest.mark.parametrize("case", SINGULAR)
@pytest.mark.parametrize(
    "detector", (HotellingT2(), HotellingT2(covariance="mcd"), MahalanobisTaguchi())
)
def test_singular_data_is_refused_naming_the_columns(case, detector):
    make, message = SINGULAR[case]
    with pytest.raises(InvalidDataError, match=message) as info:
        detector.fit(_with("定数", make))
    text = str(info.value)
    if case != "constant":
        assert f"基準 {SINGULAR_TOLERANCE:g}" in text and "どれか 1 列を除いて" in text
        assert ('covariance="ledoit_wolf"' in text) == isinstance(detector, HotellingT2)
    assert "'回転数'" not in text  # an innocent column is not named


def test_nearly_collinear_is_refused_but_a_little_noise_is_not():
    rng = np.random.default_rng(12)
    base = _frame(_gaussian(100))
    nearly = base.assign(定数=base["温度"] + 1e-7 * rng.normal(size=100))
    with pytest.raises(InvalidDataError, match="一次従属"):
        HotellingT2().fit(nearly)
    noisy = base.assign(定数=base["温度"] + 1e-3 * rng.normal(size=100))
    assert np.isfinite(HotellingT2().fit(noisy).threshold_)


def test_ledoit_wolf_and_pca_cope_with_collinear_columns_but_not_constant_ones():
    frame = _with("定数", SINGULAR["duplicate"][0])
    test = frame.iloc[:10]
    scores = HotellingT2(covariance="ledoit_wolf").fit(frame).t2(test)
    assert np.all(np.isfinite(scores)) and np.all(scores >= 0)
    assert np.all(np.isfinite(PCAMonitor().fit(frame).decision_function(test)))
    with pytest.raises(InvalidDataError, match="n_components=5 は多すぎます: 5 番目以降"):
        PCAMonitor(n_components=5).fit(frame)
    for detector in (HotellingT2(covariance="ledoit_wolf"), PCAMonitor()):
        with pytest.raises(InvalidDataError, match="'定数' \\(すべて 7.5\\) は値が一定"):
            detector.fit(_with("定数", SINGULAR["constant"][0]))


@pytest.mark.parametrize(
    ("detector", "rows", "message"),
    [
        (HotellingT2(), 4, "共分散行列の逆行列を求めるには、列が 4 列なら 5 行以上必要ですが、4 行"),
        (HotellingT2(covariance="ledoit_wolf"), 4, "F 分布の閾値を求めるには、列が 4 列なら 5 行以上"),
        (MahalanobisTaguchi(), 3, "列が 4 列なら 5 行以上必要ですが、3 行"),
        (PCAMonitor(), 1, "列が 4 列なら 2 行以上必要ですが、1 行"),
    ],
)
def test_too_few_rows(detector, rows, message):
    with pytest.raises(InvalidDataError, match=message):
        detector.fit(_gaussian(rows))


def test_ledoit_wolf_fits_fewer_rows_than_columns_with_a_percentile_threshold():
    model = HotellingT2(covariance="ledoit_wolf", threshold="percentile").fit(_gaussian(3))
    assert np.all(np.isfinite(model.t2(_gaussian(5, seed=13))))


def test_a_failed_fit_leaves_the_fitted_detector_unchanged():
    for detector in (HotellingT2(), MahalanobisTaguchi(), PCAMonitor()):
        detector.fit(_frame(_gaussian()))
        before = detector.decision_function(_frame(_gaussian(10, seed=14)))
        with pytest.raises(InvalidDataError):
            detector.fit(_with("定数", SINGULAR["constant"][0]))
        np.testing.assert_array_equal(detector.decision_function(_frame(_gaussian(10, seed=14))), before)
        assert detector.n_features_in_ == 4


# -- the detector face: predict, decision_function, inputs, parameters ------------------------


@pytest.mark.parametrize("cls", DETECTORS)
def test_predict_and_decision_function_agree(cls):
    detector = cls().fit(_gaussian())
    X = _gaussian(300, seed=15, shift=1.0)
    labels = detector.predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    np.testing.assert_array_equal(np.where(detector.decision_function(X) >= 0, 1, -1), labels)
    statistic = {"HotellingT2": "t2", "MahalanobisTaguchi": "md"}.get(cls.__name__)
    if statistic:
        np.testing.assert_array_equal(detector.score_samples(X), -getattr(detector, statistic)(X))
    detector.set_threshold(2 * detector.threshold_)
    assert (detector.predict(X) == -1).sum() < (labels == -1).sum()


@pytest.mark.parametrize("cls", DETECTORS)
def test_input_checks(cls):
    detector = cls().fit(_frame(_gaussian()))
    with pytest.raises(InvalidDataError, match="列の数が合いません: モデルは 4 列 .*データは 3 列です"):
        detector.predict(_gaussian()[:, :3])
    with pytest.raises(ColumnNotFoundError, match="'回転数'"):
        detector.predict(_frame(_gaussian()).drop(columns="回転数"))
    X = _gaussian(20, seed=16)
    reordered = _frame(X)[["回転数", "温度", "圧力", "流量"]]
    np.testing.assert_array_equal(detector.decision_function(reordered), detector.decision_function(_frame(X)))
    bad = _frame(_gaussian())
    bad.iloc[7, 2] = np.nan
    with pytest.raises(InvalidDataError, match="列 '流量' に欠損値 \\(NaN・空欄\\) があります: 7 行目"):
        cls().fit(bad)
    with pytest.raises(InvalidDataError, match="欠損値"):
        detector.predict(bad)
    with pytest.raises(InvalidDataError, match=f"疎行列.*{cls.__name__} は疎行列を受け付けません"):
        cls().fit(sparse.csr_matrix(_gaussian()))
    with pytest.raises(InvalidDataError, match="1 次元の配列です"):
        cls().fit(_gaussian()[:, 0])


@pytest.mark.parametrize("cls", DETECTORS)
def test_fit_and_scoring_do_not_change_the_callers_data(cls):
    X = _gaussian()
    frame = _frame(X.copy())
    X_before, frame_before = X.copy(), frame.copy()
    detector = cls().fit(X)
    detector.feature_contributions(X)
    cls().fit(frame).predict(frame)
    np.testing.assert_array_equal(X, X_before)
    pd.testing.assert_frame_equal(frame, frame_before)
    scores = detector.decision_function(X)
    X[:] = 0.0  # the fitted detector keeps no view of the caller's array
    np.testing.assert_array_equal(detector.decision_function(X_before), scores)


@pytest.mark.parametrize(
    ("detector", "fitted"),
    [
        (HotellingT2(covariance="mcd", threshold="chi2", alpha=0.05, random_state=3), "covariance_"),
        (MahalanobisTaguchi(threshold=3.0), "correlation_"),
        (PCAMonitor(n_components=2, threshold_percentile=97.5), "pca_"),
    ],
)
def test_clone_and_get_params(detector, fitted):
    params = detector.get_params()
    detector.fit(_gaussian())
    copy = clone(detector)
    assert copy.get_params() == params == detector.get_params()
    assert not hasattr(copy, fitted) and hasattr(detector, fitted)
    np.testing.assert_array_equal(copy.fit(_gaussian()).decision_function(_gaussian()), detector.decision_function(_gaussian()))
    assert copy.set_params(**params) is copy


@pytest.mark.parametrize(
    ("detector", "message"),
    [
        (HotellingT2(covariance="robust"), 'covariance は "empirical"、"ledoit_wolf"、"mcd" のどれか'),
        (HotellingT2(threshold="auto"), 'threshold は "f"、"chi2"、"percentile" のどれか'),
        (HotellingT2(alpha=0.0), "alpha \\(誤報率\\) は 0 より大きく 1 より小さい値"),
        (HotellingT2(alpha=1.5), "alpha"),
        (HotellingT2(threshold_percentile=0), "threshold_percentile は 0 より大きく 100 以下"),
        (MahalanobisTaguchi(threshold=-1.0), "threshold は正の有限の値"),
        (MahalanobisTaguchi(threshold=np.inf), "threshold は正の有限の値"),
        (MahalanobisTaguchi(threshold="4"), None),  # a number as text is fine
        (PCAMonitor(n_components=0), "n_components は 1 以上 4 以下"),
        (PCAMonitor(n_components=1.0), "n_components"),
        (PCAMonitor(n_components=5), "n_components"),
        (PCAMonitor(n_components=True), "n_components"),
        (PCAMonitor(threshold_percentile=101), "threshold_percentile"),
    ],
)
def test_parameters_are_checked_in_fit(detector, message):
    if message is None:
        assert detector.fit(_gaussian()).threshold_ == 4.0
        return
    with pytest.raises(InvalidDataError, match=message):
        detector.fit(_gaussian())


# -- scikit-learn's estimator checks ------------------------------------------------------------

# The failures that only want scikit-learn's English messages (aeutil's are Japanese; the
# exception type and the behaviour are right, see test_expected_failures_are_message_only).
MESSAGE_ONLY = {
    "check_n_features_in_after_fitting": "英語のメッセージ (列の数の検査は行っている)",
    "check_complex_data": "英語のメッセージ (複素数は ValueError で断っている)",
    "check_estimators_empty_data_messages": "英語のメッセージ (空のデータは ValueError で断っている)",
    "check_fit2d_predict1d": "英語のメッセージ (1 次元の配列は ValueError で断っている)",
    "check_fit2d_1sample": "英語のメッセージ (1 行のデータは ValueError で断っている)",
}


# check_outliers_train and check_outliers_fit_predict want the training rows' predictions to
# contain both -1 and 1. A threshold from a distribution (HotellingT2's F and χ² limits at 1%)
# or a convention (MT's MD > 4) rightly flags none of the 300 standardized blob points those
# checks use, so the checks run here on settings whose threshold comes from the training data;
# test_default_settings_fail_only_the_outlier_fraction_checks covers the defaults.
@parametrize_with_checks(
    [
        HotellingT2(threshold="percentile"),
        HotellingT2(covariance="mcd"),
        HotellingT2(covariance="ledoit_wolf", threshold="chi2", alpha=0.05),
        MahalanobisTaguchi(threshold=2.0),
        PCAMonitor(),
    ],
    expected_failed_checks=lambda estimator: MESSAGE_ONLY,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "detector", (HotellingT2(), HotellingT2(covariance="ledoit_wolf"), MahalanobisTaguchi())
)
def test_default_settings_fail_only_the_outlier_fraction_checks(detector):
    with warnings.catch_warnings():
        # check_array_api_input is skipped by scikit-learn itself unless SCIPY_ARRAY_API is set
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(detector, on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert len(results) > 40 and {r["status"] for r in results} <= {"passed", "failed", "skipped"}
    assert failed == set(MESSAGE_ONLY) | {"check_outliers_train", "check_outliers_fit_predict"}


MESSAGE_CALLS = {
    "check_n_features_in_after_fitting": lambda cls: cls().fit(_gaussian()).predict(_gaussian()[:, :3]),
    "check_complex_data": lambda cls: cls().fit(_gaussian() + 1j),
    "check_estimators_empty_data_messages": lambda cls: cls().fit(np.empty((3, 0))),
    "check_fit2d_predict1d": lambda cls: cls().fit(_gaussian()).predict(_gaussian()[0]),
    "check_fit2d_1sample": lambda cls: cls().fit(_gaussian(1)),
}


@pytest.mark.parametrize("cls", DETECTORS)
@pytest.mark.parametrize("name", sorted(MESSAGE_ONLY))
def test_expected_failures_are_message_only(cls, name):
    """Each expected failure raises the ValueError scikit-learn asks for, in Japanese."""
    with pytest.raises(ValueError) as info:
        MESSAGE_CALLS[name](cls)
    assert isinstance(info.value, InvalidDataError)
    assert JA_TEXT.search(str(info.value))


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    for detector in (HotellingT2(), MahalanobisTaguchi(), PCAMonitor()):
        for method in ("predict", "decision_function", "feature_contributions"):
            with pytest.raises(NotFittedError, match="まだ学習されていません"):
                getattr(detector, method)(_gaussian())
