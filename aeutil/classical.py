r"""工場ですでに使われている古典的な多変量の異常検知: ホテリングの T²、MT 法、PCA による監視。

3 つとも :class:`aeutil.AutoEncoderDetector` と同じ顔をした scikit-learn 流の外れ値検出器です
(:class:`aeutil.BaseDetector` を継承し、``fit``・``predict`` (異常なら -1)・
``decision_function``・``score_samples``・``set_threshold`` が同じように使えます)。
どれも列ごとの寄与度 ``feature_contributions`` を持ち、学習後は閾値 ``threshold_``、学習データの異常度
``train_scores_``、列の数 ``n_features_in_``、列名 ``feature_names_in_`` (DataFrame で学習したとき)、
メッセージ用の列名 ``columns_`` (配列なら ``x0, x1, ...``) を持ちます。計算は ``float64`` です (入力の検査は
``aeutil.validation.to_matrix`` と同じ)。逆行列が求まらないデータ (値が一定の列、ほかの列の
一次結合になっている列) は、その列を名指しするエラーにします (NaN や inf を黙って返しません)。
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.covariance import EmpiricalCovariance, LedoitWolf, MinCovDet

from .base import BaseDetector, refuse_sparse
from .thresholds import check_percentile
from .validation import InvalidDataError, to_matrix

__all__ = ["HotellingT2", "MahalanobisTaguchi", "PCAMonitor", "SINGULAR_TOLERANCE"]  # noqa: F822

#: 相関行列の (最小固有値 / 最大固有値) がこれより小さいと「(ほぼ) 特異」として断る基準。``float64``
#: (約 16 桁) の逆行列は、この比の逆数 (条件数) の桁数だけ精度を失う: 1e-10 なら残りは約 6 桁。
#: 列の重複や合計の列のような厳密な一次従属では比は 1e-15 程度になり、必ず断られる。
SINGULAR_TOLERANCE = 1e-10


# -- shared input handling and checks ------------------------------------------------------


def _full_precision(X, checked: np.ndarray, names: list[str] | None = None) -> np.ndarray:
    """``to_matrix`` で検査済みの入力を ``float64`` で読み直す (読めない特殊な型なら検査済みの値)。"""
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame) and names is not None:
        texts = [str(c) for c in X.columns]
        if any(texts.count(name) != 1 for name in names):
            return checked.astype(np.float64)
        X = X.iloc[:, [texts.index(name) for name in names]]
    try:
        values = np.array(X, dtype=np.float64, copy=True)  # never a view of the caller's data
    except (TypeError, ValueError, OverflowError):
        return checked.astype(np.float64)
    return values.reshape(checked.shape) if values.size == checked.size else checked.astype(np.float64)


def _choice(value, name: str, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        shown = "、".join(f'"{a}"' for a in allowed)
        raise InvalidDataError(f"{name} は {shown} のどれかにしてください (いまは {value!r})。")
    return value


def _check_rows(n: int, needed: int, p: int, what: str) -> None:
    if n < needed:
        raise InvalidDataError(
            f"学習データの行が少なすぎます: {what}には、列が {p} 列なら {needed} 行以上必要ですが、"
            f"{n} 行しかありません。"
        )


def _number(value, name: str, low: float, high: float, rule: str) -> float:
    """``low < value < high`` の数を ``float`` で返す (そうでなければ ``rule`` を示して断る)。"""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not low < number < high:
        raise InvalidDataError(f"{name} は{rule}にしてください (いまは {value!r})。")
    return number


def _standardization(data: np.ndarray, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """列ごとの平均と標準偏差 (``n`` で割る)。値が一定の列は名指しで断る。"""
    constant = np.ptp(data, axis=0) == 0
    if constant.any():
        listed = "、".join(
            f"{columns[j]!r} (すべて {data[0, j]:g})" for j in np.flatnonzero(constant)
        )
        raise InvalidDataError(
            f"学習データの列 {listed} は値が一定です。ばらつきが 0 の列では標準化も共分散行列の"
            "逆行列もできません (異常度が無限大になります)。この列を除いてから渡してください。"
        )
    return data.mean(axis=0), data.std(axis=0)


def _check_invertible(cov: np.ndarray, columns: list[str], scale: np.ndarray, advice: str) -> None:
    r"""相関行列の固有値の比 :math:`\lambda_{\min} / \lambda_{\max} <` :data:`SINGULAR_TOLERANCE` なら断る。

    :math:`\lambda_{\min}` の固有ベクトル :math:`v` は :math:`\sum_j v_j z_j \approx 0` を満たすので、
    その係数を元の単位に直して関係式として見せる。"""
    d = np.sqrt(np.diag(cov))
    eigenvalues, vectors = np.linalg.eigh(cov / np.outer(d, d))
    ratio = eigenvalues[0] / eigenvalues[-1]
    if ratio >= SINGULAR_TOLERANCE:
        return
    weight = np.abs(vectors[:, eigenvalues < SINGULAR_TOLERANCE * eigenvalues[-1]]).max(axis=1)
    involved = np.flatnonzero(weight > 1e-3 * weight.max())
    coef = vectors[:, 0] / (d * scale)  # the same relation in the columns' own units
    coef = coef / coef[np.argmax(np.abs(coef))]
    terms = [j for j in range(len(coef)) if abs(coef[j]) > 1e-3]
    coef = coef * np.sign(coef[terms[0]])  # start with a plus sign
    signs = ["-" if coef[j] < 0 else "+" for j in terms]
    sizes = ["" if np.isclose(abs(coef[j]), 1) else f"{abs(coef[j]):.3g}·" for j in terms]
    relation = " ".join(f"{s} {a}{columns[j]}" for s, a, j in zip(signs, sizes, terms, strict=True))[2:]
    raise InvalidDataError(
        f"学習データの列 {'、'.join(repr(columns[j]) for j in involved)} が (ほぼ) 一次従属です: "
        "ある列がほかの列の一次結合で表せるので、共分散行列の逆行列が求まりません "
        f"(相関行列の最小固有値 / 最大固有値 = {max(ratio, 0.0):.2e}、基準 {SINGULAR_TOLERANCE:g})。"
        f"見つかった関係: {relation} ≈ 一定。どれか 1 列を除いてください{advice}。"
    )


def _quadratic_parts(diff: np.ndarray, precision: np.ndarray) -> np.ndarray:
    r"""二次形式 :math:`d^\top P d` を列ごとに分けた :math:`c_j = d_j (P d)_j` (行ごとの和が二次形式)。"""
    return diff * (diff @ precision)


class _ClassicalDetector(BaseDetector):
    """入力の変換と列の数の検査を共有する土台 (学習済みの印は ``threshold_``)。"""

    def _training_data(self, X) -> tuple[np.ndarray, list[str]]:
        refuse_sparse(X, "学習データ", type(self).__name__)
        data = _full_precision(X, to_matrix(X, source="学習データ", allow_1d=False))
        if isinstance(X, pd.DataFrame):
            return data, [str(c) for c in X.columns]
        return data, [f"x{j}" for j in range(data.shape[1])]

    def _store_columns(self, X, columns: list[str]) -> None:
        self.columns_ = columns
        self.n_features_in_ = len(columns)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        else:
            self.__dict__.pop("feature_names_in_", None)

    def _matrix(self, X) -> np.ndarray:
        self._check_fitted()
        refuse_sparse(X, "データ", type(self).__name__)
        names = None
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            names = list(self.feature_names_in_)
            checked = to_matrix(X, names, source="データ")
        else:
            checked = to_matrix(X, source="データ", allow_1d=False)
        if checked.shape[1] != self.n_features_in_:
            raise InvalidDataError(
                f"列の数が合いません: モデルは {self.n_features_in_} 列 "
                f"({', '.join(self.columns_)}) で学習されていますが、データは {checked.shape[1]} 列です。"
            )
        return _full_precision(X, checked, names)


# -- Hotelling's T² ---------------------------------------------------------------------------

class HotellingT2(_ClassicalDetector):
    r"""ホテリングの :math:`T^2` による異常検知 (scikit-learn 互換)。

    学習データ (正常データ) の平均 :math:`\mu` と共分散行列 :math:`S` から、新しい行 :math:`x` の

    .. math:: T^2 = (x - \mu)^\top S^{-1} (x - \mu)

    を異常度にします (マハラノビス距離の 2 乗)。列どうしの相関を考えるので、1 列ずつ見れば正常な範囲でも
    「組み合わせがおかしい」行を見つけられます。:math:`S` は scikit-learn の推定器で、列ごとに標準化した
    データから求めて元の単位に戻します (:math:`T^2` は単位の取り方によらないので結果は同じ)。

    閾値 (``threshold``) の決め方は 3 つです (:math:`n` は学習データの行数、:math:`p` は列数、
    :math:`\alpha` は誤報率 ``alpha``)。

    - ``"f"`` (既定): 正常データが多変量正規分布に従うなら、学習に使っていない新しい行の :math:`T^2` は

      .. math:: T^2 \sim \frac{p (n+1)(n-1)}{n (n-p)} F(p,\, n-p)

      に従うので、その上側 :math:`\alpha` 点を閾値にします (:math:`n > p` が必要)。この式は標本共分散行列
      (``n - 1`` で割る。``numpy.cov`` と同じ) が前提で、``"ledoit_wolf"``・``"mcd"`` では近似です。
    - ``"chi2"``: :math:`n` が大きいときの近似 :math:`T^2 \sim \chi^2(p)` の上側 :math:`\alpha` 点。
    - ``"percentile"``: 学習データの :math:`T^2` の ``threshold_percentile`` パーセンタイル
      (分布を仮定しない。オートエンコーダの既定と同じ考え方)。

    Parameters
    ----------
    covariance : {"empirical", "ledoit_wolf", "mcd"}, default "empirical"
        :math:`S` の推定方法。``"empirical"`` は標本共分散行列 (``EmpiricalCovariance`` の値を
        :math:`n/(n-1)` 倍したもの)。``"ledoit_wolf"`` は縮小推定 (``LedoitWolf``。列がほぼ一次従属でも、
        行が列より少なくても逆行列が求まる)。``"mcd"`` は外れ値に強い推定 (``MinCovDet``)。
    threshold : {"f", "chi2", "percentile"}, default "f"
        閾値の決め方 (上の説明)。
    alpha : float, default 0.01
        ``"f"``・``"chi2"`` の誤報率 (正常な行を異常と判定する確率)。0 と 1 の間。
    threshold_percentile : float, default 95.0
        ``"percentile"`` のときのパーセンタイル。
    random_state : int, default 0
        ``"mcd"`` が部分集合を選ぶ乱数のシード (グローバルな乱数の状態は使わない・変えない)。

    Attributes
    ----------
    location_ : numpy.ndarray
        :math:`\mu` (元の単位。``"mcd"`` では頑健な位置)。
    covariance_ : numpy.ndarray
        :math:`S` (元の単位)。
    """

    def __init__(
        self,
        covariance: str = "empirical",
        threshold: str = "f",
        alpha: float = 0.01,
        threshold_percentile: float = 95.0,
        random_state: int = 0,
    ) -> None:
        self.covariance = covariance
        self.threshold = threshold
        self.alpha = alpha
        self.threshold_percentile = threshold_percentile
        self.random_state = random_state

    def fit(self, X, y=None) -> HotellingT2:
        """平均と共分散行列を推定し、閾値を決める。

        使えない値、少なすぎる行 (``"ledoit_wolf"`` 以外は列数 + 1 行以上)、値が一定の列や一次従属な列
        (列名を示す)、範囲外の引数は :class:`~aeutil.InvalidDataError` になります。
        """
        kind = _choice(self.covariance, "covariance", ("empirical", "ledoit_wolf", "mcd"))
        method = _choice(self.threshold, "threshold", ("f", "chi2", "percentile"))
        alpha = _number(self.alpha, "alpha (誤報率)", 0.0, 1.0, " 0 より大きく 1 より小さい値")
        pct = check_percentile(self.threshold_percentile, "threshold_percentile")
        data, columns = self._training_data(X)
        n, p = data.shape
        _check_rows(n, 2, p, "共分散行列を求める")
        if kind != "ledoit_wolf" or method == "f":
            what = "F 分布の閾値を求める" if kind == "ledoit_wolf" else "共分散行列の逆行列を求める"
            _check_rows(n, p + 1, p, what)
        mean, scale = _standardization(data, columns)
        z = (data - mean) / scale
        advice = '。列を減らせないときは covariance="ledoit_wolf" (縮小推定) を使ってください'
        if kind != "ledoit_wolf":
            _check_invertible(np.cov(z, rowvar=False).reshape(p, p), columns, scale, advice)
        if kind == "mcd":
            estimator = MinCovDet(random_state=self.random_state).fit(z)
        else:
            estimator = (LedoitWolf if kind == "ledoit_wolf" else EmpiricalCovariance)().fit(z)
        cov_z = estimator.covariance_
        if kind == "empirical":
            cov_z = cov_z * (n / (n - 1))  # numpy.cov's unbiased S (the F formula assumes it)
        _check_invertible(cov_z, columns, scale, advice)
        precision = np.linalg.inv(cov_z)
        precision = (precision + precision.T) / 2
        train = _quadratic_parts(z - estimator.location_, precision).sum(axis=1)
        if method == "f":
            factor = p * (n + 1) * (n - 1) / (n * (n - p))
            limit = factor * stats.f.ppf(1 - alpha, p, n - p)
        elif method == "chi2":
            limit = stats.chi2.ppf(1 - alpha, p)
        else:
            limit = np.percentile(train, pct)
        self._store_columns(X, columns)
        self._mean, self._scale = mean, scale
        self._location_z, self._precision_z = estimator.location_, precision
        self.location_ = mean + scale * estimator.location_
        self.covariance_ = cov_z * np.outer(scale, scale)
        self.train_scores_ = train
        self._set_threshold(limit)
        return self

    def _centred(self, X) -> np.ndarray:
        return (self._matrix(X) - self._mean) / self._scale - self._location_z

    def t2(self, X) -> np.ndarray:
        r"""行ごとの :math:`T^2 = (x - \mu)^\top S^{-1} (x - \mu)` (``float64``、大きいほど異常)。"""
        return _quadratic_parts(self._centred(X), self._precision_z).sum(axis=1)

    def feature_contributions(self, X) -> np.ndarray:
        r"""行ごと・列ごとの :math:`T^2` の寄与度。

        .. math:: c_j = (x - \mu)_j \, [S^{-1} (x - \mu)]_j

        行ごとの和は :math:`T^2` にちょうど等しくなります (丸め誤差の範囲で)。:math:`d = x - \mu` とし、
        :math:`\hat d_j` を、ほかの列から :math:`S` による回帰で予想した :math:`d_j`、:math:`s^2_{j\cdot}` を
        その残差の分散とすると :math:`c_j = d_j (d_j - \hat d_j) / s^2_{j\cdot}` と書けるので、列どうしに相関が
        あると **負にもなります**: :math:`d_j` が 0 と予想 :math:`\hat d_j` の間にある (ほかの列に
        つられて同じ向きに、しかし予想より控えめに動いた) 列です。相関がなければ
        :math:`c_j = d_j^2 / S_{jj} \ge 0` です。各列を条件付きで見る MYT 分解などもありますが、
        ここでは和がちょうど :math:`T^2` になる、いちばん簡単なこの分解を使います。

        Returns
        -------
        numpy.ndarray
            形 ``(行数, 列数)`` の寄与度 (``float64``)。列の順は学習時と同じ (``columns_``)。
        """
        return _quadratic_parts(self._centred(X), self._precision_z)

    def _anomaly_scores(self, X) -> np.ndarray:
        return self.t2(X)


# -- the Mahalanobis-Taguchi system ----------------------------------------------------------


class MahalanobisTaguchi(_ClassicalDetector):
    r"""MT 法 (マハラノビス・タグチ・システム) による異常検知 (scikit-learn 互換)。

    正常な状態を集めたデータを **単位空間** と呼び、学習データとして渡します。単位空間の列ごとの
    平均 :math:`m_j` と標準偏差 :math:`\sigma_j` (:math:`n` で割る) で標準化し
    (:math:`z_j = (x_j - m_j) / \sigma_j`)、単位空間の相関行列 :math:`R` を使って

    .. math:: \mathrm{MD} = \frac{z^\top R^{-1} z}{k}

    (:math:`k` は列の数) を異常度にします。:math:`k` で割るので、単位空間そのものの MD の平均は
    **ちょうど 1** になります (:math:`\frac{1}{n}\sum_i z_i z_i^\top = R` だから
    :math:`\frac{1}{n}\sum_i z_i^\top R^{-1} z_i = \mathrm{tr}(R^{-1} R) = k`)。
    :class:`HotellingT2` の :math:`T^2` とは :math:`\mathrm{MD} = T^2 n / ((n-1) k)` の関係です
    (共分散を :math:`n` で割るか :math:`n - 1` で割るかだけが違う)。

    **閾値 4 について**: MT 法の実務でよく使われる目安です。単位空間の MD が平均 1 なので、
    MD = 4 は「平均的な正常の 4 倍」、:math:`\sqrt{\mathrm{MD}} = 2` を 1 列の場合の
    「標準偏差 2 つ分の距離」になぞらえたものです。確率から導いた値ではない **慣習** で、
    誤報率は列の数で大きく変わります。正常データが多変量正規分布に従い単位空間が大きければ
    :math:`k\,\mathrm{MD} \sim \chi^2(k)` なので、MD > 4 となる正常な行の割合は
    :math:`P(\chi^2_k > 4k)`: :math:`k=1` で約 4.6%、:math:`k=5` で約 0.13%、
    :math:`k=10` で約 0.002% です。実際の運用では、異常の事例の MD と比べて決め直してください
    (:meth:`set_threshold`)。

    Parameters
    ----------
    threshold : float, default 4.0
        MD の閾値 (0 より大きい値)。

    Attributes
    ----------
    mean_ : numpy.ndarray
        単位空間の列ごとの平均。
    std_ : numpy.ndarray
        単位空間の列ごとの標準偏差 (:math:`n` で割る)。
    correlation_ : numpy.ndarray
        単位空間の相関行列 :math:`R`。
    """

    def __init__(self, threshold: float = 4.0) -> None:
        self.threshold = threshold

    def fit(self, X, y=None) -> MahalanobisTaguchi:
        """単位空間の平均・標準偏差・相関行列を求める。

        使えない値、列数 + 1 行より少ない行、値が一定の列や一次従属な列 (列名を示す)、範囲外の引数は
        :class:`~aeutil.InvalidDataError` になります。
        """
        limit = _number(self.threshold, "threshold", 0.0, np.inf, "正の有限の値")
        data, columns = self._training_data(X)
        n, k = data.shape
        _check_rows(n, k + 1, k, "相関行列の逆行列を求める")
        mean, std = _standardization(data, columns)
        z = (data - mean) / std
        corr = (z.T @ z) / n  # the unit space's correlation matrix (diagonal 1)
        _check_invertible(corr, columns, std, "")
        inverse = np.linalg.inv(corr)
        self._store_columns(X, columns)
        self.mean_, self.std_ = mean, std
        self.correlation_ = corr
        self._inverse = (inverse + inverse.T) / 2
        self.train_scores_ = _quadratic_parts(z, self._inverse).sum(axis=1) / k
        self._set_threshold(limit)
        return self

    def md(self, X) -> np.ndarray:
        r"""行ごとの MD :math:`= z^\top R^{-1} z / k` (``float64``、大きいほど異常)。"""
        return self.feature_contributions(X).sum(axis=1)

    def feature_contributions(self, X) -> np.ndarray:
        r"""行ごと・列ごとの MD の寄与度 :math:`c_j = z_j (R^{-1} z)_j / k`。

        行ごとの和は MD にちょうど等しくなります (丸め誤差の範囲で)。:class:`HotellingT2` の寄与度と
        同じ分解なので、列どうしに相関があると **負の値にもなります**。

        Returns
        -------
        numpy.ndarray
            形 ``(行数, 列数)`` の寄与度 (``float64``)。
        """
        z = (self._matrix(X) - self.mean_) / self.std_
        return _quadratic_parts(z, self._inverse) / self.n_features_in_

    def _anomaly_scores(self, X) -> np.ndarray:
        return self.md(X)


def __getattr__(name: str):
    # PCAMonitor lives in aeutil.pcamonitor (one module per job); importable from here too
    if name in ("PCAMonitor", "Q_LIMIT_FLOOR"):
        from . import pcamonitor

        return getattr(pcamonitor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
