"""Property-based tests (hypothesis, issue 6): any DataFrame either works or gets OUR clear error.

The frames are generated: 0 to 40 rows, 1 to 50 columns; magnitudes from 1e-30 to 1e30 of both
signs mixed in one column (and subnormal numbers), constant columns; int, float, nullable,
bool, object (numeric and other strings, Python ints beyond float's range), categorical,
datetime, timedelta, period and complex columns; NaN, inf and too large values anywhere;
duplicated names (also 0 next to "0"); non-ASCII, full-width, emoji and spaced names;
RangeIndex or other row labels.

The contract checked for ``fit``, ``predict``, ``score_samples`` and the ``aeutil`` command:

- either it works: one finite score per row, a finite threshold, labels -1/1 (the command:
  exit code 0, the scored CSV has one finite score and a 異常/正常 label per row) — also for
  new data far outside the training range;
- or it raises a subclass of :class:`aeutil.AEUtilError` (the command: exit code 2) whose message
  is Japanese and names the problem: the column, and for a bad value its first bad row
  (the command: its line in the file). Never a traceback from TensorFlow/NumPy/pandas, never a
  NaN/inf score.

Each generated frame comes with an oracle (which cells are bad, which names are ambiguous), so
the outcome is checked in both directions: valid data must work, invalid data must be refused.
In addition, the caller's DataFrame is never changed (compared with a deep copy), and a failed
fit leaves an already fitted object exactly as it was.

``test_named_edge_cases`` runs the cases named in the issue once each (one row, one row with a
validation split, constant columns, 1e30 next to 1e-30, a spread below float32's smallest
normal number, integer column names, bool/datetime/complex/huge-int values ...), whatever the
generator happens to draw.

The settings profile (derandomized, no example database) is registered in ``conftest.py``; the
number of inputs tried per property is printed at the end of the pytest session
(``HYPOTHESIS_PROFILE=aeutil-dev`` gives fresh random inputs for a local bug hunt).
"""

from __future__ import annotations

import contextlib
import copy
import faulthandler
import io
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aeutil import AEUtilError, AutoEncoderDetector, AutoEncoderUtil, ColumnNotFoundError
from aeutil.cli import ANOMALY_TEXT, LABEL_COLUMN, NORMAL_TEXT, SCORE_COLUMN, main
from aeutil.model import ACTIVATIONS
from aeutil.validation import to_matrix

import numpy as np
import pandas as pd
import pytest
from hypothesis import currently_in_test_context, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Slow (fuzzing, hypothesis, subprocesses): `make quick` leaves them out, `make test` runs them.
pytestmark = pytest.mark.slow

NAN, INF = float("nan"), float("inf")
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
TINY_MODEL = {"hidden_units": (3,), "encoding_dim": 2}

# --- values -----------------------------------------------------------------------------------

ORDINARY = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)  # subnormals included
LOG_UNIFORM = st.builds(
    lambda sign, exponent: sign * 10.0**exponent,
    st.sampled_from([1.0, -1.0]),
    st.floats(-30.0, 30.0),
)
EDGES = st.sampled_from([0.0, -0.0, 1e30, -1e30, 1e-30, -1e-30, 5e-324, 1e-40])
GOOD_FLOAT = st.one_of(ORDINARY, LOG_UNIFORM, EDGES)
EXTREME = st.one_of(LOG_UNIFORM, EDGES)

BAD_FLOAT = [NAN, INF, -INF, 1e39, -1e300, 3.4e38]
BAD_FLOAT32 = [NAN, INF, -INF]
BAD_OBJECT = [None, NAN, INF, "故障", "", "１２", "1,000", "nan", "inf", "1e400", True, 10**400,
              -1e300, 1 + 2j, [1]]
BAD_CATEGORY = [None, "故障", ""]
NOT_NUMBERS = ["故障", "停止中", "abc", "－", "N/A?"]

