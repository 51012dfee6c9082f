"""Simulated machine data, sliding windows, window-to-point mapping and event-level scoring."""

from __future__ import annotations

import aeutil  # noqa: F401  (quiet TensorFlow before anything imports it)
from aeutil import ColumnNotFoundError, InvalidDataError
from aeutil.events import evaluate_events
from aeutil.sensorplot import plot_sensor_data
from aeutil.timeseries import (
    ANOMALY_KINDS,
    CHANNELS,
    AnomalyInterval,
    AnomalySpec,
    intervals_to_frame,
    simulate_machine,
)
from aeutil.windows import make_windows, window_coverage, window_scores_to_points

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

FS = 50.0


# --- simulator ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pair():
    """The same seed with and without the default anomalies."""
    clean, none = simulate_machine(3000, seed=3)
    dirty, intervals = simulate_machine(3000, seed=3, anomalies="default")
    assert none == []
    return clean, dirty, intervals


def test_columns_time_and_labels(pair):
    clean, dirty, intervals = pair
    assert list(dirty.columns) == ["time_s", *CHANNELS, "anomaly", "anomaly_kind"]
    np.testing.assert_allclose(np.diff(dirty["time_s"]), 1 / FS)
    assert not clean["anomaly"].any() and (clean["anomaly_kind"] == "").all()
    expected = np.zeros(len(dirty), dtype=bool)
    for iv in intervals:
        expected[iv.start : iv.end] = True
        assert (dirty["anomaly_kind"].iloc[iv.start : iv.end] == iv.kind).all()
    np.testing.assert_array_equal(dirty["anomaly"].to_numpy(), expected)
    assert (dirty.loc[~expected, "anomaly_kind"] == "").all()


def test_default_anomalies_have_every_kind_and_do_not_overlap(pair):
    _, _, intervals = pair
    assert set(ANOMALY_KINDS) <= {iv.kind for iv in intervals}
    for a, b in zip(intervals, intervals[1:], strict=False):
        assert a.end <= b.start
    # the last spike sits in the last 10 samples (the tail of the series)
    assert intervals[-1].kind == "spike" and intervals[-1].end > 3000 - 10


def test_same_seed_same_data_other_seed_other_data():
    a, _ = simulate_machine(500, seed=1)
    b, _ = simulate_machine(500, seed=1)
    c, _ = simulate_machine(500, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["current_A"], c["current_A"])


