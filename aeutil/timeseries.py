"""時系列センサーデータの模擬: 回転機械 (モーターで回すポンプ) の 4 つのセンサー。

正解の異常区間が分かっている時系列を ``simulate_machine`` で作ります。時系列を窓に切るのは
:mod:`aeutil.windows`、異常の区間 (イベント) 単位の評価は :mod:`aeutil.events`、
センサーと異常度の図は :func:`aeutil.plot_sensor_data` (:mod:`aeutil.sensorplot`) です。

チャンネル名は、コードで扱いやすいよう ASCII で「量_単位」の形にそろえています
(``vibration_mm_s`` など)。図に使う日本語の名前は ``CHANNEL_LABELS`` にあります。
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .validation import ColumnNotFoundError, InvalidDataError

__all__ = [
    "ANOMALY_KINDS",
    "ANOMALY_KIND_LABELS",
    "CHANNELS",
    "CHANNEL_LABELS",
    "AnomalySpec",
    "AnomalyInterval",
    "default_anomalies",
    "simulate_machine",
    "intervals_to_frame",
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