CLEAN_KINDS = ["float", "extreme", "float32", "int", "uint8", "Int64", "Float64", "numstr",
               "mixed", "category", "const"]
BAD_KINDS = ["bool", "boolean", "datetime", "timedelta", "period", "complex", "text"]

# --- names ------------------------------------------------------------------------------------

NAME_POOL = ["温度（℃）", "圧力[MPa]", "振動 (mm/s)", "電流", "ｾﾝｻｰ1", "Ｘ軸", "flow rate", "🌡温度",
             "😀", "Ω値", "a", "x1", "0", "1.5", "列　全角空白", " 前後に空白 ", "カンマ,入り",
             "读数", "é", '引用"符']
NAME_TEXT = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=6
)
ANY_NAME = st.one_of(st.sampled_from(NAME_POOL), NAME_TEXT, st.sampled_from([0, 1, 7]))


def _cli_name(name: object) -> bool:
    """A name that can be written in --columns (no separators, no spaces around it)."""
    return (
        isinstance(name, str)
        and bool(name)
        and name == name.strip()
        and "," not in name
        and "、" not in name
        and name not in (SCORE_COLUMN, LABEL_COLUMN)
        and not name.startswith("Unnamed")
    )


CLI_NAME = st.one_of(st.sampled_from([n for n in NAME_POOL if _cli_name(n)]), NAME_TEXT).filter(
    _cli_name
)

# --- generated frames with their oracle ---------------------------------------------------------


@dataclass
class Case:
    """A generated frame, what is wrong with it, and the columns a caller would select."""

    frame: pd.DataFrame
    bad_rows: list[list[int]]  # per column position: the rows holding a bad value
    selection: list[int]  # column positions passed to fit/predict (AutoEncoderUtil)
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[object]:
        return list(self.frame.columns)

    def positions(self, label: object) -> list[int]:
        """Where a name resolves (exact match first, else by its text, like to_matrix)."""
        exact = [j for j, c in enumerate(self.labels) if type(c) is type(label) and c == label]
        return exact or [j for j, c in enumerate(self.labels) if str(c) == str(label)]


def _column(draw, kind: str, n: int) -> tuple[object, list[int]]:
    """Values for one column of ``kind``; returns (values, rows that are bad)."""
    every = list(range(n))
    if kind in ("float", "extreme", "const", "Float64"):
        elements = EXTREME if kind == "extreme" else GOOD_FLOAT
        if kind == "const":
            return np.full(n, draw(GOOD_FLOAT)), []
        return draw(hnp.arrays(np.float64, n, elements=elements, fill=elements)), []
    if kind == "float32":
        values = draw(hnp.arrays(np.float64, n, elements=GOOD_FLOAT, fill=GOOD_FLOAT))
        return values.astype(np.float32), []
    if kind == "int":
        ints = st.integers(-(2**63), 2**63 - 1)
        return draw(hnp.arrays(np.int64, n, elements=ints, fill=ints)), []
    if kind in ("uint8", "Int64"):
        return draw(hnp.arrays(np.uint8, n)).astype(np.int64), []
    if kind == "numstr":
        strings = st.one_of(GOOD_FLOAT.map(repr), st.integers(-(10**6), 10**6).map(str))
        return draw(hnp.arrays(object, n, elements=strings, fill=strings)), []
    if kind == "mixed":
        objects = st.one_of(GOOD_FLOAT, st.integers(-(2**70), 2**70), GOOD_FLOAT.map(repr))
        return draw(hnp.arrays(object, n, elements=objects, fill=objects)), []
    if kind == "category":
        strings = st.sampled_from(["1", "2.5", "-3", "1e+30", "0"])
        return draw(hnp.arrays(object, n, elements=strings, fill=strings)), []
    if kind in ("bool", "boolean"):
        return draw(hnp.arrays(np.bool_, n)), every
    if kind == "complex":
        numbers = st.complex_numbers(max_magnitude=10.0, allow_nan=False, allow_infinity=False)
        return draw(hnp.arrays(np.complex128, n, elements=numbers, fill=numbers)), every
    if kind == "text":
        return draw(hnp.arrays(object, n, elements=st.sampled_from(NOT_NUMBERS))), every
    return None, every  # datetime, timedelta, period: made in _series