def test_samples_differ_only_inside_the_labelled_intervals(pair):
    clean, dirty, intervals = pair
    differs = (clean[list(CHANNELS)] != dirty[list(CHANNELS)]).to_numpy()
    label = dirty["anomaly"].to_numpy()
    assert differs.any(axis=1)[~label].sum() == 0
    for iv in intervals:
        col = list(CHANNELS).index(iv.channel)
        inside = differs[iv.start : iv.end]
        # only the labelled channel changes ...
        assert not np.delete(inside, col, axis=1).any(), iv
        # ... and it changes (almost) everywhere in the interval, from its first sample
        assert inside[:, col].mean() > 0.9, iv
        assert inside[: max(1, iv.length // 20), col].any(), iv
        assert inside[-max(1, iv.length // 20) :, col].any(), iv


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_each_kind_changes_the_signal_the_way_it_should(kind):
    channel = "vibration_mm_s" if kind == "bearing_fault" else "pressure_MPa"
    spec = AnomalySpec(kind, start=400, length=200, channel=channel, magnitude=2.0)
    clean, _ = simulate_machine(1000, seed=5)
    dirty, intervals = simulate_machine(1000, seed=5, anomalies=[spec])
    assert intervals == [AnomalyInterval(400, 600, kind, channel)]
    delta = (dirty[channel] - clean[channel]).to_numpy()[400:600]
    scale = clean[channel].std(ddof=0)
    if kind in ("spike", "level_shift"):
        np.testing.assert_allclose(delta, 2.0 * scale)
    elif kind == "drift":
        np.testing.assert_allclose(delta, 2.0 * scale * np.arange(1, 201) / 200)
    elif kind == "bearing_fault":
        assert np.abs(delta[:50]).max() < np.abs(delta[-50:]).max()  # grows
        assert np.abs(delta).max() == pytest.approx(2.0 * scale, rel=0.02)
        # a sinusoid at 3.57 times the shaft speed, not one of its harmonics
        spectrum = np.abs(np.fft.rfft(delta[100:] * np.hanning(100), n=4096))
        peak_hz = np.fft.rfftfreq(4096, 1 / FS)[spectrum.argmax()]
        assert 16.0 < peak_hz < 18.5
    else:  # stuck at the value before the interval
        values = dirty[channel].to_numpy()
        assert (values[400:600] == values[399]).all()
        assert values[600] != values[399]


@pytest.mark.parametrize(
    ("specs", "error", "match"),
    [
        ([AnomalySpec("crack", 10, 5)], InvalidDataError, "crack"),
        ([AnomalySpec("spike", 10, 5, channel="flow")], ColumnNotFoundError, "flow"),
        ([AnomalySpec("bearing_fault", 10, 5, channel="current_A")], InvalidDataError, "振動"),
        ([AnomalySpec("spike", 995, 10)], InvalidDataError, "はみ出"),
        ([AnomalySpec("spike", 10, 0)], InvalidDataError, "length"),
        ([AnomalySpec("drift", 10, 50), AnomalySpec("spike", 40, 3)], InvalidDataError, "重なって"),
        ([("spike", 10, 5)], InvalidDataError, "AnomalySpec"),
        ("many", InvalidDataError, "many"),
    ],
)
def test_bad_anomaly_specs_are_named(specs, error, match):
    with pytest.raises(error, match=match):
        simulate_machine(1000, anomalies=specs)


def test_bad_simulator_arguments():
    with pytest.raises(InvalidDataError, match="1000"):
        simulate_machine(500, anomalies="default")
    with pytest.raises(InvalidDataError, match="rotation_hz"):
        simulate_machine(100, rotation_hz=10.0)  # 35.7 Hz > 25 Hz (Nyquist)
    with pytest.raises(InvalidDataError, match="n_samples"):
        simulate_machine(0)
    with pytest.raises(InvalidDataError, match="sampling_rate_hz"):
        simulate_machine(100, sampling_rate_hz=-1)


def test_intervals_to_frame():
    frame = intervals_to_frame([AnomalyInterval(10, 20, "drift", "temperature_C")], FS)
    assert frame.loc[0, "length"] == 10 and frame.loc[0, "kind_ja"] == "ドリフト"
    assert frame.loc[0, "start_s"] == pytest.approx(0.2)


# --- windows -----------------------------------------------------------------


def test_windows_are_slices_and_the_tail_gets_a_window():
    values = np.arange(40, dtype=float).reshape(20, 2)
    windows, starts = make_windows(values, window=8, stride=5)
    np.testing.assert_array_equal(starts, [0, 5, 10, 12])  # 12 = 20 - 8 ends at the last point
    assert windows.shape == (4, 8, 2) and windows.dtype == np.float32
    for w, s in zip(windows, starts, strict=True):
        np.testing.assert_array_equal(w, values[s : s + 8])
    # no extra window when the stride lands on the end
    _, starts = make_windows(values, window=8, stride=4)
    np.testing.assert_array_equal(starts, [0, 4, 8, 12])


def test_windows_from_a_dataframe_and_a_1d_array_do_not_share_memory():
    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) * 2})
    windows, _ = make_windows(frame, 4)
    windows[0, 0, 0] = 99.0
    assert frame["a"].iloc[0] == 0.0
    w1, s1 = make_windows(np.arange(10.0), 10)
    assert w1.shape == (1, 10, 1) and s1.tolist() == [0]


@pytest.mark.parametrize(("n", "window", "stride"), [(50, 7, 1), (50, 7, 3), (53, 10, 4), (20, 20, 5), (31, 5, 5), (31, 5, 4)])
def test_every_point_is_covered_and_counts_match_brute_force(n, window, stride):
    _, starts = make_windows(np.zeros((n, 1)), window, stride)
    brute = np.zeros(n, dtype=int)
    for s in starts:
        brute[s : s + window] += 1
    counts = window_coverage(starts, window, n)
    np.testing.assert_array_equal(counts, brute)
    assert counts.min() >= 1
    assert starts[-1] + window == n  # the last window ends at the last point


@pytest.mark.parametrize("how", ["mean", "max"])
@pytest.mark.parametrize(("n", "window", "stride"), [(60, 8, 1), (60, 8, 3), (61, 9, 7)])
def test_window_scores_to_points_matches_a_brute_force_loop(how, n, window, stride):
    _, starts = make_windows(np.zeros((n, 2)), window, stride)
    scores = np.random.default_rng(0).gamma(2.0, size=len(starts))
    points = window_scores_to_points(scores, starts, window, n, how=how)
    expected = np.empty(n)
    for t in range(n):
        containing = [scores[k] for k, s in enumerate(starts) if s <= t < s + window]
        expected[t] = np.mean(containing) if how == "mean" else np.max(containing)
    np.testing.assert_allclose(points, expected, rtol=1e-12)


def test_the_last_points_get_the_tail_window_score():
    n, window = 20, 8
    _, starts = make_windows(np.zeros((n, 1)), window, stride=5)
    scores = np.zeros(len(starts))
    scores[-1] = 10.0  # only the tail window (12..19) is anomalous
    points = window_scores_to_points(scores, starts, window, n, how="max")
    assert (points[12:] == 10.0).all() and (points[:12] == 0.0).all()


def test_uncovered_points_are_nan():
    points = window_scores_to_points([1.0, 2.0], [0, 10], window=5, n_points=20)
    assert np.isnan(points[5:10]).all() and np.isnan(points[15:]).all()
    np.testing.assert_array_equal(points[:5], 1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_windows(np.zeros((5, 2)), 6), "window=6"),
        (lambda: make_windows(np.zeros((5, 2)), 2, stride=0), "stride"),
        (lambda: make_windows(np.zeros((30, 2)), 5, stride=6), "stride=6"),
        (lambda: make_windows(np.array([1.0, np.nan, 2.0]), 2), "NaN"),
        (lambda: window_scores_to_points([1.0], [0], 4, 10, how="median"), "how"),
        (lambda: window_scores_to_points([1.0, 2.0], [0], 4, 10), "長さが合いません"),
        (lambda: window_scores_to_points([1.0], [8], 4, 10), "はみ出"),
        (lambda: window_scores_to_points([np.nan], [0], 4, 10), "NaN"),
    ],
)
def test_bad_window_arguments(call, match):
    with pytest.raises(InvalidDataError, match=match):
        call()


