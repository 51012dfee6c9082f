"""時系列センサーデータ: 模擬データ・スライディングウィンドウ・イベント単位の評価。

回転機械 (モーターで回すポンプ) の 4 つのセンサーを模擬する ``simulate_machine``、
時系列を窓に切る ``make_windows``、窓ごとの再構成誤差を時刻ごとの異常度に戻す
``window_scores_to_points``、異常の区間 (イベント) 単位で検知を評価する
``evaluate_events`` をまとめています。

チャンネル名は、コードで扱いやすいよう ASCII で「量_単位」の形にそろえています
(``vibration_mm_s`` など)。図に使う日本語の名前は ``CHANNEL_LABELS`` にあります。
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .plotting import setup_japanese_font
from .validation import ColumnNotFoundError, InvalidDataError, to_matrix

__all__ = [
    "ANOMALY_KINDS",
    "ANOMALY_KIND_LABELS",
    "CHANNELS",
    "CHANNEL_LABELS",
    "AnomalySpec",
    "AnomalyInterval",
    "EventReport",
    "default_anomalies",
    "simulate_machine",
    "intervals_to_frame",
    "make_windows",
    "window_coverage",
    "window_scores_to_points",
    "evaluate_events",
    "plot_sensor_data",
]

#: 模擬データのチャンネル (列名)。
CHANNELS: tuple[str, ...] = ("vibration_mm_s", "temperature_C", "current_A", "pressure_MPa")

#: 図に使うチャンネルの日本語名。
CHANNEL_LABELS: dict[str, str] = {
    "vibration_mm_s": "振動速度 [mm/s]",
    "temperature_C": "軸受温度 [°C]",
    "current_A": "モーター電流 [A]",
    "pressure_MPa": "吐出圧力 [MPa]",
}

#: 注入できる異常の種類。
ANOMALY_KINDS: tuple[str, ...] = ("spike", "level_shift", "drift", "bearing_fault", "stuck")

#: 異常の種類の日本語名。
ANOMALY_KIND_LABELS: dict[str, str] = {
    "spike": "スパイク",
    "level_shift": "レベルシフト",
    "drift": "ドリフト",
    "bearing_fault": "軸受の傷",
    "stuck": "センサーの固着",
}

#: 種類ごとの既定のチャンネルと大きさ (チャンネルの標準偏差を単位とする)。
_KIND_DEFAULTS: dict[str, tuple[str, float]] = {
    "spike": ("current_A", 6.0),
    "level_shift": ("pressure_MPa", 1.5),
    "drift": ("temperature_C", 2.0),
    "bearing_fault": ("vibration_mm_s", 0.8),
    "stuck": ("current_A", 0.0),
}

#: 軸受の外輪の傷が出す周波数と回転周波数の比 (実際の軸受でよく見る非整数の値)。
BEARING_FAULT_ORDER = 3.57

_KIND_COLORS = {
    "spike": "tab:red",
    "level_shift": "tab:purple",
    "drift": "tab:orange",
    "bearing_fault": "tab:brown",
    "stuck": "tab:gray",
}


@dataclass(frozen=True)
class AnomalySpec:
    """注入する異常 1 つの指定。

    Parameters
    ----------
    kind : {"spike", "level_shift", "drift", "bearing_fault", "stuck"}
        異常の種類。

        - ``"spike"``: 1 チャンネルに短いパルス (区間のあいだ一定の値を足す)。
        - ``"level_shift"``: 1 チャンネルの値が区間のあいだ一定量ずれる (段差)。
        - ``"drift"``: 1 チャンネルのずれが区間の中で 0 から直線的に増える (区間の終わりで校正されて戻る)。
        - ``"bearing_fault"``: 振動に、回転周波数の整数倍でない周波数
          (回転周波数の ``BEARING_FAULT_ORDER`` 倍) の正弦波が加わり、振幅が区間の中で増えていく。
        - ``"stuck"``: センサーの値が、区間の直前の値のまま動かなくなる。
    start : int
        区間の最初のサンプル番号 (0 始まり)。
    length : int
        区間の長さ (サンプル数)。区間は ``start`` 以上 ``start + length`` 未満。
    channel : str, optional
        異常を入れるチャンネル。省略すると種類ごとの既定 (``"bearing_fault"`` は必ず振動)。
    magnitude : float, optional
        大きさ。そのチャンネルの (異常を入れる前の) 標準偏差を単位とする。
        ``"spike"`` と ``"level_shift"`` は足す量、``"drift"`` は区間の最後でのずれ、
        ``"bearing_fault"`` は区間の最後での振幅。負の値なら下向き。``"stuck"`` では使わない。
    """

    kind: str
    start: int
    length: int
    channel: str | None = None
    magnitude: float | None = None


@dataclass(frozen=True)
class AnomalyInterval:
    """正解の異常区間 1 つ。

    Attributes
    ----------
    start : int
        最初のサンプル番号 (この番号を含む)。
    end : int
        区間の終わり (この番号を含まない。Python のスライス ``start:end`` と同じ)。
    kind : str
        異常の種類。
    channel : str
        異常を入れたチャンネル。
    """

    start: int
    end: int
    kind: str
    channel: str

    @property
    def length(self) -> int:
        """区間の長さ (サンプル数)。"""
        return self.end - self.start


def default_anomalies(n_samples: int) -> list[AnomalySpec]:
    """テスト期間に入れる既定の異常の一覧を作る。

    5 種類の異常を 2〜3 回ずつ、重ならないように並べます。位置と長さは
    ``n_samples`` に比例させるので、長さを変えても同じ並びになります。最後のスパイクは
    データの末尾の 10 サンプル以内に置きます (窓に切ったときに末尾を取りこぼさないかの確認用)。

    Parameters
    ----------
    n_samples : int
        データの長さ (1000 以上)。

    Returns
    -------
    list of AnomalySpec
        異常の指定の一覧 (開始の早い順)。
    """
    n = int(n_samples)
    if n < 1000:
        raise InvalidDataError(
            f"既定の異常を入れるには 1000 サンプル以上が必要です (いまは n_samples={n})。"
        )

    def at(frac: float) -> int:
        return int(round(frac * n))

    short, long = max(3, at(0.03)), max(5, at(0.055))
    return [
        AnomalySpec("spike", at(0.05), 3, "current_A", 6.0),
        AnomalySpec("level_shift", at(0.10), short, "pressure_MPa", 1.5),
        AnomalySpec("drift", at(0.17), long, "temperature_C", 2.0),
        AnomalySpec("bearing_fault", at(0.28), long, "vibration_mm_s", 0.8),
        AnomalySpec("stuck", at(0.38), short, "current_A"),
        AnomalySpec("spike", at(0.45), 3, "pressure_MPa", -6.0),
        AnomalySpec("level_shift", at(0.51), short, "current_A", -1.5),
        AnomalySpec("stuck", at(0.59), short, "pressure_MPa"),
        AnomalySpec("drift", at(0.66), long, "pressure_MPa", 2.0),
        AnomalySpec("bearing_fault", at(0.76), long, "vibration_mm_s", 0.5),
        AnomalySpec("stuck", at(0.87), short, "temperature_C"),
        AnomalySpec("spike", n - 10, 3, "vibration_mm_s", 6.0),
    ]


def _check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidDataError(f"{name} は {minimum} 以上の整数にしてください (いまは {value!r})。")
    return int(value)


def _load_profile(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """負荷率 (0.45〜1.0) の時系列: 6〜20 秒ごとに設定が変わり、数秒かけて移る。"""
    load = np.empty(n)
    level = rng.uniform(0.5, 1.0)
    target = level
    tau = 3.0 * fs  # samples
    alpha = 1.0 / tau
    next_change = 0
    for i in range(n):
        if i >= next_change:
            target = rng.uniform(0.45, 1.0)
            next_change = i + int(rng.uniform(6.0, 20.0) * fs)
        level += alpha * (target - level)
        load[i] = level
    return load


def _first_order_lag(x: np.ndarray, tau_samples: float) -> np.ndarray:
    out = np.empty_like(x)
    state = x[0]
    alpha = 1.0 / tau_samples
    for i, value in enumerate(x):
        state += alpha * (value - state)
        out[i] = state
    return out


#: 負荷 100% でのすべり (回転数が無負荷のときより何割下がるか)。誘導モーターの典型的な値。
SLIP_AT_FULL_LOAD = 0.04


def _rotation_angle(load: np.ndarray, fs: float, rotation_hz: float) -> np.ndarray:
    """回転角 [rad]。誘導モーターは負荷が増えると少し遅くなる (すべり)。"""
    speed_hz = rotation_hz * (1.0 - SLIP_AT_FULL_LOAD * load)
    return 2.0 * np.pi * np.cumsum(speed_hz) / fs


def _clean_signals(
    n: int, fs: float, rotation_hz: float, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    load = _load_profile(n, fs, rng)
    amplitude = 2.0 + 1.2 * load  # mm/s, grows with load
    # the waveform's shape (harmonic amplitudes and phases) belongs to the machine, not to the
    # seed; only the shaft's angle at the first sample is random
    w = _rotation_angle(load, fs, rotation_hz) + rng.uniform(0.0, 2.0 * np.pi)
    vibration = amplitude * (
        np.sin(w) + 0.35 * np.sin(2 * w + 0.8) + 0.15 * np.sin(3 * w + 2.1)
    ) + rng.normal(0.0, 0.25, n)
    temperature = 38.0 + 22.0 * _first_order_lag(load, 15.0 * fs) + rng.normal(0.0, 0.08, n)
    current = 18.0 + 24.0 * load + rng.normal(0.0, 0.25, n)
    pressure = 0.20 + 0.40 * load + rng.normal(0.0, 0.006, n)
    signals = {
        "vibration_mm_s": vibration,
        "temperature_C": temperature,
        "current_A": current,
        "pressure_MPa": pressure,
    }
    return signals, w


def _resolve_specs(
    anomalies: str | Iterable[AnomalySpec] | None, n: int
) -> list[AnomalySpec]:
    if anomalies is None:
        return []
    if isinstance(anomalies, str):
        if anomalies != "default":
            raise InvalidDataError(
                f"anomalies={anomalies!r} は使えません。None、\"default\"、"
                "AnomalySpec のリストのどれかを渡してください。"
            )
        return default_anomalies(n)
    specs = list(anomalies)
    for i, spec in enumerate(specs):
        if not isinstance(spec, AnomalySpec):
            raise InvalidDataError(
                f"anomalies の {i} 番目が AnomalySpec ではありません: {spec!r}"
            )
    return specs


def _check_spec(spec: AnomalySpec, i: int, n: int) -> tuple[str, float]:
    where = f"anomalies の {i} 番目 ({spec.kind!r})"
    if spec.kind not in ANOMALY_KINDS:
        raise InvalidDataError(
            f"{where}: 異常の種類 {spec.kind!r} には対応していません。"
            f"使えるもの: {', '.join(ANOMALY_KINDS)}"
        )
    default_channel, default_magnitude = _KIND_DEFAULTS[spec.kind]
    channel = spec.channel or default_channel
    if channel not in CHANNELS:
        raise ColumnNotFoundError(
            f"{where}: チャンネル {channel!r} はありません。使えるチャンネル: {', '.join(CHANNELS)}"
        )
    if spec.kind == "bearing_fault" and channel != "vibration_mm_s":
        raise InvalidDataError(f"{where}: 軸受の傷は振動 'vibration_mm_s' にだけ入れられます。")
    _check_positive_int(spec.length, f"{where} の length")
    if isinstance(spec.start, bool) or not isinstance(spec.start, (int, np.integer)):
        raise InvalidDataError(f"{where} の start は整数にしてください (いまは {spec.start!r})。")
    if spec.start < 0 or spec.start + spec.length > n:
        raise InvalidDataError(
            f"{where}: 区間 {spec.start}〜{spec.start + spec.length - 1} がデータの範囲 "
            f"0〜{n - 1} からはみ出しています。"
        )
    magnitude = default_magnitude if spec.magnitude is None else float(spec.magnitude)
    if not np.isfinite(magnitude):
        raise InvalidDataError(f"{where} の magnitude が有限の数ではありません。")
    return channel, magnitude


def simulate_machine(
    n_samples: int = 6000,
    *,
    sampling_rate_hz: float = 50.0,
    rotation_hz: float = 5.0,
    seed: int = 0,
    anomalies: str | Iterable[AnomalySpec] | None = None,
) -> tuple[pd.DataFrame, list[AnomalyInterval]]:
    """回転機械 (モーターで回すポンプ) のセンサーデータを模擬する。

    負荷率 (45〜100%) が 6〜20 秒ごとに変わる運転を考え、一定の周期でサンプリングした
    4 つのチャンネルを作ります。教材として数分のデータに変化が収まるよう、実際の設備より
    時間を縮めてあります。

    - ``vibration_mm_s`` (振動速度): 回転周波数の正弦波と 2 倍・3 倍の高調波に雑音を加えたもの。
      振幅は負荷とともに大きくなる。誘導モーターなので、回転数は負荷 100% で無負荷より
      4% 下がる (すべり)。
    - ``temperature_C`` (軸受温度): 負荷に遅れて (時定数 15 秒で) ゆっくり追従する。
    - ``current_A`` (モーター電流): 負荷にほぼ比例する。
    - ``pressure_MPa`` (吐出圧力): 負荷にほぼ比例する。

    電流と圧力はどちらも負荷で決まるので、互いに連動して動きます。正常データの
    「チャンネルどうしの関係」と「振動の波形」がオートエンコーダに学ばせたいものです。

    異常を入れても、入れない場合とまったく同じ乱数で正常な信号を作り、そのうえに異常を
    加えます。そのため、同じ ``seed`` で異常なし・ありを作って比べると、値が違うのは正解の
    区間の中だけです。

    Parameters
    ----------
    n_samples : int, default 6000
        サンプル数 (既定で 50 Hz × 120 秒)。
    sampling_rate_hz : float, default 50.0
        サンプリング周波数 [Hz]。
    rotation_hz : float, default 5.0
        無負荷での回転周波数 [Hz] (5 Hz = 300 rpm)。軸受の傷の周波数 (この
        ``BEARING_FAULT_ORDER`` 倍) がサンプリング周波数の半分 (ナイキスト周波数) 未満になる必要がある。
    seed : int, default 0
        乱数のシード。学習用とテスト用には別の値を使う。
    anomalies : None, "default" or list of AnomalySpec, default None
        注入する異常。``None`` なら異常なし (学習データ向け)、``"default"`` なら
        ``default_anomalies`` の一覧 (テストデータ向け)。区間は重なってはいけない。

    Returns
    -------
    data : pandas.DataFrame
        サンプル番号をインデックスとし、列 ``time_s`` (経過秒)、4 つのチャンネル
        (``CHANNELS``)、正解ラベル ``anomaly`` (bool) と ``anomaly_kind``
        (異常の種類。正常なサンプルは空文字列) を持つ。
    intervals : list of AnomalyInterval
        正解の異常区間 (開始の早い順)。

    Raises
    ------
    InvalidDataError
        引数が不正、異常の区間がデータからはみ出す・重なる、種類が不明。
    ColumnNotFoundError
        異常を入れるチャンネルが存在しない。
    """
    n = _check_positive_int(n_samples, "n_samples", minimum=2)
    fs = float(sampling_rate_hz)
    f_rot = float(rotation_hz)
    if not (np.isfinite(fs) and fs > 0):
        raise InvalidDataError(f"sampling_rate_hz は正の数にしてください (いまは {sampling_rate_hz!r})。")
    if not (np.isfinite(f_rot) and f_rot > 0):
        raise InvalidDataError(f"rotation_hz は正の数にしてください (いまは {rotation_hz!r})。")
    if BEARING_FAULT_ORDER * f_rot >= fs / 2:
        raise InvalidDataError(
            f"rotation_hz={f_rot} ではサンプリング周波数 {fs} Hz で軸受の傷の周波数 "
            f"({BEARING_FAULT_ORDER * f_rot:.1f} Hz) を表せません。"
            f"rotation_hz を {fs / 2 / BEARING_FAULT_ORDER:.2f} Hz 未満にしてください。"
        )
    specs = _resolve_specs(anomalies, n)
    resolved = [(spec, *_check_spec(spec, i, n)) for i, spec in enumerate(specs)]
    resolved.sort(key=lambda item: item[0].start)
    for (a, _, _), (b, _, _) in zip(resolved, resolved[1:], strict=False):
        if b.start < a.start + a.length:
            raise InvalidDataError(
                f"異常の区間が重なっています: {a.kind!r} ({a.start}〜{a.start + a.length - 1}) と "
                f"{b.kind!r} ({b.start}〜{b.start + b.length - 1})。"
            )

    rng = np.random.default_rng(seed)
    signals, angle = _clean_signals(n, fs, f_rot, rng)
    scales = {name: float(np.std(values)) for name, values in signals.items()}
    t = np.arange(n) / fs
    fault_phase = np.random.default_rng([int(seed), 1]).uniform(0.0, 2.0 * np.pi)

    labels = np.zeros(n, dtype=bool)
    kinds = np.full(n, "", dtype=object)
    intervals: list[AnomalyInterval] = []
    for spec, channel, magnitude in resolved:
        s, e = int(spec.start), int(spec.start + spec.length)
        x = signals[channel]
        size = magnitude * scales[channel]
        ramp = np.arange(1, e - s + 1) / (e - s)  # ends at 1 on the last sample
        if spec.kind in ("spike", "level_shift"):
            x[s:e] += size
        elif spec.kind == "drift":
            x[s:e] += size * ramp
        elif spec.kind == "bearing_fault":
            x[s:e] += size * ramp * np.sin(BEARING_FAULT_ORDER * angle[s:e] + fault_phase)
        else:  # stuck
            x[s:e] = x[s - 1] if s > 0 else x[0]
        labels[s:e] = True
        kinds[s:e] = spec.kind
        intervals.append(AnomalyInterval(s, e, spec.kind, channel))

    data = pd.DataFrame({"time_s": t, **signals})
    data["anomaly"] = labels
    data["anomaly_kind"] = pd.Series(kinds, dtype=object).astype(str)
    return data, intervals


def intervals_to_frame(
    intervals: Iterable[AnomalyInterval], sampling_rate_hz: float | None = None
) -> pd.DataFrame:
    """異常区間の一覧を表 (DataFrame) にする。

    Parameters
    ----------
    intervals : iterable of AnomalyInterval
        異常区間。
    sampling_rate_hz : float, optional
        与えると、開始・終了の秒 (``start_s``, ``end_s``) の列も加える。

    Returns
    -------
    pandas.DataFrame
        列 ``start``, ``end`` (含まない), ``length``, ``kind``, ``kind_ja``, ``channel``。
    """
    items = _as_intervals(intervals, n_points=None)
    frame = pd.DataFrame(
        {
            "start": [iv.start for iv in items],
            "end": [iv.end for iv in items],
            "length": [iv.length for iv in items],
            "kind": [iv.kind for iv in items],
            "kind_ja": [ANOMALY_KIND_LABELS.get(iv.kind, iv.kind) for iv in items],
            "channel": [iv.channel for iv in items],
        }
    )
    if sampling_rate_hz is not None:
        frame["start_s"] = frame["start"] / float(sampling_rate_hz)
        frame["end_s"] = frame["end"] / float(sampling_rate_hz)
    return frame


# --- sliding windows ---------------------------------------------------------


def _window_starts(n: int, window: int, stride: int) -> np.ndarray:
    starts = np.arange(0, n - window + 1, stride)
    if starts[-1] != n - window:  # (n - window) % stride != 0: cover the tail
        starts = np.append(starts, n - window)
    return starts


def make_windows(
    values: pd.DataFrame | np.ndarray | Sequence,
    window: int,
    stride: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """時系列を、長さ ``window`` の窓に ``stride`` サンプルずつずらして切り出す。

    窓の開始位置は ``0, stride, 2*stride, ...`` です。``(n - window) % stride != 0`` の
    ときはそれだけでは最後の数サンプルがどの窓にも入らないので、**最後の点で終わる窓**
    (開始位置 ``n - window``) を 1 つ追加します。この窓は 1 つ前の窓との間隔が ``stride``
    より短くなりますが、これですべての点が少なくとも 1 つの窓に入ります。
    時系列の末尾は監視ではいちばん新しいデータなので、取りこぼすわけにはいきません。

    Parameters
    ----------
    values : pandas.DataFrame or array-like, shape (n, channels)
        時系列。行が時刻、列がチャンネル。1 次元配列は 1 チャンネルとして扱う。
        DataFrame なら全部の列を使う (必要な列だけを選んでから渡す)。
    window : int
        窓の長さ (サンプル数)。1 以上 ``n`` 以下。
    stride : int, default 1
        窓をずらす幅 (サンプル数)。1 以上 ``window`` 以下 (それより大きいと、窓の間の点が
        どの窓にも入らない)。

    Returns
    -------
    windows : numpy.ndarray, shape (n_windows, window, channels)
        切り出した窓 (``float32``、元のデータとは共有しない新しい配列)。
    starts : numpy.ndarray, shape (n_windows,)
        各窓の開始位置 (サンプル番号)。窓 ``k`` は ``starts[k]`` から
        ``starts[k] + window - 1`` までの点を含む。

    Raises
    ------
    InvalidDataError
        ``window`` や ``stride`` が不正 (``stride > window`` を含む)、データが窓より短い、
        欠損値や数値でない値がある。
    """
    data = to_matrix(values, source="時系列データ")
    n = data.shape[0]
    window = _check_positive_int(window, "window")
    stride = _check_positive_int(stride, "stride")
    if window > n:
        raise InvalidDataError(
            f"窓の長さ window={window} が時系列の長さ {n} より長いので、窓を 1 つも作れません。"
        )
    if stride > window:
        raise InvalidDataError(
            f"stride={stride} が窓の長さ window={window} より大きいと、窓と窓の間の点が"
            "どの窓にも入りません。stride は window 以下にしてください。"
        )
    starts = _window_starts(n, window, stride)
    view = np.lib.stride_tricks.sliding_window_view(data, window, axis=0)  # (n-w+1, c, w)
    windows = np.ascontiguousarray(view[starts].transpose(0, 2, 1))
    return windows, starts


def _check_starts(starts, window: int, n_points: int) -> np.ndarray:
    window = _check_positive_int(window, "window")
    n_points = _check_positive_int(n_points, "n_points")
    arr = np.asarray(starts)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise InvalidDataError("starts は窓の開始位置 (整数) の 1 次元配列にしてください。")
    if arr.size and (arr.min() < 0 or arr.max() + window > n_points):
        raise InvalidDataError(
            f"窓 (開始位置 {int(arr.min())}〜{int(arr.max())}、長さ {window}) が "
            f"時系列の範囲 0〜{n_points - 1} からはみ出しています。"
        )
    return arr.astype(np.int64)


def window_coverage(starts, window: int, n_points: int) -> np.ndarray:
    """各時刻が、いくつの窓に含まれるかを数える。

    Parameters
    ----------
    starts : array-like of int
        窓の開始位置 (``make_windows`` の戻り値)。
    window : int
        窓の長さ。
    n_points : int
        時系列の長さ。

    Returns
    -------
    numpy.ndarray, shape (n_points,)
        各時刻を含む窓の数 (``int64``)。0 の時刻はどの窓にも入っていない。
    """
    arr = _check_starts(starts, window, n_points)
    diff = np.zeros(n_points + 1, dtype=np.int64)
    np.add.at(diff, arr, 1)
    np.add.at(diff, arr + window, -1)
    return np.cumsum(diff[:-1])


def window_scores_to_points(
    window_scores,
    starts,
    window: int,
    n_points: int,
    how: str = "mean",
) -> np.ndarray:
    """窓ごとの異常度を、時刻ごとの異常度に戻す。

    時刻 ``t`` の異常度は、``t`` を含むすべての窓
    (``starts[k] <= t < starts[k] + window`` となる ``k``) の異常度の平均 (``how="mean"``)
    または最大値 (``how="max"``) です。``make_windows`` で作った窓なら、末尾の点も含めて
    すべての時刻が少なくとも 1 つの窓に入るので、すべての時刻に値がつきます。

    Keras の公式サンプル「Timeseries anomaly detection using an Autoencoder」(keras.io) は、
    時刻 ``i`` を「``i`` を含む窓のうち、``i`` から始まる窓を除いた残りがすべて異常」のときに
    異常としています。そのうえ最初と最後の ``TIME_STEPS - 1`` 点はそもそも判定の対象に
    入らないので、データの末尾で起きた異常は (窓には入っているのに) 決して見つかりません。
    この関数は、点を含む窓を 1 つも落とさずに集計します。

    Parameters
    ----------
    window_scores : array-like, shape (n_windows,)
        窓ごとの異常度 (再構成誤差など)。
    starts : array-like of int, shape (n_windows,)
        各窓の開始位置。
    window : int
        窓の長さ。
    n_points : int
        時系列の長さ。
    how : {"mean", "max"}, default "mean"
        同じ時刻を含む窓の異常度のまとめ方。``"max"`` は異常の始まりに早く反応するが、
        異常の前後の正常な点にも高い値が広がりやすい。

    Returns
    -------
    numpy.ndarray, shape (n_points,)
        時刻ごとの異常度 (``float64``)。どの窓にも含まれない時刻は NaN。

    Raises
    ------
    InvalidDataError
        配列の長さが合わない、窓が時系列からはみ出す、``how`` が不正、異常度が有限でない。
    """
    if how not in ("mean", "max"):
        raise InvalidDataError(f"how は 'mean' か 'max' にしてください (いまは {how!r})。")
    scores = np.asarray(window_scores, dtype=np.float64)
    arr = _check_starts(starts, window, n_points)
    if scores.ndim != 1 or scores.shape[0] != arr.shape[0]:
        raise InvalidDataError(
            f"window_scores ({scores.shape}) と starts ({arr.shape}) の長さが合いません。"
        )
    if not np.isfinite(scores).all():
        raise InvalidDataError("window_scores に欠損値 (NaN) か無限大があります。")
    counts = window_coverage(arr, window, n_points)
    if how == "mean":
        # per-point sums, window offset by window offset (a cumulative sum of floats would drift)
        sums = np.zeros(n_points, dtype=np.float64)
        for offset in range(window):
            np.add.at(sums, arr + offset, scores)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = sums / counts
    else:
        out = np.full(n_points, -np.inf)
        for offset in range(window):
            np.maximum.at(out, arr + offset, scores)
    out[counts == 0] = np.nan
    return out


# --- event-level evaluation --------------------------------------------------


@dataclass
class EventReport:
    """イベント (異常区間) 単位の評価結果。

    Attributes
    ----------
    events : pandas.DataFrame
        異常区間ごとの結果。列 ``start``, ``end``, ``kind``, ``channel``, ``caught``
        (区間内の点が 1 つでも異常と判定されたか), ``first_flag`` (最初に判定された点、
        なければ -1), ``delay_samples``, ``delay_s`` (区間の始まりから最初に判定される
        までの遅れ。見逃しなら NaN)。
    summary : dict
        全体の指標。``n_events``, ``n_caught``, ``event_recall`` (見つけた区間の割合),
        ``mean_delay_s`` (見つけた区間の遅れの平均), ``point_fpr`` (区間の外の正常な点のうち
        異常と判定された割合), ``false_alarm_points``, ``false_alarm_episodes``
        (区間に触れない、連続して判定された点のかたまりの数)。
    """

    events: pd.DataFrame
    summary: dict = field(default_factory=dict)


def _as_intervals(intervals, n_points: int | None) -> list[AnomalyInterval]:
    if isinstance(intervals, pd.DataFrame):
        missing = [c for c in ("start", "end") if c not in intervals.columns]
        if missing:
            raise ColumnNotFoundError(
                f"区間の表に列 {', '.join(map(repr, missing))} がありません。"
            )
        rows = intervals.to_dict("records")
        items = [
            AnomalyInterval(int(r["start"]), int(r["end"]), str(r.get("kind", "")),
                            str(r.get("channel", "")))
            for r in rows
        ]
    else:
        items = []
        for i, iv in enumerate(intervals):
            if isinstance(iv, AnomalyInterval):
                items.append(iv)
                continue
            try:
                start, end, *rest = iv
            except (TypeError, ValueError):
                raise InvalidDataError(
                    f"区間の {i} 番目 {iv!r} は (start, end) か AnomalyInterval にしてください。"
                ) from None
            kind = str(rest[0]) if len(rest) > 0 else ""
            channel = str(rest[1]) if len(rest) > 1 else ""
            items.append(AnomalyInterval(int(start), int(end), kind, channel))
    for i, iv in enumerate(items):
        if iv.end <= iv.start or iv.start < 0 or (n_points is not None and iv.end > n_points):
            limit = "" if n_points is None else f" (データは 0〜{n_points - 1})"
            raise InvalidDataError(
                f"区間の {i} 番目 ({iv.start}〜{iv.end}、終わりは含まない) が不正です{limit}。"
            )
    return items


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """連続して True の区間 (start, end) の一覧。end は含まない。"""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def evaluate_events(
    point_flags,
    intervals,
    *,
    sampling_rate_hz: float = 1.0,
    tolerance: int = 0,
) -> EventReport:
    """時刻ごとの判定を、異常区間 (イベント) 単位で評価する。

    現場で知りたいのは「何点を当てたか」より「異常が起きたことに気づけたか、どれだけ
    遅れたか、何回空振りの警報を出したか」です。

    - 区間の中の点が 1 つでも異常と判定されていれば、その区間は **検知** されたとします。
    - **遅れ** は、区間の始まりから、区間の中で最初に異常と判定された点までのサンプル数 (と秒)。
    - **誤検知の回数** は、連続して異常と判定された点のかたまり (警報 1 回分) のうち、
      どの区間 (``tolerance`` だけ前後に広げたもの) にも触れないものの数です。区間に
      かかっているかたまりは、本物の異常への警報として数えます。
    - **点の誤検知率** は、区間の外の点 (``tolerance`` で広げた部分を除く) のうち、
      異常と判定された点の割合です。

    Parameters
    ----------
    point_flags : array-like of bool, shape (n_points,)
        時刻ごとの判定 (True = 異常)。0/1 も使える。-1/1 のラベルは ``pred == -1`` で
        変換してから渡す。
    intervals : list of AnomalyInterval, list of (start, end[, kind, channel]) or DataFrame
        正解の異常区間 (``end`` は含まない)。
    sampling_rate_hz : float, default 1.0
        サンプリング周波数。遅れを秒に直すのに使う。
    tolerance : int, default 0
        区間の前後に設ける猶予 (サンプル数)。窓で判定すると、異常の直前の点にも高い
        異常度がつくことがあります。その部分を誤検知に数えないための幅です。

    Returns
    -------
    EventReport
        区間ごとの表 ``events`` と全体の指標 ``summary``。

    Raises
    ------
    InvalidDataError
        判定が真偽値でない、区間がデータからはみ出す、引数が不正。
    """
    raw = np.asarray(point_flags)
    if raw.ndim != 1 or raw.size == 0:
        raise InvalidDataError("point_flags は時刻ごとの判定 (真偽値) の 1 次元配列にしてください。")
    if raw.dtype != bool:
        if not np.issubdtype(raw.dtype, np.number) or not np.isin(raw, (0, 1)).all():
            raise InvalidDataError(
                "point_flags は真偽値 (True = 異常) か 0/1 にしてください。"
                "-1/1 のラベルなら `pred == -1` で変換してから渡します。"
            )
    flags = raw.astype(bool)
    n = flags.shape[0]
    fs = float(sampling_rate_hz)
    if not (np.isfinite(fs) and fs > 0):
        raise InvalidDataError(f"sampling_rate_hz は正の数にしてください (いまは {sampling_rate_hz!r})。")
    tol = _check_positive_int(tolerance, "tolerance", minimum=0)
    items = _as_intervals(intervals, n)

    inside = np.zeros(n, dtype=bool)
    near = np.zeros(n, dtype=bool)
    rows = []
    for iv in items:
        inside[iv.start : iv.end] = True
        near[max(0, iv.start - tol) : min(n, iv.end + tol)] = True
        hits = np.flatnonzero(flags[iv.start : iv.end])
        caught = hits.size > 0
        delay = int(hits[0]) if caught else np.nan
        rows.append(
            {
                "start": iv.start,
                "end": iv.end,
                "kind": iv.kind,
                "channel": iv.channel,
                "caught": caught,
                "first_flag": iv.start + int(hits[0]) if caught else -1,
                "delay_samples": delay,
                "delay_s": delay / fs if caught else np.nan,
            }
        )
    events = pd.DataFrame(
        rows,
        columns=["start", "end", "kind", "channel", "caught", "first_flag", "delay_samples", "delay_s"],
    )
    outside = ~near
    episodes = [(s, e) for s, e in _runs(flags) if not near[s:e].any()]
    n_caught = int(events["caught"].sum()) if len(events) else 0
    summary = {
        "n_events": len(items),
        "n_caught": n_caught,
        "event_recall": n_caught / len(items) if items else np.nan,
        "mean_delay_s": float(events["delay_s"].mean()) if n_caught else np.nan,
        "point_fpr": float(flags[outside].mean()) if outside.any() else np.nan,
        "false_alarm_points": int(flags[outside].sum()),
        "false_alarm_episodes": len(episodes),
    }
    return EventReport(events=events, summary=summary)


# --- plotting ----------------------------------------------------------------


def plot_sensor_data(
    data: pd.DataFrame,
    intervals: Iterable[AnomalyInterval] | None = None,
    *,
    channels: Sequence[str] | None = None,
    scores: dict[str, np.ndarray] | None = None,
    threshold: float | None = None,
    time_column: str = "time_s",
    sampling_rate_hz: float | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """チャンネルと異常度を時間軸で縦に並べ、異常区間を色で塗って描く。

    Parameters
    ----------
    data : pandas.DataFrame
        ``simulate_machine`` が返すような、時刻の列とチャンネルの列を持つ表。
    intervals : iterable of AnomalyInterval, optional
        塗りつぶす正解の異常区間 (種類ごとに色を変える)。スパイクのようなごく短い区間は、
        見えるように横軸の幅の 0.4% まで広げて塗る。
    channels : sequence of str, optional
        描くチャンネル。省略すると ``CHANNELS`` のうち ``data`` にあるもの。
        空のリストなら異常度だけを描く。
    scores : dict of str to numpy.ndarray, optional
        下に加えて描く時刻ごとの異常度 (名前 → 長さ ``len(data)`` の配列)。1 つにつき 1 段。
    threshold : float, optional
        異常度の段に引く閾値の線。
    time_column : str, default "time_s"
        横軸に使う列。なければサンプル番号を使う。
    sampling_rate_hz : float, optional
        区間 (サンプル番号) を秒に直すためのサンプリング周波数。省略すると時刻の列から推定する。
    title : str, optional
        図のタイトル。
    figsize : tuple of float, optional
        図の大きさ。

    Returns
    -------
    matplotlib.figure.Figure
        描いた図。
    """
    setup_japanese_font()
    if channels is None:
        channels = [c for c in CHANNELS if c in data.columns]
    channels = list(channels)
    missing = [c for c in channels if c not in data.columns]
    if missing:
        raise ColumnNotFoundError(
            f"データに列 {', '.join(map(repr, missing))} がありません。"
            f"使える列: {', '.join(map(str, data.columns))}"
        )
    scores = dict(scores or {})
    for name, values in scores.items():
        if np.shape(values) != (len(data),):
            raise InvalidDataError(
                f"異常度 {name!r} の長さ {np.shape(values)} がデータの行数 {len(data)} と合いません。"
            )
    n_axes = len(channels) + len(scores)
    if n_axes == 0:
        raise InvalidDataError("描くもの (channels か scores) がありません。")
    if time_column in data.columns:
        x = data[time_column].to_numpy(dtype=float)
        xlabel = "時間 [秒]" if time_column == "time_s" else time_column
        if sampling_rate_hz is None:
            step = np.median(np.diff(x)) if len(x) > 1 else 1.0
            sampling_rate_hz = 1.0 / step if step > 0 else 1.0
    else:
        x = np.arange(len(data), dtype=float)
        xlabel = "サンプル番号"
        sampling_rate_hz = 1.0
    fs = float(sampling_rate_hz)
    x0 = x[0] if len(x) else 0.0
    items = _as_intervals(intervals or [], len(data))

    fig = Figure(figsize=figsize or (10, 1.6 * n_axes + 0.8), layout="constrained")
    axes = fig.subplots(n_axes, 1, sharex=True, squeeze=False)[:, 0]
    panels = [(c, data[c].to_numpy(dtype=float), False) for c in channels]
    panels += [(name, np.asarray(v, dtype=float), True) for name, v in scores.items()]
    # very short intervals (spikes) are widened so that they stay visible
    min_width = 0.004 * (x[-1] - x[0]) if len(x) > 1 else 0.0
    spans = []
    for iv in items:
        left, right = x0 + iv.start / fs, x0 + iv.end / fs
        if right - left < min_width:
            middle = (left + right) / 2
            left, right = middle - min_width / 2, middle + min_width / 2
        spans.append((left, right, _KIND_COLORS.get(iv.kind, "tab:red")))
    for ax, (name, values, is_score) in zip(axes, panels, strict=True):
        for left, right, color in spans:
            ax.axvspan(left, right, color=color, alpha=0.25, linewidth=0)
        ax.plot(x, values, color="tab:blue" if not is_score else "black", linewidth=0.6)
        if is_score:
            if threshold is not None:
                ax.axhline(threshold, color="red", linestyle="--", linewidth=1.0)
            ax.set_yscale("log")
            ax.set_ylabel(name)
        else:
            ax.set_ylabel(CHANNEL_LABELS.get(name, name))
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    axes[-1].set_xlim(x[0], x[-1])
    handles = [
        Patch(color=_KIND_COLORS.get(k, "tab:red"), alpha=0.4, label=ANOMALY_KIND_LABELS.get(k, k))
        for k in dict.fromkeys(iv.kind for iv in items)
    ]
    if threshold is not None and scores:
        handles.append(Line2D([], [], color="red", linestyle="--", label="閾値"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=9)
    if title:
        fig.suptitle(title)
    return fig