def _series(kind: str, values, n: int) -> pd.Series:
    if kind == "float32":
        return pd.Series(values, dtype=np.float32)
    if kind == "uint8":  # floats once a bad value was put in
        return pd.Series(values if values.dtype == np.float64 else values.astype(np.uint8))
    if kind == "Int64":
        return pd.Series(pd.array(list(values), dtype="Int64"))
    if kind == "Float64":
        return pd.Series(pd.array(list(values), dtype="Float64"))
    if kind == "category":
        return pd.Series(pd.Categorical(list(values)))
    if kind == "boolean":
        return pd.Series(pd.array(list(values), dtype="boolean"))
    if kind == "datetime":
        return pd.Series(pd.date_range("2024-01-01", periods=n, freq="h"))
    if kind == "timedelta":
        return pd.Series(pd.to_timedelta(np.arange(n), unit="s"))
    if kind == "period":
        return pd.Series(pd.period_range("2024-01", periods=n, freq="M"))
    return pd.Series(values)


def _poison(draw, kind: str, values, row: int):
    """Put one bad value at ``row``; returns the (possibly converted) values."""
    if kind == "float32":
        values[row] = draw(st.sampled_from(BAD_FLOAT32))
    elif kind in ("float", "extreme", "const", "Float64"):
        values[row] = draw(st.sampled_from(BAD_FLOAT))
    elif kind in ("int", "uint8"):
        values = values.astype(np.float64)  # a missing value turns an int column into floats
        values[row] = draw(st.sampled_from(BAD_FLOAT))
    elif kind == "Int64":
        values = values.astype(object)
        values[row] = None
    elif kind == "category":
        values[row] = draw(st.sampled_from(BAD_CATEGORY))
    else:  # numstr, mixed (object columns)
        values[row] = draw(st.sampled_from(BAD_OBJECT))
    return values


def _unique_by_text(labels: list[object]) -> list[object]:
    """Make the names distinct as text (a repeated one gets a suffix), so that no draw is wasted."""
    seen: set[str] = set()
    out = []
    for label in labels:
        while str(label) in seen:
            label = f"{label}_"
        seen.add(str(label))
        out.append(label)
    return out


@st.composite
def cases(draw, *, max_rows: int = 40, min_cols: int = 1, max_cols: int = 50, names=ANY_NAME,
          min_rows: int = 0) -> Case:
    n = draw(st.integers(min_rows, max_rows))
    p = draw(st.integers(min_cols, max_cols))
    notes = []
    # mostly clean frames (they must work); some with a few bad cells or a bad column
    is_dirty = draw(st.sampled_from([False, False, True]))
    kinds = [draw(st.sampled_from(CLEAN_KINDS)) for _ in range(p)]
    if is_dirty and draw(st.booleans()):
        kinds[draw(st.integers(0, p - 1))] = draw(st.sampled_from(BAD_KINDS))
    columns, bad_rows = [], []
    for kind in kinds:
        values, bad = _column(draw, kind, n)
        columns.append(values)
        bad_rows.append(list(bad))
    if is_dirty and n:
        for _ in range(draw(st.integers(1, 3))):
            j = draw(st.integers(0, p - 1))
            if kinds[j] in BAD_KINDS:
                continue
            row = draw(st.integers(0, n - 1))
            columns[j] = _poison(draw, kinds[j], columns[j], row)
            bad_rows[j] = sorted({*bad_rows[j], row})
    series = [_series(kind, values, n) for kind, values in zip(kinds, columns, strict=True)]
    notes.append(f"kinds={kinds}")

    labels = _unique_by_text(draw(st.lists(names, min_size=p, max_size=p)))
    if p > 1 and draw(st.sampled_from([False, False, False, True])):
        i, j = draw(st.lists(st.integers(0, p - 1), min_size=2, max_size=2, unique=True))
        twin = labels[i]
        if isinstance(twin, int) and draw(st.booleans()):
            twin = str(twin)  # 0 and "0": one name once a model keeps its names as text
        labels[j] = twin
        notes.append(f"duplicated name {labels[j]!r} at {i} and {j}")
    frame = pd.concat(series, axis=1, ignore_index=True)
    frame.columns = pd.Index(labels, dtype=object)
    index_kind = draw(st.sampled_from(["range", "range", "shifted", "text", "dates"]))
    if index_kind == "shifted":
        frame.index = pd.RangeIndex(100, 100 + n)
    elif index_kind == "text":
        frame.index = pd.Index([f"行{k}" for k in range(n)], dtype=object)
    elif index_kind == "dates":
        frame.index = pd.date_range("2024-04-01", periods=n, freq="D")

    if draw(st.booleans()):
        selection = list(range(p))
    else:
        selection = draw(st.lists(st.integers(0, p - 1), min_size=1, max_size=p, unique=True))
    return Case(frame, bad_rows, selection, notes)