# --- event-level evaluation --------------------------------------------------


def _flags(n: int, *runs: tuple[int, int]) -> np.ndarray:
    flags = np.zeros(n, dtype=bool)
    for s, e in runs:
        flags[s:e] = True
    return flags


INTERVALS = [
    AnomalyInterval(10, 20, "spike", "current_A"),
    AnomalyInterval(50, 60, "stuck", "pressure_MPa"),
    AnomalyInterval(80, 85, "drift", "temperature_C"),
]


def test_events_by_hand():
    # caught at 12; a false alarm at 30-32; a run 45-52 that runs into the second interval;
    # the third interval is missed; a false alarm at the last point
    flags = _flags(100, (12, 14), (30, 33), (45, 53), (99, 100))
    report = evaluate_events(flags, INTERVALS, sampling_rate_hz=10.0)
    events = report.events
    assert events["caught"].tolist() == [True, True, False]
    assert events["first_flag"].tolist() == [12, 50, -1]
    np.testing.assert_array_equal(events["delay_samples"], [2, 0, np.nan])
    np.testing.assert_array_equal(events["delay_s"], [0.2, 0.0, np.nan])
    s = report.summary
    assert s["n_events"] == 3 and s["n_caught"] == 2
    assert s["event_recall"] == pytest.approx(2 / 3)
    assert s["mean_delay_s"] == pytest.approx(0.1)
    # outside the intervals: 3 (30-32) + 5 (45-49) + 1 (99) flagged of 75 points
    assert s["false_alarm_points"] == 9
    assert s["point_fpr"] == pytest.approx(9 / 75)
    # the run 45-52 touches an interval, so it is not a false alarm
    assert s["false_alarm_episodes"] == 2


def test_tolerance_excuses_flags_right_next_to_an_interval():
    flags = _flags(100, (12, 14), (30, 33), (45, 53), (99, 100))
    s = evaluate_events(flags, INTERVALS, tolerance=5).summary
    # ignored zones: 5-24, 45-64, 75-89 (55 points); outside: 45 points, 4 of them flagged
    assert s["false_alarm_points"] == 4
    assert s["point_fpr"] == pytest.approx(4 / 45)
    assert s["false_alarm_episodes"] == 2
    # a run that only touches the widened zone is not a false alarm either
    s = evaluate_events(_flags(100, (62, 64)), INTERVALS, tolerance=5).summary
    assert s["false_alarm_episodes"] == 0 and s["n_caught"] == 0


def test_intervals_as_tuples_or_a_frame_and_no_flags():
    flags = np.zeros(100, dtype=int)
    a = evaluate_events(flags, [(10, 20), (50, 60, "stuck")])
    b = evaluate_events(flags, pd.DataFrame({"start": [10, 50], "end": [20, 60]}))
    assert a.summary == b.summary
    assert a.summary["event_recall"] == 0 and np.isnan(a.summary["mean_delay_s"])
    assert a.summary["point_fpr"] == 0 and a.summary["false_alarm_episodes"] == 0
    assert a.events.loc[1, "kind"] == "stuck"


@pytest.mark.parametrize(
    ("flags", "intervals", "kwargs", "match"),
    [
        (np.where(np.arange(10) > 5, -1, 1), [(0, 2)], {}, "-1"),
        (np.zeros(10, dtype=bool), [(5, 12)], {}, "不正"),
        (np.zeros(10, dtype=bool), [(5, 5)], {}, "不正"),
        (np.zeros(10, dtype=bool), [(0, 2)], {"sampling_rate_hz": 0}, "sampling_rate_hz"),
        (np.zeros(10, dtype=bool), [(0, 2)], {"tolerance": -1}, "tolerance"),
        (np.zeros((2, 5), dtype=bool), [(0, 2)], {}, "1 次元"),
    ],
)
def test_bad_event_arguments(flags, intervals, kwargs, match):
    with pytest.raises(InvalidDataError, match=match):
        evaluate_events(flags, intervals, **kwargs)


# --- plotting ----------------------------------------------------------------


def test_plot_sensor_data(pair):
    _, dirty, intervals = pair
    fig = plot_sensor_data(dirty, intervals, scores={"異常度": np.ones(len(dirty))}, threshold=0.5)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == len(CHANNELS) + 1
    fig = plot_sensor_data(dirty, channels=["current_A"])
    assert len(fig.axes) == 1
    with pytest.raises(ColumnNotFoundError, match="flow"):
        plot_sensor_data(dirty, channels=["flow"])
    with pytest.raises(InvalidDataError, match="長さ"):
        plot_sensor_data(dirty, scores={"x": np.ones(3)})
