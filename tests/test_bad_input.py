"""Bad input: a clear Japanese error that names the problem, and nothing changed."""

from __future__ import annotations

from aeutil import (
    AutoEncoderUtil,
    ColumnNotFoundError,
    InvalidDataError,
    NotFittedError,
)

import numpy as np
import pandas as pd
import pytest

COLUMNS = ["feature1", "feature2"]


def test_missing_column_names_it_and_lists_available(clusters):
    util = AutoEncoderUtil(df=clusters)
    with pytest.raises(ColumnNotFoundError) as info:
        util.fit(["feature1", "温度"], epochs=1)
    message = str(info.value)
    assert "'温度'" in message
    assert "feature1, feature2" in message
    assert util.model is None


def test_missing_column_is_also_a_keyerror(clusters):
    with pytest.raises(KeyError):
        AutoEncoderUtil(df=clusters).fit("nope", epochs=1)


def test_non_numeric_value_names_column_and_row():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["1", "x", "3"]})
    with pytest.raises(InvalidDataError) as info:
        AutoEncoderUtil(df=df).fit(["a", "b"], epochs=1)
    message = str(info.value)
    assert "'b'" in message and "1 行目" in message and "'x'" in message


def test_numeric_strings_are_accepted():
    df = pd.DataFrame({"a": ["1.5", "2", "3"], "b": [1.0, 2.0, 4.0]})
    util = AutoEncoderUtil(df=df).fit(["a", "b"], epochs=1)
    assert util.input_dim == 2


@pytest.mark.parametrize(
    ("bad", "word"), [(np.nan, "欠損値"), (np.inf, "無限大"), (-np.inf, "無限大")]
)
def test_nan_and_inf_name_column_and_first_bad_row(bad, word):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 2.0, bad, bad]},
                      index=[10, 11, 12, 13])
    with pytest.raises(InvalidDataError) as info:
        AutoEncoderUtil(df=df).fit(["a", "b"], epochs=1)
    message = str(info.value)
    assert word in message and "'b'" in message and "2 行目" in message and "12" in message


def test_bad_rows_at_predict_time_change_nothing(fitted):
    df = pd.DataFrame({"feature1": [0.0, np.nan], "feature2": [0.0, 0.0]})
    snapshot = df.copy()
    threshold = fitted.threshold
    with pytest.raises(InvalidDataError, match="欠損値"):
        fitted.predict(COLUMNS, df=df)
    pd.testing.assert_frame_equal(df, snapshot)
    assert fitted.threshold == threshold


def test_empty_frame():
    df = pd.DataFrame({"a": [], "b": []}, dtype=float)
    with pytest.raises(InvalidDataError, match="空"):
        AutoEncoderUtil(df=df).fit(["a", "b"], epochs=1)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="学習"):
        AutoEncoderUtil().predict(COLUMNS, df=pd.DataFrame({"feature1": [1.0]}))


def test_fit_without_dataframe():
    with pytest.raises(InvalidDataError, match="DataFrame"):
        AutoEncoderUtil().fit(COLUMNS)


def test_predict_with_other_column_names(fitted):
    df = pd.DataFrame({"x": [0.0], "y": [0.0]})
    with pytest.raises(InvalidDataError, match="列名が合いません"):
        fitted.predict(["x", "y"], df=df)


def test_predict_with_other_column_count(fitted):
    df = pd.DataFrame({"feature1": [0.0]})
    with pytest.raises(InvalidDataError, match="列の数が合いません"):
        fitted.predict(["feature1"], df=df)


def test_refit_failure_keeps_previous_model(clusters):
    util = AutoEncoderUtil(df=clusters).fit(COLUMNS, epochs=2)
    threshold = util.threshold
    with pytest.raises(ColumnNotFoundError):
        util.fit(["feature1", "missing"], epochs=1)
    assert util.threshold == threshold


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"patience": 0}, "patience"),
        ({"optimizer": "nadamx"}, "nadamx"),
    ],
)
def test_bad_training_arguments(clusters, kwargs, word):
    with pytest.raises(InvalidDataError, match=word):
        AutoEncoderUtil(df=clusters).fit(COLUMNS, **kwargs)


def test_bad_activation(clusters):
    with pytest.raises(InvalidDataError, match="swishy"):
        AutoEncoderUtil(df=clusters, activation="swishy").fit(COLUMNS, epochs=1)


def test_df_must_be_a_dataframe():
    with pytest.raises(InvalidDataError, match="DataFrame"):
        AutoEncoderUtil(df=[[1, 2], [3, 4]])


def test_to_matrix_never_returns_the_callers_array():
    from aeutil.validation import to_matrix

    arr = np.arange(12, dtype=np.float32).reshape(6, 2)
    out = to_matrix(arr)
    out[0, 0] = 99.0
    assert arr[0, 0] == 0.0
    frame = pd.DataFrame(arr.copy(), columns=["a", "b"])
    out = to_matrix(frame, ["a", "b"])
    out[1, 1] = 99.0
    assert frame.iloc[1, 1] == 3.0


def test_float32_overflow_is_reported():
    df = pd.DataFrame({"a": [1.0, 1e300], "b": [0.0, 0.0]})
    with pytest.raises(InvalidDataError, match="大きすぎます"):
        AutoEncoderUtil(df=df).fit(["a", "b"], epochs=1)