def _event(text: str) -> None:
    """Count an outcome for --hypothesis-show-statistics (outside hypothesis: nothing)."""
    if currently_in_test_context():
        event(text)


# --- the oracle ---------------------------------------------------------------------------------


@dataclass
class Expected:
    ok: bool
    words: list[str] = field(default_factory=list)  # one must appear in the message
    locations: list[tuple[str, int]] = field(default_factory=list)  # (column, first bad row)
    error: type[AEUtilError] = AEUtilError


def expected_for(case: Case, chosen: list[object], *, validation_split: float = 0.0) -> Expected:
    """What fitting or scoring the columns ``chosen`` (labels) of ``case.frame`` must do."""
    resolved = []
    for label in chosen:
        found = case.positions(label)
        if not found:
            return Expected(False, [repr(label), "がありません"], error=ColumnNotFoundError)
        if len(found) > 1:
            return Expected(False, [repr(str(label))])
        resolved.append(found[0])
    texts = [str(case.labels[j]) for j in resolved]
    twice = [t for t in texts if texts.count(t) > 1]
    if twice:
        return Expected(False, [repr(t) for t in twice])
    n = len(case.frame)
    if n == 0:
        return Expected(False, ["空"])
    locations = [(texts[k], case.bad_rows[j][0]) for k, j in enumerate(resolved)
                 if case.bad_rows[j]]
    if locations:
        return Expected(False, locations=locations)
    n_val = int(round(n * validation_split))
    if validation_split and (n_val < 1 or n - n_val < 1):
        return Expected(False, ["validation_split"])
    return Expected(True)


def check_error(exc: BaseException, expected: Expected, *, line_offset: int | None = None) -> None:
    """The error is ours, in Japanese, and names what the oracle says is wrong."""
    message = str(exc)
    assert isinstance(exc, AEUtilError), f"{type(exc).__name__}: {message}"
    assert not expected.ok, f"valid input refused: {message}"
    _event(f"refused: {type(exc).__name__}, {'bad value' if expected.locations else 'structure'}")
    if line_offset is None:
        assert isinstance(exc, expected.error), f"{type(exc).__name__}: {message}"
    assert JAPANESE.search(message), message
    if expected.words:
        assert any(word in message for word in expected.words), (expected.words, message)
        return
    for name, row in expected.locations:
        if f"列 {name!r}" in message:
            line = row if line_offset is None else row + line_offset
            assert re.search(rf"(?<!\d){line} 行目", message), (name, line, message)
            return
    raise AssertionError(f"none of the bad columns {expected.locations} is named: {message}")


