"""Saving to one .keras file, atomically, and loading it safely in a new process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import aeutil
import aeutil.modelfile
from aeutil import AutoEncoderUtil, ModelFileError

import numpy as np
import pandas as pd
import pytest

COLUMNS = ["feature1", "feature2"]


def test_one_file_holds_everything(fitted, tmp_path):
    path = tmp_path / "ae_model.keras"
    fitted.save_model(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae_model.keras"]
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    text = json.dumps(config)
    assert "anomaly_score" in text and "standardize" in text
    loaded = AutoEncoderUtil(model_path=path)
    assert loaded.columns == COLUMNS
    assert loaded.threshold == fitted.threshold
    assert loaded.input_dim == 2
    std = loaded.model.get_layer("standardize")
    np.testing.assert_array_equal(std.mean, fitted.model.get_layer("standardize").mean)
    np.testing.assert_array_equal(std.scale, fitted.model.get_layer("standardize").scale)


def test_round_trip_in_a_fresh_process_is_bit_identical(fitted, tmp_path):
    path = tmp_path / "ae_model.keras"
    fitted.save_model(path)
    new_data = aeutil.make_uniform_points(n=500, seed=123)
    csv = tmp_path / "new.csv"
    new_data.to_csv(csv, index=False)
    y_here, loss_here, thr_here = fitted.predict(COLUMNS, df=new_data)
    out = tmp_path / "scores.npz"
    script = textwrap.dedent(
        f"""
        import numpy as np, pandas as pd
        from aeutil import AutoEncoderUtil
        util = AutoEncoderUtil()
        util.input_dim = 2
        util.load_model({str(path)!r})
        df = pd.read_csv({str(csv)!r})
        y, loss, thr = util.predict({COLUMNS!r}, df=df)
        np.savez({str(out)!r}, y=y, loss=loss, thr=thr)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    saved = np.load(out)
    assert saved["loss"].tobytes() == loss_here.tobytes()
    np.testing.assert_array_equal(saved["y"], y_here)
    assert float(saved["thr"]) == thr_here


def test_save_is_atomic_and_keeps_the_old_file_on_failure(fitted, tmp_path, monkeypatch):
    path = tmp_path / "ae_model.keras"
    fitted.save_model(path)
    good = path.read_bytes()

    def broken_weights(network):
        raise OSError("disk full")  # after the zip's first entries are written

    monkeypatch.setattr(aeutil.modelfile, "_weights_bytes", broken_weights)
    with pytest.raises(OSError, match="disk full"):
        fitted.save_model(path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae_model.keras"]


def test_keras_save_is_atomic_and_keeps_the_old_file_on_failure(fitted, tmp_path, monkeypatch):
    from aeutil.kerasfile import save_keras_model

    path = tmp_path / "ae_model.keras"
    fitted.save_model(path)
    good = path.read_bytes()

    def broken_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as fh:
            fh.write(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(type(fitted.model), "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_keras_model(fitted.model, path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae_model.keras"]


def test_save_requires_keras_extension(fitted, tmp_path):
    with pytest.raises(aeutil.InvalidDataError, match=r"\.keras"):
        fitted.save_model(tmp_path / "model.h5")
    assert list(tmp_path.iterdir()) == []


def test_save_before_fit_is_a_clear_error(tmp_path):
    with pytest.raises(aeutil.NotFittedError, match="学習"):
        AutoEncoderUtil().save_model(tmp_path / "m.keras")
    assert list(tmp_path.iterdir()) == []


def test_missing_model_file(tmp_path):
    missing = tmp_path / "nothing.keras"
    with pytest.raises(FileNotFoundError, match="nothing.keras"):
        AutoEncoderUtil(model_path=missing)


def test_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("これはモデルではありません", encoding="utf-8")
    with pytest.raises(ModelFileError, match="notes.keras"):
        AutoEncoderUtil().load_model(path)


def test_keras_model_that_is_not_ours(tmp_path):
    from aeutil._keras import keras

    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    path = tmp_path / "other.keras"
    other.save(path)
    util = AutoEncoderUtil()
    with pytest.raises(ModelFileError, match="aeutil"):
        util.load_model(path)
    assert util.model is None


def test_unsafe_lambda_is_refused(tmp_path):
    from aeutil._keras import keras

    inp = keras.Input((2,))
    out = keras.layers.Lambda(lambda t: t * 2)(inp)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(ModelFileError):
        AutoEncoderUtil().load_model(path)


def test_loaded_model_column_count_mismatch(fitted, tmp_path):
    path = tmp_path / "m.keras"
    fitted.save_model(path)
    util = AutoEncoderUtil(model_path=path)
    three = pd.DataFrame(np.zeros((4, 3)), columns=["feature1", "feature2", "feature3"])
    with pytest.raises(aeutil.InvalidDataError, match="列の数が合いません"):
        util.predict(["feature1", "feature2", "feature3"], df=three)
    with pytest.raises(aeutil.InvalidDataError, match="列の数が合いません"):
        util.reconstruction_error(np.zeros((4, 3)))


def test_failed_load_keeps_previous_model(fitted, tmp_path):
    path = tmp_path / "m.keras"
    fitted.save_model(path)
    util = AutoEncoderUtil(model_path=path)
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises((ModelFileError, FileNotFoundError)):
        util.load_model(bad)
    assert util.threshold == fitted.threshold
    assert os.fspath(util.model_path) == os.fspath(path)


def test_set_threshold_is_used_and_saved(clusters, tmp_path):
    util = AutoEncoderUtil(df=clusters, seed=2).fit(COLUMNS, epochs=3)
    _, loss, _ = util.predict(COLUMNS)
    new = float(np.percentile(loss, 50))
    util.set_threshold(new)
    y, _, used = util.predict(COLUMNS)
    assert used == new and (y == -1).mean() == pytest.approx(0.5, abs=0.01)
    path = tmp_path / "m.keras"
    util.save_model(path)
    assert AutoEncoderUtil(model_path=path).threshold == new
    assert aeutil.AutoEncoderDetector.load(path).decision_function(clusters).min() < 0
    with pytest.raises(aeutil.InvalidDataError, match="閾値"):
        util.set_threshold(float("nan"))
    assert util.threshold == new
