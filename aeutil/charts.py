r"""管理図 (EWMA・CUSUM・1 点ずつの閾値) で、異常度の流れから変化を見つける。

検出器が 1 行ごとに出す異常度を時刻の順に並べると、工程の変化は「1 点だけ大きな値」ではなく
「少しずつ、ずっと高い」形で現れることがあります。1 点ずつ閾値と比べる判定
(:func:`threshold_chart`。シューハート管理図の上側) は大きな変化にすぐ反応しますが、
小さな持続的な変化は見逃しがちです。過去の点を積み上げる EWMA 管理図 (:func:`ewma_chart`) と
CUSUM 管理図 (:func:`cusum_chart`) は、そうした小さな変化を早く見つけます。

3 つとも同じ形の結果 (:class:`ControlChart`) を返すので、同じデータで警報までの遅れ
(:func:`detection_delay`) を比べられます。描くのは :func:`plot_control_chart` です。

管理状態 (正常なとき) の平均 :math:`\mu` と標準偏差 :math:`\sigma` は、引数 ``mean``・``std`` で
渡すか、先頭の ``n_reference`` 点 (正常と分かっている期間) から推定します。教科書の平均ランレングス
(ARL。警報が出るまでの平均の点数) は、値が正規分布に従い、点どうしが独立なことを前提にしています。
異常度は右に裾の長い分布 (再構成誤差、:math:`T^2` など) で、時系列の窓は重なると相関するので、
表の ARL は目安です。誤報の頻度は、正常な期間の異常度で確かめてください。
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .thresholds import check_scores
from .validation import InvalidDataError

__all__ = [
    "ControlChart",
    "cusum_chart",
    "detection_delay",
    "ewma_chart",
    "plot_control_chart",
    "threshold_chart",
]


@dataclass(frozen=True, eq=False)
class ControlChart:
    r"""管理図の計算結果 (:func:`ewma_chart`・:func:`cusum_chart`・:func:`threshold_chart` が返す)。

    Attributes
    ----------
    method : str
        ``"ewma"``、``"cusum"``、``"threshold"`` のどれか。
    scores : numpy.ndarray
        入力の異常度 :math:`x_t` (``float64``)。
    statistic : numpy.ndarray
        管理図に描く統計量 (EWMA は :math:`z_t`、CUSUM は :math:`C_t^+`、閾値は :math:`x_t` そのもの)。
    upper_limit : numpy.ndarray
        点ごとの上側管理限界。``statistic > upper_limit`` の点が警報。
    alarms : numpy.ndarray
        点ごとの警報 (``bool``)。
    mean : float or None
        管理状態の平均 :math:`\mu` (閾値を直接渡した :func:`threshold_chart` では ``None``)。
    std : float or None
        管理状態の標準偏差 :math:`\sigma` (同じく ``None`` のことがある)。
    lower_statistic : numpy.ndarray or None
        両側の CUSUM の下側 :math:`-C_t^-` (負の向きに描く)。ほかは ``None``。
    lower_limit : numpy.ndarray or None
        両側の管理図の下側管理限界 (EWMA は :math:`\mu - \text{幅}`、CUSUM は :math:`-H`)。
        下側の統計量 (``lower_statistic``、なければ ``statistic``) がこれより小さい点も警報。
    index : pandas.Index
        点の名前 (``pandas.Series`` で渡したときはそのインデックス、ほかは 0 始まりの番号)。
    params : dict
        使った設定 (``{"lam": 0.2, "L": 3.0}`` など。図の題に使う)。
    """

    method: str
    scores: np.ndarray
    statistic: np.ndarray
    upper_limit: np.ndarray
    alarms: np.ndarray
    mean: float | None
    std: float | None
    lower_statistic: np.ndarray | None = None
    lower_limit: np.ndarray | None = None
    index: pd.Index = field(default_factory=lambda: pd.RangeIndex(0))
    params: dict = field(default_factory=dict)

    @property
    def first_alarm(self) -> int | None:
        """最初の警報の位置 (0 始まり)。警報がなければ ``None``。"""
        hits = np.flatnonzero(self.alarms)
        return int(hits[0]) if hits.size else None

    def to_frame(self) -> pd.DataFrame:
        """点ごとの値の表 (列 ``score``・``statistic``・``upper_limit``・(あれば下側)・``alarm``)。"""
        columns = {"score": self.scores, "statistic": self.statistic, "upper_limit": self.upper_limit}
        if self.lower_statistic is not None:
            columns["lower_statistic"] = self.lower_statistic
        if self.lower_limit is not None:
            columns["lower_limit"] = self.lower_limit
        columns["alarm"] = self.alarms
        return pd.DataFrame(columns, index=self.index)


# -- inputs --------------------------------------------------------------------------------


def _scores(scores) -> tuple[np.ndarray, pd.Index]:
    values = check_scores(scores, "scores")
    index = scores.index if isinstance(scores, (pd.Series, pd.DataFrame)) else None
    return values, (index if index is not None else pd.RangeIndex(len(values)))


def _positive(value, name: str, *, upper: float = math.inf, allow_zero: bool = False) -> float:
    """``0 < value <= upper`` (``allow_zero`` なら 0 も可) の有限の数を ``float`` で返す。"""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    low_ok = number >= 0 if allow_zero else number > 0
    if isinstance(value, bool) or not (low_ok and number <= upper and math.isfinite(number)):
        low = "0 以上" if allow_zero else "0 より大きく"
        high = f" {upper:g} 以下" if math.isfinite(upper) else "有限"
        raise InvalidDataError(f"{name} は {low}{high}の数にしてください (いまは {value!r})。")
    return number


def _reference(values: np.ndarray, mean, std, n_reference) -> tuple[float, float]:
    r"""管理状態の :math:`\mu`・:math:`\sigma`。渡されなかったほうを先頭 ``n_reference`` 点から推定する。

    推定は平均と標本標準偏差 (``n - 1`` で割る)。
    """
    if mean is not None and std is not None and n_reference is not None:
        raise InvalidDataError(
            "mean と std を両方渡したときは n_reference は使いません。どちらか一方にしてください。"
        )
    if (mean is None or std is None) and n_reference is None:
        raise InvalidDataError(
            "管理状態の平均と標準偏差が分かりません。mean と std を渡すか、n_reference で"
            "推定に使う先頭の点の数 (正常と分かっている期間) を指定してください。"
        )
    if n_reference is not None:
        if isinstance(n_reference, bool) or not isinstance(n_reference, (int, np.integer)) or not (
            2 <= n_reference <= len(values)
        ):
            raise InvalidDataError(
                f"n_reference は 2 以上 {len(values)} (点の数) 以下の整数にしてください "
                f"(いまは {n_reference!r})。"
            )
        reference = values[: int(n_reference)]
    if mean is None:
        mu = float(reference.mean())
    else:
        mu = float(mean)
        if not math.isfinite(mu):
            raise InvalidDataError(f"mean は有限の数にしてください (いまは {mean!r})。")
    if std is not None:
        return mu, _positive(std, "std")
    sigma = float(reference.std(ddof=1))
    if not sigma > 0:
        raise InvalidDataError(
            f"先頭 {int(n_reference)} 点の異常度がすべて同じ値 ({reference[0]:g}) なので、標準偏差が 0 です。"
            "n_reference を増やすか、std を渡してください。"
        )
    return mu, sigma


# -- the charts ----------------------------------------------------------------------------


def ewma_chart(
    scores,
    *,
    lam: float = 0.2,
    L: float = 3.0,
    mean: float | None = None,
    std: float | None = None,
    n_reference: int | None = None,
    two_sided: bool = False,
    limits: str = "exact",
) -> ControlChart:
    r"""EWMA (指数重み付き移動平均) 管理図。

    異常度 :math:`x_t` (:math:`t = 1, 2, \dots`) の指数重み付き移動平均

    .. math:: z_t = \lambda x_t + (1 - \lambda) z_{t-1}, \qquad z_0 = \mu

    を、管理限界

    .. math:: \mu \pm L \sigma \sqrt{\frac{\lambda}{2 - \lambda} \left( 1 - (1 - \lambda)^{2t} \right)}

    と比べます (:math:`z_t` の標準偏差の :math:`L` 倍。:math:`t` が大きくなると
    :math:`L \sigma \sqrt{\lambda / (2 - \lambda)}` に近づく)。:math:`\lambda` が小さいほど過去を長く
    覚え、小さな持続的な変化に敏感になります。異常度は大きくなる向きだけが異常なので、既定では
    上側の限界だけで警報を出します (``two_sided=True`` で両側)。

    平均ランレングス (値が正規分布で独立、:math:`\mu`・:math:`\sigma` が既知、両側、``limits="asymptotic"``)
    は、Lucas & Saccucci (1990) の表 (Montgomery『Introduction to Statistical Quality Control』の
    EWMA の ARL の表) で :math:`\lambda = 0.1, L = 2.814` なら変化なし 500、:math:`1\sigma` のずれで 10.3、
    :math:`2\sigma` で 4.4、:math:`\lambda = 0.2, L = 2.962` なら 500・10.5・3.7 です。
    上側だけなら、変化なしの ARL はおよそ 2 倍になります。

    Parameters
    ----------
    scores : array-like of shape (n,)
        時刻の順に並べた異常度 (``pandas.Series`` ならインデックスを結果に残す)。
    lam : float, default 0.2
        重み :math:`\lambda` (0 より大きく 1 以下。1 なら 1 点ずつの判定と同じ)。
    L : float, default 3.0
        管理限界の幅 (:math:`z_t` の標準偏差の何倍か)。
    mean, std : float, optional
        管理状態の :math:`\mu` と :math:`\sigma`。省略したほうは先頭 ``n_reference`` 点から推定する。
    n_reference : int, optional
        :math:`\mu`・:math:`\sigma` の推定に使う先頭の点の数 (正常と分かっている期間)。
        この期間も管理図には含まれる (警報も出うる)。
    two_sided : bool, default False
        下側の管理限界を下回った点も警報にするか。
    limits : {"exact", "asymptotic"}, default "exact"
        ``"exact"`` は上の式どおり時刻とともに広がる限界 (始めのほうの変化を早く見つける)、
        ``"asymptotic"`` は一定の限界 :math:`\mu \pm L \sigma \sqrt{\lambda / (2 - \lambda)}`
        (ARL の表はこちらの値)。

    Returns
    -------
    ControlChart
        ``statistic`` が :math:`z_t`。
    """
    x, index = _scores(scores)
    lam = _positive(lam, "lam", upper=1.0)
    L = _positive(L, "L")
    if limits not in ("exact", "asymptotic"):
        raise InvalidDataError(f'limits は "exact" か "asymptotic" にしてください (いまは {limits!r})。')
    mu, sigma = _reference(x, mean, std, n_reference)
    z = np.empty_like(x)
    previous = mu  # z_0 = μ
    for t, value in enumerate(x.tolist()):
        previous = lam * value + (1.0 - lam) * previous  # z_t = λ x_t + (1 - λ) z_{t-1}
        z[t] = previous
    if limits == "exact":
        t = np.arange(1, len(x) + 1)
        width = L * sigma * np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2 * t)))
    else:
        width = np.full(len(x), L * sigma * math.sqrt(lam / (2.0 - lam)))
    upper, lower = mu + width, mu - width
    alarms = z > upper
    if two_sided:
        alarms |= z < lower
    params = {"lam": lam, "L": L, "limits": limits, "two_sided": bool(two_sided)}
    lower_limit = lower if two_sided else None
    return ControlChart("ewma", x, z, upper, alarms, mu, sigma, None, lower_limit, index, params)


def cusum_chart(
    scores,
    *,
    k: float = 0.5,
    h: float = 5.0,
    mean: float | None = None,
    std: float | None = None,
    n_reference: int | None = None,
    two_sided: bool = False,
) -> ControlChart:
    r"""表形式の CUSUM (累積和) 管理図。

    基準値 :math:`\mu` から :math:`K = k\sigma` 以上はみ出した分だけを積み上げ、

    .. math:: C_t^+ = \max\left(0,\; x_t - (\mu + K) + C_{t-1}^+\right), \qquad C_0^+ = 0

    が :math:`H = h\sigma` を超えたら警報です。:math:`k` は見つけたいずれの大きさ (:math:`\sigma` 単位)
    の半分にするのが定石です (既定の :math:`k = 0.5` は :math:`1\sigma` のずれ向き)。両側
    (``two_sided=True``) では下側 :math:`C_t^- = \max(0,\; (\mu - K) - x_t + C_{t-1}^-)` も使い、
    :math:`C_t^- > H` も警報にします。警報のあとも統計量は 0 に戻さずに続けます。

    平均ランレングス (値が正規分布で独立、:math:`\mu`・:math:`\sigma` が既知、:math:`k = 0.5, h = 5`)
    は、Montgomery『Introduction to Statistical Quality Control』の表で、両側の変化なし 465、
    :math:`1\sigma` のずれで 10.4、:math:`2\sigma` で 4.01 です。上側だけなら変化なしはおよそ 2 倍
    (Siegmund の近似で約 938、Brook–Evans のマルコフ連鎖で約 931) で、ずれたときの値はほぼ同じです。

    Parameters
    ----------
    scores : array-like of shape (n,)
        時刻の順に並べた異常度。
    k : float, default 0.5
        許容のずれ :math:`K` (:math:`\sigma` 単位、0 以上)。
    h : float, default 5.0
        判定の境目 :math:`H` (:math:`\sigma` 単位)。
    mean, std, n_reference : optional
        :func:`ewma_chart` と同じ。
    two_sided : bool, default False
        下側の CUSUM も使うか。

    Returns
    -------
    ControlChart
        ``statistic`` が :math:`C_t^+`、``upper_limit`` が :math:`H`。両側なら ``lower_statistic`` が
        :math:`-C_t^-`、``lower_limit`` が :math:`-H`。
    """
    x, index = _scores(scores)
    k = _positive(k, "k", allow_zero=True)
    h = _positive(h, "h")
    mu, sigma = _reference(x, mean, std, n_reference)
    K, H = k * sigma, h * sigma
    upper = _one_sided_cusum(x - (mu + K))  # C_t^+ = max(0, x_t - (μ + K) + C_{t-1}^+)
    alarms = upper > H
    lower_statistic = lower_limit = None
    if two_sided:
        lower = _one_sided_cusum((mu - K) - x)  # C_t^- = max(0, (μ - K) - x_t + C_{t-1}^-)
        alarms |= lower > H
        lower_statistic, lower_limit = -lower, np.full(len(x), -H)
    params = {"k": k, "h": h, "two_sided": bool(two_sided)}
    limit = np.full(len(x), H)
    return ControlChart(
        "cusum", x, upper, limit, alarms, mu, sigma, lower_statistic, lower_limit, index, params
    )


def _one_sided_cusum(excess: np.ndarray) -> np.ndarray:
    """``C_t = max(0, excess_t + C_{t-1})``, ``C_0 = 0``, one point at a time."""
    out = np.empty_like(excess)
    c = 0.0
    for t, value in enumerate(excess.tolist()):
        c = max(0.0, value + c)
        out[t] = c
    return out


def threshold_chart(
    scores,
    threshold: float | None = None,
    *,
    L: float = 3.0,
    mean: float | None = None,
    std: float | None = None,
    n_reference: int | None = None,
) -> ControlChart:
    r"""1 点ずつ閾値と比べる判定 (比べる相手としての基準)。

    異常度 :math:`x_t` が閾値を超えた点をそのまま警報にします。検出器の ``predict`` と同じ判定です。
    閾値は ``threshold`` で渡す (検出器の ``threshold_`` など) か、省略すると
    :math:`\mu + L \sigma` (シューハートの個々の値の管理図の上側) にします。

    値が正規分布で独立、:math:`\mu`・:math:`\sigma` が既知なら、1 点が限界を超える確率は
    :math:`p = P(Z > L - \delta)` (:math:`\delta` はずれの大きさ、:math:`\sigma` 単位) で、ARL は
    :math:`1 / p` です: :math:`L = 3` なら変化なし約 741、:math:`1\sigma` のずれで約 44、
    :math:`2\sigma` で約 6.3、:math:`3\sigma` で 2。大きなずれには EWMA・CUSUM より早いこともありますが、
    小さなずれにはずっと遅れます。

    Parameters
    ----------
    scores : array-like of shape (n,)
        時刻の順に並べた異常度。
    threshold : float, optional
        閾値。渡したときは ``mean``・``std``・``n_reference`` は使わない (渡すとエラー)。
    L : float, default 3.0
        ``threshold`` を省略したときの :math:`\mu + L\sigma` の :math:`L`。
    mean, std, n_reference : optional
        :func:`ewma_chart` と同じ。

    Returns
    -------
    ControlChart
        ``statistic`` が :math:`x_t` そのもの。
    """
    x, index = _scores(scores)
    if threshold is not None:
        if mean is not None or std is not None or n_reference is not None:
            raise InvalidDataError(
                "threshold を渡したときは mean・std・n_reference は使いません。どちらか一方にしてください。"
            )
        try:
            limit = float(threshold)
        except (TypeError, ValueError):
            limit = math.nan
        if not math.isfinite(limit):
            raise InvalidDataError(f"threshold は有限の数にしてください (いまは {threshold!r})。")
        mu = sigma = None
        params = {"threshold": limit}
    else:
        L = _positive(L, "L")
        mu, sigma = _reference(x, mean, std, n_reference)
        limit = mu + L * sigma
        params = {"L": L}
    limits = np.full(len(x), limit)
    return ControlChart("threshold", x, x.copy(), limits, x > limit, mu, sigma, None, None, index, params)


def detection_delay(alarms, change_point: int) -> int | None:
    """変化点から数えて、何点目で初めて警報が出たか (変化点の点そのもので警報なら 1)。

    変化点より前の警報 (誤報) は数えません。値は変化が始まってからのランレングスなので、
    多くの試行で平均すると平均ランレングス (ARL) になります。

    Parameters
    ----------
    alarms : ControlChart or array-like of bool
        管理図、または点ごとの警報。
    change_point : int
        変化が始まった点の位置 (0 始まり)。

    Returns
    -------
    int or None
        ``最初の警報の位置 - change_point + 1``。変化点以降に警報がなければ ``None``。
    """
    flags = alarms.alarms if isinstance(alarms, ControlChart) else np.asarray(alarms)
    if flags.ndim != 1 or flags.dtype != bool:
        raise InvalidDataError(
            f"alarms は管理図 (ControlChart) か、真偽値の 1 次元配列にしてください (いまの形 {flags.shape}、"
            f"型 {flags.dtype})。"
        )
    if isinstance(change_point, bool) or not isinstance(change_point, (int, np.integer)) or not (
        0 <= change_point < len(flags)
    ):
        raise InvalidDataError(
            f"change_point は 0 以上 {len(flags) - 1} 以下の整数 (点の位置) にしてください "
            f"(いまは {change_point!r})。"
        )
    hits = np.flatnonzero(flags[int(change_point) :])
    return int(hits[0]) + 1 if hits.size else None


# -- plotting ------------------------------------------------------------------------------

_TITLES = {"ewma": "EWMA 管理図", "cusum": "CUSUM 管理図", "threshold": "1 点ずつの閾値判定"}
_YLABELS = {"ewma": "EWMA 統計量 $z_t$", "cusum": "累積和 $C_t^+$", "threshold": "異常度"}


def plot_control_chart(
    chart: ControlChart,
    *,
    change_point: int | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (9.0, 3.5),
):
    """管理図を描く (統計量・管理限界・警報の点・最初の警報、あれば変化点)。

    ``pyplot`` を使わずに ``matplotlib.figure.Figure`` を作って返します (``show`` は呼びません)。
    日本語は :func:`aeutil.setup_japanese_font` で表示します。

    Parameters
    ----------
    chart : ControlChart
        :func:`ewma_chart`・:func:`cusum_chart`・:func:`threshold_chart` の結果。
    change_point : int, optional
        縦の破線で示す変化点の位置 (0 始まり)。
    title : str, optional
        図の題。省略すると管理図の種類と設定。
    figsize : tuple of float, default (9.0, 3.5)
        図の大きさ (インチ)。

    Returns
    -------
    matplotlib.figure.Figure
        描いた図。上側管理限界の線のラベルは ``"上側管理限界"``。
    """
    from matplotlib.figure import Figure

    from .plotting import setup_japanese_font

    if not isinstance(chart, ControlChart):
        raise InvalidDataError(
            f"chart には ewma_chart などが返す ControlChart を渡してください (いまは {type(chart).__name__})。"
        )
    setup_japanese_font()
    x = np.arange(len(chart.scores)) if isinstance(chart.index, pd.RangeIndex) else chart.index
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    if chart.method == "ewma":
        ax.plot(x, chart.scores, color="0.75", lw=0.8, label="異常度")
    ax.plot(x, chart.statistic, color="C0", lw=1.4, label=_YLABELS[chart.method])
    if chart.lower_statistic is not None:
        ax.plot(x, chart.lower_statistic, color="C2", lw=1.4, label="下側の累積和 $-C_t^-$")
    ax.plot(x, chart.upper_limit, color="C3", ls="--", lw=1.2, label="上側管理限界")
    if chart.lower_limit is not None:
        ax.plot(x, chart.lower_limit, color="C3", ls=":", lw=1.2, label="下側管理限界")
    if chart.mean is not None and chart.method != "cusum":
        ax.axhline(chart.mean, color="0.4", lw=0.8, label="中心線 (管理状態の平均)")
    flagged = np.flatnonzero(chart.alarms)
    if flagged.size:
        where = np.asarray(x)[flagged]
        heights = chart.statistic
        if chart.lower_statistic is not None:  # a lower-side alarm sits on the lower statistic
            heights = np.where(chart.statistic > chart.upper_limit, heights, chart.lower_statistic)
        ax.scatter(where, heights[flagged], s=12, color="C3", zorder=3, label=f"警報 ({flagged.size} 点)")
        ax.axvline(where[0], color="C3", lw=1.0, alpha=0.6, label="最初の警報")
    if change_point is not None:
        ax.axvline(np.asarray(x)[int(change_point)], color="k", ls="--", lw=1.0, label="変化点")
    numbers = {key: value for key, value in chart.params.items() if isinstance(value, float)}
    settings = "、".join(f"{key}={value:g}" for key, value in numbers.items())
    ax.set_title(title if title is not None else f"{_TITLES[chart.method]} ({settings})")
    ax.set_xlabel("時刻" if not isinstance(chart.index, pd.RangeIndex) else "点の番号")
    ax.set_ylabel(_YLABELS[chart.method])
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    return fig