def check_scores(scores: np.ndarray, n: int) -> None:
    assert scores.shape == (n,)
    assert np.isfinite(scores).all(), scores


def far_frame(draw_values: np.ndarray, labels: list[object]) -> pd.DataFrame:
    return pd.DataFrame(draw_values, columns=pd.Index(labels, dtype=object))


def _far(draw, n_cols: int) -> np.ndarray:
    m = draw(st.integers(1, 4))
    return draw(hnp.arrays(np.float64, (m, n_cols), elements=EXTREME, fill=EXTREME))


# --- fixtures: small models fitted once ---------------------------------------------------------

BASE = pd.DataFrame(
    np.random.default_rng(0).normal([20.0, 0.1, 5.0], [2.0, 0.01, 1.0], size=(32, 3)),
    columns=pd.Index(["温度（℃）", "圧力[MPa]", 0], dtype=object),
)
BASE_NAMES = ["温度（℃）", "圧力[MPa]", "0"]


def _fresh_util() -> AutoEncoderUtil:
    return AutoEncoderUtil(df=BASE, **TINY_MODEL).fit(list(BASE.columns), epochs=1)


def _fresh_detector() -> AutoEncoderDetector:
    return AutoEncoderDetector(epochs=1, **TINY_MODEL).fit(BASE)


@pytest.fixture(scope="module")
def base_detector() -> AutoEncoderDetector:
    return _fresh_detector()


@pytest.fixture(scope="module", autouse=True)
def hang_guard():
    """A hang is a failure too: dump every thread's stack and stop if the module gets stuck.

    The module takes well under a minute; the limit leaves room for hypothesis to shrink
    several failures (minutes each with fitting in the loop), so it only fires on a real hang.
    """
    faulthandler.dump_traceback_later(1800, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _util_state(util: AutoEncoderUtil) -> tuple:
    scores = util.predict(list(BASE.columns), df=BASE)[1]
    return (util.model, util.threshold, util.columns, copy.deepcopy(util.history),
            util.input_dim, scores.tobytes())


def _detector_state(det: AutoEncoderDetector) -> tuple:
    return (det.model_, det.threshold_, list(det.columns_), copy.deepcopy(det.history_),
            det.n_features_in_, list(det.feature_names_in_), det.score_samples(BASE).tobytes())


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=300)
@given(case=cases())
def test_to_matrix_gives_finite_float32_or_names_the_problem(case, inputs_tried):
    """The check every entry point shares: cheap, so it sees the most inputs."""
    inputs_tried["to_matrix (the shared input check)"] += 1
    note(case.notes)
    frame, snapshot = case.frame, case.frame.copy(deep=True)
    chosen = [case.labels[j] for j in case.selection]
    expected = expected_for(case, chosen)
    try:
        out = to_matrix(frame, chosen)
    except Exception as exc:  # noqa: BLE001 - any other type is the failure being looked for
        check_error(exc, expected)
    else:
        assert expected.ok, f"invalid input accepted: {expected}"
        _event("works")
        assert out.dtype == np.float32 and out.shape == (len(frame), len(chosen))
        assert np.isfinite(out).all()
    pd.testing.assert_frame_equal(frame, snapshot, check_exact=True)


def fit_or_refuse(fit, state, expected: Expected) -> bool:
    """Run ``fit()``. True when it worked (and the input was valid); False when it failed with
    our clear error (checked) and left the object's ``state()`` exactly as before."""
    before = state()
    try:
        fit()
    except Exception as exc:  # noqa: BLE001
        check_error(exc, expected)
        after = state()
        assert after[0] is before[0] and after[1:] == before[1:]
        return False
    assert expected.ok, f"invalid input accepted: {expected}"
    _event("works")
    return True


