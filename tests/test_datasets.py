"""The Shuttle data shipped with river, read offline, and the normal-only split."""

from __future__ import annotations

import gzip
import io
import socket
import sys

from aeutil import InvalidDataError
from aeutil.datasets import (
    SHUTTLE_COLUMNS,
    _read_shuttle_csv,
    load_shuttle,
    split_normal_train,
)

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def shuttle() -> tuple[pd.DataFrame, np.ndarray]:
    return load_shuttle()


def test_shape_columns_and_anomaly_rate(shuttle):
    X, y = shuttle
    assert X.shape == (49_097, 9)
    assert list(X.columns) == SHUTTLE_COLUMNS == [f"sensor{j}" for j in range(1, 10)]
    assert all(dtype == np.int64 for dtype in X.dtypes)
    assert y.shape == (49_097,) and set(np.unique(y)) == {-1, 1}
    # ODDS: class 1 (45,586 rows) is normal; classes 2, 3, 5, 6, 7 (3,511 rows) are anomalies
    assert int((y == -1).sum()) == 3_511 and int((y == 1).sum()) == 45_586
    assert (y == -1).mean() == pytest.approx(0.0715, abs=5e-4)


def test_labels_and_values_match_rivers_own_reader(shuttle):
    X, y = shuttle
    datasets = pytest.importorskip("river.datasets")
    rows, targets = zip(*datasets.Shuttle(), strict=True)
    assert len(rows) == len(X)
    river_X = pd.DataFrame(rows)[[f"f{j}" for j in range(1, 10)]].to_numpy()
    np.testing.assert_array_equal(X.to_numpy(), river_X)
    np.testing.assert_array_equal(y, np.where(np.asarray(targets) == 1, -1, 1))


def test_anomalies_differ_from_normal_rows(shuttle):
    # a sanity check on the orientation of the labels: the documented ODDS anomalies sit
    # far from the normal rows in sensor1 and sensor9 (medians ~44 vs ~80 and ~2 vs ~80)
    X, y = shuttle
    normal, anomaly = X[y == 1], X[y == -1]
    assert anomaly["sensor1"].median() > normal["sensor1"].median() + 20
    assert anomaly["sensor9"].median() > normal["sensor9"].median() + 40


def test_load_uses_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load_shuttle tried to use the network")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse()

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    X, y = load_shuttle()
    assert X.shape == (49_097, 9) and len(y) == 49_097


def test_load_returns_fresh_objects(shuttle):
    X, y = shuttle
    X2, y2 = load_shuttle()
    X2.iloc[0, 0] = -999
    y2[0] = 0
    assert X.iloc[0, 0] != -999 and y[0] != 0


def test_missing_river_gives_a_japanese_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "river", None)  # makes `import river` fail
    with pytest.raises(ImportError, match=r"pip install river==0\.26\.1"):
        load_shuttle()


def _gz(text: str) -> io.BytesIO:
    return io.BytesIO(gzip.compress(text.encode()))


HEADER = "f1,f2,f3,f4,f5,f6,f7,f8,f9,anomaly\n"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_gz("a,b\n1,2\n"), "列が想定と違います"),
        (_gz(HEADER + "1,2,3,4,5,6,7,8,9,0\n"), "行数が想定と違います"),
        (io.BytesIO(b"not gzip at all"), "読めません"),
    ],
)
def test_unexpected_file_contents_are_reported(payload, message):
    with pytest.raises(InvalidDataError, match=message):
        _read_shuttle_csv(payload, source="test.csv.gz")


def test_split_sizes_disjoint_and_normal_only(shuttle):
    X, y = shuttle
    X_train, X_test, y_test = split_normal_train(X, y, seed=0)
    assert len(X_train) == 22_793
    assert len(X_test) == 26_304 and int((y_test == -1).sum()) == 3_511
    assert X_train.index.intersection(X_test.index).empty
    assert X_train.index.union(X_test.index).equals(X.index)
    assert (y[X_train.index] == 1).all()
    np.testing.assert_array_equal(y_test, y[X_test.index])
    assert X_train.index.is_monotonic_increasing and X_test.index.is_monotonic_increasing


def test_split_is_seeded(shuttle):
    X, y = shuttle
    a = split_normal_train(X, y, train_size=1000, seed=3)
    b = split_normal_train(X, y, train_size=1000, seed=3)
    c = split_normal_train(X, y, train_size=1000, seed=4)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert len(a[0]) == 1000 and not a[0].index.equals(c[0].index)


def test_split_arrays_and_caller_data_untouched():
    X = np.arange(20.0).reshape(10, 2)
    y = np.array([1, 1, -1, 1, 1, -1, 1, 1, 1, 1])
    X_before, y_before = X.copy(), y.copy()
    X_train, X_test, y_test = split_normal_train(X, y, train_size=0.5, seed=1)
    assert isinstance(X_train, np.ndarray) and X_train.shape == (4, 2)
    assert X_test.shape == (6, 2) and (y_test == -1).sum() == 2
    rows = {tuple(r) for r in X_train} | {tuple(r) for r in X_test}
    assert len(rows) == 10
    X_train[:] = -1
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "message"),
    [
        (np.zeros((3, 2)), [1, 1], {}, "同じ長さ"),
        (np.zeros((3, 2)), [1, 0, 1], {}, "1 行目 .* の値 0"),
        (np.zeros((3, 2)), [-1, -1, 1], {}, "正常 .* 1 行しかなく"),
        (np.zeros((4, 2)), [1, 1, 1, -1], {"train_size": 3}, "1 以上 3 未満"),
        (np.zeros((4, 2)), [1, 1, 1, -1], {"train_size": 1.0}, "0 より大きく 1 より小さく"),
        (np.zeros((4, 2)), [1, 1, 1, -1], {"train_size": True}, "小数か整数"),
        (np.zeros(4), [1, 1, 1, -1], {}, "2 次元"),
        ([[0, 0], [1, 1]], [1, 1], {}, "DataFrame か numpy.ndarray"),
    ],
)
def test_split_bad_input(X, y, kwargs, message):
    with pytest.raises(InvalidDataError, match=message):
        split_normal_train(X, y, **kwargs)