def check_util_contract(case: Case, *, split: float, batch: int, far_values: np.ndarray) -> None:
    """AutoEncoderUtil.fit + predict on ``case``: works with finite scores, or our clear error."""
    frame, snapshot = case.frame, case.frame.copy(deep=True)
    chosen = [case.labels[j] for j in case.selection]
    column = chosen[0] if len(chosen) == 1 and isinstance(chosen[0], str) else chosen
    expected = expected_for(case, chosen, validation_split=split)

    util = _fresh_util()  # an object fitted before: a failed fit must leave it as it was
    util.df = frame  # no copy: fit must not change the caller's frame either
    fit = lambda: util.fit(  # noqa: E731
        column, epochs=2, batch_size=batch, validation_split=split, patience=1 if split else None
    )
    if fit_or_refuse(fit, lambda: _util_state(util), expected):
        assert np.isfinite(util.threshold) and util.threshold >= 0
        y, loss, threshold = util.predict(column)
        check_scores(loss, len(frame))
        assert threshold == util.threshold
        assert set(np.unique(y)) <= {-1, 1}
        # predict compares in float64 (as AutoEncoderDetector.predict does); NumPy 2 would
        # compare a float32 array with a Python float in float32, which differs at the edge
        np.testing.assert_array_equal(y, np.where(loss.astype(np.float64) > threshold, -1, 1))
        far = far_frame(far_values[:, : len(chosen)], chosen)
        y_far, loss_far, _ = util.predict(column, df=far)
        check_scores(loss_far, len(far))
        assert set(np.unique(y_far)) <= {-1, 1}
    assert util.df is frame
    pd.testing.assert_frame_equal(frame, snapshot, check_exact=True)


@settings(max_examples=60)
@given(case=cases(), data=st.data())
def test_util_fit_and_predict(case, data, inputs_tried):
    """AutoEncoderUtil.fit/predict (the article's API) on the caller's own frame."""
    inputs_tried["AutoEncoderUtil.fit + predict"] += 1
    note(case.notes)
    check_util_contract(
        case,
        split=data.draw(st.sampled_from([0.0, 0.0, 0.25, 0.5]), label="validation_split"),
        batch=data.draw(st.integers(1, 64), label="batch_size"),
        far_values=_far(data.draw, case.frame.shape[1]),
    )


def _frame(columns: dict) -> pd.DataFrame:
    frame = pd.concat([pd.Series(v) for v in columns.values()], axis=1, ignore_index=True)
    frame.columns = pd.Index(list(columns), dtype=object)
    return frame


FAR = np.array([[1e30, -1e30, 1e-30], [-1e30, 0.0, 1e30]])
NAMED_CASES = {
    # name: (columns, bad rows per column, validation_split)
    "one row": ({"温度（℃）": [1e30], "圧力[MPa]": [-1e-30]}, [[], []], 0.0),
    "one row, validation_split": ({"温度（℃）": [1.0]}, [[]], 0.5),
    "two rows, validation_split": ({"温度（℃）": [1.0, 1e30]}, [[]], 0.5),
    "constant columns": ({"a": [7.0] * 5, "b": [0] * 5, "c": [1e30] * 5}, [[], [], []], 0.0),
    "1e30 and 1e-30 mixed in one column": (
        {"x": [1e30, -1e30, 1e-30, -1e-30, 0.0, 1e30]}, [[]], 0.0),
    "spread below float32's smallest normal": ({"x": [0.0, 1e-40, 0.0, 5e-324]}, [[]], 0.0),
    "integer names 0 and 1": ({0: [1.0, 2.0, 3.0], 1: [3, 1, 2]}, [[], []], 0.0),
    "values just within the limit": ({"x": [1e38, -1e38, 0.0]}, [[]], 0.0),
    "value beyond the limit": ({"x": [1.0, 3e38]}, [[1]], 0.0),
    "bool column": ({"x": [1.0, 2.0], "flag": [True, False]}, [[], [0, 1]], 0.0),
    "datetime column": ({"t": pd.to_datetime(["2024-01-01", None])}, [[0, 1]], 0.0),
    "Python int beyond float": ({"x": pd.Series([1, 10**400], dtype=object)}, [[1]], 0.0),
    "complex numbers in an object column": (
        {"x": pd.Series([1.0, 1 + 2j], dtype=object)}, [[1]], 0.0),
    "True in an object column": ({"x": pd.Series([1.5, True], dtype=object)}, [[1]], 0.0),
}


@pytest.mark.parametrize("name", list(NAMED_CASES))
def test_named_edge_cases(name):
    """The cases named in the issue, each once, whatever the generator happens to draw."""
    columns, bad_rows, split = NAMED_CASES[name]
    frame = _frame(columns)
    check_util_contract(Case(frame, bad_rows, list(range(frame.shape[1]))), split=split,
                        batch=64, far_values=FAR)


@settings(max_examples=50)
@given(case=cases(), data=st.data())
def test_detector_fit_score_samples_predict(case, data, inputs_tried):
    """AutoEncoderDetector (scikit-learn style) fitted on a whole generated frame."""
    inputs_tried["AutoEncoderDetector.fit + score_samples/predict"] += 1
    note(case.notes)
    frame, snapshot = case.frame, case.frame.copy(deep=True)
    expected = expected_for(case, case.labels)
    det = _fresh_detector()
    det.set_params(
        n_models=data.draw(st.sampled_from([1, 1, 2]), label="n_models"),
        activation=data.draw(st.sampled_from(sorted(ACTIVATIONS)), label="activation"),
    )
    if fit_or_refuse(lambda: det.fit(frame), lambda: _detector_state(det), expected):
        assert np.isfinite(det.threshold_) and det.threshold_ >= 0
        scores = det.score_samples(frame)
        check_scores(scores, len(frame))
        labels = det.predict(frame)
        assert labels.shape == (len(frame),) and set(np.unique(labels)) <= {-1, 1}
        assert np.isfinite(det.decision_function(frame)).all()
        far = far_frame(_far(data.draw, frame.shape[1]), case.labels)
        check_scores(det.score_samples(far), len(far))
        assert set(np.unique(det.predict(far))) <= {-1, 1}
    pd.testing.assert_frame_equal(frame, snapshot, check_exact=True)


@settings(max_examples=300)
@given(case=cases(min_cols=3, max_cols=6), data=st.data())
def test_score_samples_of_a_fitted_model(base_detector, case, data, inputs_tried):
    """A model fitted once (columns 温度（℃）, 圧力[MPa], 0) scores any frame that has its columns."""
    inputs_tried["AutoEncoderDetector.score_samples (fitted model)"] += 1
    note(case.notes)
    frame = case.frame
    p = frame.shape[1]
    # give 1 to 3 of the generated columns the model's names; a name left out is missing
    k = data.draw(st.sampled_from([3, 3, 3, 2]), label="model columns present")
    where = data.draw(st.lists(st.integers(0, p - 1), min_size=k, max_size=k, unique=True))
    labels = case.labels
    for name, j in zip(list(BASE.columns)[:k], where, strict=False):
        labels[j] = name
    frame.columns = pd.Index(labels, dtype=object)
    snapshot = frame.copy(deep=True)
    as_array = data.draw(st.sampled_from([False, False, False, True]), label="as ndarray")
    if as_array:
        # positional: the array's columns are taken as the model's, whatever their names
        X = frame.to_numpy()
        expected = expected_for(
            Case(pd.DataFrame(X), case.bad_rows, []), list(range(p))
        )
        if expected.ok and p != 3:
            expected = Expected(False, ["列の数が合いません"])
        expected.locations = [(f"{j} 列目", row) for j, row in
                              ((int(name), row) for name, row in expected.locations)]
        if np.iscomplexobj(X):
            # one complex column makes NumPy's array complex as a whole: its first column is
            # then a complex column too, refused at its first row
            expected.locations.append(("0 列目", 0))
    else:
        X = frame
        expected = expected_for(case, BASE_NAMES)
    try:
        scores = base_detector.score_samples(X)
    except Exception as exc:  # noqa: BLE001
        if as_array and expected.locations:
            # array columns are named "j 列目" rather than 列 'name'
            message = str(exc)
            assert isinstance(exc, AEUtilError) and JAPANESE.search(message), message
            assert any(name in message and re.search(rf"(?<!\d){row} 行目", message)
                       for name, row in expected.locations), (expected.locations, message)
        else:
            check_error(exc, expected)
    else:
        assert expected.ok, f"invalid input accepted: {expected}"
        _event("works")
        check_scores(scores, len(frame))
        labels_out = base_detector.predict(X)
        assert set(np.unique(labels_out)) <= {-1, 1}
    pd.testing.assert_frame_equal(frame, snapshot, check_exact=True)


# --- the command --------------------------------------------------------------------------------


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _write_csv(frame: pd.DataFrame, path: Path, want_cp932: bool) -> tuple[str, str]:
    """Write ``frame``; CP932 if asked and every character fits, else UTF-8 (with or without BOM)."""
    text = frame.to_csv(index=False)
    if want_cp932:
        try:
            path.write_bytes(text.encode("cp932"))
            return "shift-jis", "cp932"
        except UnicodeEncodeError:
            pass
    path.write_bytes(text.encode("utf-8-sig" if want_cp932 else "utf-8"))
    return "utf-8", "utf-8-sig"


def _check_command_error(code: int, out: str, err: str, expected: Expected) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("エラー: "), err
    check_error(AEUtilError(err), expected, line_offset=2)  # header is line 1


@settings(max_examples=30)
@given(case=cases(max_rows=25, max_cols=8, names=CLI_NAME, min_rows=1), data=st.data())
def test_command_fit_and_score(case, data, inputs_tried):
    """aeutil fit / aeutil score on generated CSV files (CP932 when encodable, else UTF-8)."""
    inputs_tried["aeutil fit + score (command)"] += 1
    note(case.notes)
    chosen = [case.labels[j] for j in case.selection]
    expected = expected_for(case, chosen)
    want_cp932 = data.draw(st.booleans(), label="CP932")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train = folder / "train.csv"
        encoding, codec = _write_csv(case.frame, train, want_cp932)
        model = folder / "model.keras"
        code, out, err = _run(
            ["fit", str(train), f"--columns={','.join(chosen)}", "--model", str(model),
             "--encoding", encoding, "--epochs", "2", "--hidden-units", "3",
             "--encoding-dim", "2", "--batch-size", str(data.draw(st.integers(1, 64)))]
        )
        note(f"fit: {code} {err}")
        if code != 0:
            _check_command_error(code, out, err, expected)
            assert sorted(p.name for p in folder.iterdir()) == ["train.csv"]
            return
        assert expected.ok, f"invalid input accepted: {expected}"
        _event("works")
        assert "Traceback" not in err and "学習しました" in out

        # score the training file itself, then new data far outside the training range
        far = far_frame(_far(data.draw, len(chosen)), chosen)
        far_path = folder / "far.csv"
        far_encoding, far_codec = _write_csv(far, far_path, want_cp932)
        for source, enc, dec, n in ((train, encoding, codec, len(case.frame)),
                                    (far_path, far_encoding, far_codec, len(far))):
            scored = folder / f"scored_{source.name}"
            code, out, err = _run(["score", str(source), "--model", str(model), "--output",
                                   str(scored), "--encoding", enc])
            assert code == 0, err
            assert "Traceback" not in err and "判定しました" in out
            result = pd.read_csv(scored, encoding=dec)
            assert len(result) == n
            check_scores(result[SCORE_COLUMN].to_numpy(dtype=np.float64), n)
            assert set(result[LABEL_COLUMN]) <= {ANOMALY_TEXT, NORMAL_TEXT}
