"""The aeutil command: fit and score CSV files, chunked, atomic, with clear Japanese errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import aeutil
from aeutil.cli import LABEL_COLUMN, SCORE_COLUMN, main

import numpy as np
import pandas as pd
import pytest

COLUMNS = ["温度", "振動", "電流"]
MACHINES = ["①号機", "㈱髙橋製作所 ライン2", "③号機"]  # ①・㈱・髙 exist only in CP932


def _sensor_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temperature = rng.normal(60.0, 1.5, n)
    frame = pd.DataFrame(
        {
            "設備名": [MACHINES[i % len(MACHINES)] for i in range(n)],
            "温度": temperature.round(2),
            "振動": (0.5 + 0.02 * (temperature - 60.0) + rng.normal(0.0, 0.01, n)).round(4),
            "電流": (10.0 + 0.1 * (temperature - 60.0) + rng.normal(0.0, 0.05, n)).round(3),
            "ロット": [f"{i % 7:05d}" for i in range(n)],  # zero-padded text must stay as it is
        }
    )
    return frame


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A model fitted once by the command on a Shift-JIS training file."""
    folder = tmp_path_factory.mktemp("cli_model")
    train = folder / "train.csv"
    _sensor_frame(300, seed=0).to_csv(train, index=False, encoding="cp932")
    model = folder / "model.keras"
    code = main(["fit", str(train), "--columns", ",".join(COLUMNS), "--model", str(model),
                 "--epochs", "20", "--seed", "3"])
    assert code == 0
    assert _files(folder) == ["model.keras", "train.csv"]  # one model file, no leftovers
    return model


@pytest.fixture
def new_csv(tmp_path) -> Path:
    """New data in Shift-JIS, columns in another order than at fit time, plus anomalies."""
    frame = _sensor_frame(250, seed=1)[["ロット", "電流", "設備名", "振動", "温度"]]
    frame.loc[[10, 200], "振動"] = [0.9, 0.1]  # break the relation between the sensors
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False, encoding="cp932")
    return path


def test_fit_prints_a_japanese_summary(trained, tmp_path, capsys):
    train = trained.parent / "train.csv"
    model = tmp_path / "again.keras"
    assert main(["fit", str(train), "--columns", "温度、振動,電流", "--model", str(model),
                 "--epochs", "20", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "学習しました" in out and "閾値" in out and "300" in out and "所要時間" in out
    assert "構成: 8-4-8 (モデル 5 個の平均)" in out  # the defaults for two columns
    util = aeutil.AutoEncoderUtil(model_path=model)
    assert util.columns == COLUMNS
    # same seed, same data: the same model as the fixture's
    assert util.threshold == aeutil.AutoEncoderUtil(model_path=trained).threshold


def test_fit_with_an_ensemble_and_score_with_it(trained, new_csv, tmp_path, capsys):
    """--n-models 3 writes one model file holding three networks; score uses their mean."""
    train = trained.parent / "train.csv"
    model = tmp_path / "ensemble.keras"
    assert main(["fit", str(train), "--columns", ",".join(COLUMNS), "--model", str(model),
                 "--epochs", "5", "--seed", "3", "--n-models", "3", "--hidden-units", "6,5",
                 "--encoding-dim", "2"]) == 0
    assert "構成: 6-5-2-5-6 (モデル 3 個の平均)" in capsys.readouterr().out
    util = aeutil.AutoEncoderUtil(model_path=model)
    assert util.n_models == 3
    assert (util.hidden_units, util.encoding_dim) == ((6, 5), 2)
    out = tmp_path / "scored.csv"
    assert main(["score", str(new_csv), "--model", str(model), "--output", str(out)]) == 0
    scores = aeutil.read_csv(out)[SCORE_COLUMN].to_numpy()
    expected = util.reconstruction_error(aeutil.read_csv(new_csv)[COLUMNS])
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert main(["fit", str(train), "--columns", ",".join(COLUMNS), "--model", str(model),
                 "--n-models", "0"]) == 2


def test_round_trip_on_shift_jis(trained, new_csv, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    assert main(["score", str(new_csv), "--model", str(trained), "--output", str(out)]) == 0
    assert "判定しました" in capsys.readouterr().out

    # every input line comes back unchanged, with the two columns appended
    in_lines = new_csv.read_bytes().decode("cp932").splitlines()
    out_lines = out.read_bytes().decode("cp932").splitlines()
    assert out_lines[0] == in_lines[0] + f",{SCORE_COLUMN},{LABEL_COLUMN}"
    assert len(out_lines) == len(in_lines)
    for before, after in zip(in_lines[1:], out_lines[1:], strict=True):
        assert after.startswith(before + ",")
    assert out_lines[1].startswith("00000,") and ",①号機," in out_lines[1]

    scored = aeutil.read_csv(out)
    assert list(scored.columns) == [*aeutil.read_csv(new_csv).columns, SCORE_COLUMN, LABEL_COLUMN]
    util = aeutil.AutoEncoderUtil(model_path=trained)
    y, loss, _ = util.predict(COLUMNS, df=aeutil.read_csv(new_csv))
    np.testing.assert_array_equal(scored[SCORE_COLUMN].to_numpy().astype(np.float32), loss)
    np.testing.assert_array_equal(scored[LABEL_COLUMN].to_numpy(), np.where(y == -1, "異常", "正常"))
    assert set(scored.loc[[10, 200], LABEL_COLUMN]) == {"異常"}
    assert _files(tmp_path) == ["new.csv", "scored.csv"]


def test_chunked_scoring_gives_the_same_bytes(trained, tmp_path):
    frame = _sensor_frame(403, seed=2)
    frame.loc[5, "設備名"] = '点検済み, "再調整"\r\n担当: 髙橋'  # quoted field with a newline
    path = tmp_path / "new.csv"
    text = frame.to_csv(index=False, lineterminator="\r\n")  # Excel writes CRLF
    lines = text.split("\r\n")
    lines.insert(100, "")  # a blank line is skipped, in every chunking alike
    path.write_bytes("\r\n".join(lines).encode("cp932"))

    outputs = {}
    for size in (1, 7, 101, 402, 100_000):  # 402 leaves a last chunk of one row
        out = tmp_path / f"scored_{size}.csv"
        assert main(["score", str(path), "--model", str(trained), "--output", str(out),
                     "--chunksize", str(size)]) == 0
        outputs[size] = out.read_bytes()
    assert all(body == outputs[100_000] for body in outputs.values())
    scored = aeutil.read_csv(tmp_path / "scored_1.csv")
    assert len(scored) == 403
    assert scored.loc[5, "設備名"] == '点検済み, "再調整"\r\n担当: 髙橋'
    assert outputs[1].count(b"\r\n") == 403 + 1 + 1  # header + rows + the newline inside quotes


def test_output_encoding_and_utf8_input(trained, tmp_path):
    path = tmp_path / "new_utf8.csv"
    _sensor_frame(50, seed=4).to_csv(path, index=False, encoding="utf-8-sig")
    out = tmp_path / "scored.csv"
    assert main(["score", str(path), "--model", str(trained), "--output", str(out),
                 "--encoding", "auto", "--output-encoding", "shift-jis"]) == 0
    scored = aeutil.read_csv(out)  # Shift-JIS
    assert scored.loc[0, "設備名"] == "①号機" and len(scored) == 50


def _run_error(args: list[str], capsys) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert captured.err.startswith("エラー: ")
    return captured.err


def test_error_missing_column_in_fit(tmp_path, new_csv, capsys):
    model = tmp_path / "m.keras"
    err = _run_error(["fit", str(new_csv), "--columns", "温度,圧力", "--model", str(model)], capsys)
    assert "'圧力'" in err and "使える列" in err and "振動" in err
    assert not model.exists()


def test_error_wrong_encoding(trained, new_csv, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(new_csv), "--model", str(trained), "--output", str(out),
                      "--encoding", "utf-8"], capsys)
    assert str(new_csv) in err and "--encoding shift-jis" in err
    assert not out.exists()


def test_error_utf8_file_read_as_shift_jis(trained, tmp_path, capsys):
    path = tmp_path / "utf8.csv"
    _sensor_frame(20, seed=5).to_csv(path, index=False, encoding="utf-8")
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(path), "--model", str(trained), "--output", str(out)], capsys)
    assert "--encoding utf-8" in err
    assert not out.exists()


def test_error_model_trained_on_other_columns(trained, tmp_path, capsys):
    path = tmp_path / "other.csv"
    pd.DataFrame({"圧力": [1.0, 2.0], "流量": [3.0, 4.0], "温度": [60.0, 61.0]}).to_csv(
        path, index=False, encoding="cp932"
    )
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(path), "--model", str(trained), "--output", str(out)], capsys)
    assert "温度, 振動, 電流 で学習" in err and "'振動', '電流'" in err and "圧力" in err
    assert _files(tmp_path) == ["other.csv"]


def test_error_missing_model_file(new_csv, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(new_csv), "--model", str(tmp_path / "nothing.keras"),
                      "--output", str(out)], capsys)
    assert "モデルファイルが見つかりません" in err and "nothing.keras" in err
    assert not out.exists()


def test_error_file_that_is_not_a_model(new_csv, tmp_path, capsys):
    fake = tmp_path / "fake.keras"
    fake.write_text("これはモデルではありません", encoding="utf-8")
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(new_csv), "--model", str(fake), "--output", str(out)], capsys)
    assert "fake.keras" in err and "モデルファイル" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("故障", "数値でない値があります: 97 行目 の値 '故障'"), ("", "空欄"), ("inf", "無限大")],
)
def test_error_bad_value_names_column_and_file_line(trained, tmp_path, capsys, value, expected):
    frame = _sensor_frame(120, seed=6)
    frame["振動"] = frame["振動"].astype(str)
    frame.loc[95, "振動"] = value  # data row 95 (0-based) is line 97 of the file
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False, encoding="cp932")
    out = tmp_path / "scored.csv"
    out.write_text("前回の結果", encoding="utf-8")  # an old output must survive a failed run
    err = _run_error(["score", str(path), "--model", str(trained), "--output", str(out),
                      "--chunksize", "40"], capsys)  # the bad row is in the third chunk
    assert "97 行目" in err and "'振動'" in err and expected in err
    assert out.read_text(encoding="utf-8") == "前回の結果"
    assert _files(tmp_path) == ["bad.csv", "scored.csv"]  # no temporary file left


def test_error_bad_value_in_fit(tmp_path, capsys):
    frame = _sensor_frame(30, seed=7)
    frame["温度"] = frame["温度"].astype(str)
    frame.loc[3, "温度"] = "--"
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False, encoding="cp932")
    model = tmp_path / "m.keras"
    err = _run_error(["fit", str(path), "--columns", "温度,振動", "--model", str(model)], capsys)
    assert "5 行目" in err and "'温度'" in err and "'--'" in err
    assert not model.exists()


def test_error_usage_and_options(trained, new_csv, tmp_path, capsys):
    err = _run_error(["score", str(new_csv), "--output", str(tmp_path / "o.csv")], capsys)
    assert "次の引数が必要です: --model" in err
    err = _run_error(["fit", str(new_csv), "--columns", "温度", "--model",
                      str(tmp_path / "m.keras"), "--epochs", "0"], capsys)
    assert "--epochs" in err and "1 以上の整数" in err
    err = _run_error(["fit", str(new_csv), "--columns", "温度", "--model",
                      str(tmp_path / "m.h5")], capsys)
    assert ".keras" in err
    err = _run_error(["score", str(new_csv), "--model", str(trained), "--output", str(new_csv)],
                     capsys)
    assert "入力ファイルと同じ" in err
    assert _files(tmp_path) == ["new.csv"]


def test_error_already_scored_file(trained, new_csv, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    assert main(["score", str(new_csv), "--model", str(trained), "--output", str(out)]) == 0
    again = tmp_path / "again.csv"
    err = _run_error(["score", str(out), "--model", str(trained), "--output", str(again)], capsys)
    assert SCORE_COLUMN in err and not again.exists()


def test_python_dash_m_help():
    result = subprocess.run([sys.executable, "-m", "aeutil", "--help"], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "使い方: aeutil" in result.stdout and "score" in result.stdout
    assert result.stderr == ""


def test_installed_entry_point():
    command = Path(sys.executable).with_name("aeutil")
    if not command.exists():
        pytest.skip("the aeutil command is not installed in this environment")
    result = subprocess.run([str(command), "score", "--help"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "再構成誤差" in result.stdout and result.stderr == ""


def test_chunk_boundaries_do_not_change_scores_at_scale(trained, tmp_path):
    # 8,193 rows in one chunk leave the scorer a last block of a single row (computed by a
    # matrix-vector product, which can round differently); the command must not show that
    path = tmp_path / "new.csv"
    _sensor_frame(8_194, seed=8).to_csv(path, index=False, encoding="cp932")
    outputs = []
    for size in (8_193, 100_000):
        out = tmp_path / f"scored_{size}.csv"
        assert main(["score", str(path), "--model", str(trained), "--output", str(out),
                     "--chunksize", str(size)]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("row", ["x,1,60.0,0.5,10.0,99", "x,1,60.0,0.5"])
def test_error_row_with_another_number_of_values(trained, tmp_path, capsys, row):
    path = tmp_path / "ragged.csv"
    lines = ["日時,番号,温度,振動,電流"] + [f"t{i},{i},60.0,0.5,10.0" for i in range(5)] + [row]
    path.write_bytes(("\n".join(lines) + "\n").encode("cp932"))
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(path), "--model", str(trained), "--output", str(out)], capsys)
    assert "7 行目" in err and "見出しの列の数 (5)" in err
    assert not out.exists()


def _archive(path: Path) -> dict[str, bytes]:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize(
    "options",
    [
        {},  # the command's defaults (100 epochs, 5 networks averaged)
        # stops early (after 26 of 40 epochs): patience and the validation rows matter
        {"epochs": 40, "seed": 5, "n_models": 2, "hidden_units": (6,), "encoding_dim": 2,
         "threshold_percentile": 90.0, "validation_split": 0.2, "patience": 1,
         "batch_size": 16, "lr": 0.01},
    ],
    ids=["defaults", "every-option"],
)
def test_command_fits_and_scores_as_autoencoderutil_does(tmp_path, capsys, options):
    """aeutil fit/score (no scikit-learn) and AutoEncoderUtil: the same file, the same scores."""
    train, new = tmp_path / "train.csv", tmp_path / "new.csv"
    _sensor_frame(240, seed=11).to_csv(train, index=False, encoding="cp932")
    frame = _sensor_frame(90, seed=12)
    frame.loc[[3, 50], "振動"] = [0.95, 0.05]
    frame.to_csv(new, index=False, encoding="cp932")
    flags = {"epochs": "--epochs", "seed": "--seed", "n_models": "--n-models",
             "encoding_dim": "--encoding-dim", "threshold_percentile": "--threshold-percentile",
             "validation_split": "--validation-split", "patience": "--patience",
             "batch_size": "--batch-size", "lr": "--lr"}
    argv = ["fit", str(train), "--columns", ",".join(COLUMNS), "--model", str(tmp_path / "cli.keras")]
    for key, value in options.items():
        if key == "hidden_units":
            argv += ["--hidden-units", ",".join(map(str, value))]
        else:
            argv += [flags[key], str(value)]
    assert main(argv) == 0

    util = aeutil.AutoEncoderUtil(
        df=aeutil.read_csv(train), seed=options.get("seed", 0),
        hidden_units=options.get("hidden_units"), encoding_dim=options.get("encoding_dim"),
        threshold_percentile=options.get("threshold_percentile", 95.0),
        n_models=options.get("n_models", 5),
    ).fit(COLUMNS, epochs=options.get("epochs", 100), batch_size=options.get("batch_size", 32),
          lr=options.get("lr", 1e-3), validation_split=options.get("validation_split", 0.0),
          patience=options.get("patience"))
    util.save_model(tmp_path / "util.keras")
    ours, theirs = _archive(tmp_path / "cli.keras"), _archive(tmp_path / "util.keras")
    assert list(ours) == list(theirs)
    assert ours["config.json"] == theirs["config.json"]  # columns, threshold, standardization
    assert ours["model.weights.h5"] == theirs["model.weights.h5"]
    assert f"閾値: {util.threshold:.6g} " in capsys.readouterr().out

    out = tmp_path / "scored.csv"
    assert main(["score", str(new), "--model", str(tmp_path / "cli.keras"),
                 "--output", str(out)]) == 0
    scored = aeutil.read_csv(out)
    y, loss, _ = util.predict(COLUMNS, df=aeutil.read_csv(new))
    assert scored[SCORE_COLUMN].to_numpy().astype(np.float32).tobytes() == loss.tobytes()
    np.testing.assert_array_equal(scored[LABEL_COLUMN].to_numpy(), np.where(y == -1, "異常", "正常"))


def test_score_output_over_an_old_one_keeps_its_permissions(trained, new_csv, tmp_path):
    import os
    import stat

    out = tmp_path / "scored.csv"
    umask = os.umask(0o022)
    try:
        assert main(["score", str(new_csv), "--model", str(trained), "--output", str(out)]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644  # an ordinary new file
        os.chmod(out, 0o600)  # the owner's choice survives the next run, as for model files
        assert main(["score", str(new_csv), "--model", str(trained), "--output", str(out)]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    finally:
        os.umask(umask)
    assert _files(tmp_path) == ["new.csv", "scored.csv"]


# --- score --explain K (issue 13 §5) ---------------------------------------------------------

EXPLAIN_HEADERS = ["要因1", "要因1の割合", "要因2", "要因2の割合"]


def _read_rows(path: Path, encoding: str = "cp932") -> list[list[str]]:
    """The output as the csv module reads it (every row checked to have the header's length)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))
    assert rows and all(len(row) == len(rows[0]) for row in rows), "ragged CSV"
    return rows


def _expected_shares(model: Path, data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    from aeutil import engine
    from aeutil.modelfile import load_network

    network, columns, _, _ = load_network(model)
    values = engine.contributions(network, data[columns].to_numpy(np.float32))
    return values / values.sum(axis=1, keepdims=True), columns


def _check_explained(rows: list[list[str]], n_input: int, shares: np.ndarray,
                     columns: list[str], k: int) -> int:
    """Checks the K pairs of every row against the shares; returns the number of flagged rows."""
    header = rows[0]
    label = header.index(LABEL_COLUMN)
    added = [f"要因{i}{suffix}" for i in range(1, k + 1) for suffix in ("", "の割合")]
    assert header[n_input:] == [SCORE_COLUMN, LABEL_COLUMN, *added]
    flagged = 0
    for row, expected in zip(rows[1:], shares, strict=True):
        pairs = row[n_input + 2:]
        if row[label] == "正常":
            assert pairs == [""] * (2 * k)
            continue
        assert row[label] == "異常"
        flagged += 1
        ranking = np.argsort(-expected, kind="stable")
        for i in range(k):
            name, share = pairs[2 * i], pairs[2 * i + 1]
            assert re.fullmatch(r"[01]\.\d{3}", share), share  # fixed format: three decimals
            j = columns.index(name)
            # the same column as the contributions computed directly (or one within rounding)
            assert abs(expected[j] - expected[ranking[i]]) < 1e-6, (name, expected)
            assert abs(float(share) - expected[j]) <= 0.0005 + 1e-9, (share, expected[j])
    return flagged


def test_explain_round_trips_shift_jis(trained, new_csv, tmp_path, capsys):
    out, plain = tmp_path / "explained.csv", tmp_path / "plain.csv"
    assert main(["score", str(new_csv), "--model", str(trained), "--output", str(plain)]) == 0
    plain_stdout = capsys.readouterr().out
    assert "要因" not in plain_stdout
    assert main(["score", str(new_csv), "--model", str(trained), "--output", str(out),
                 "--explain", "2"]) == 0
    stdout = capsys.readouterr().out
    assert "要因1 になった列: 振動 " in stdout

    rows = _read_rows(out)  # Shift-JIS, as the input
    data = aeutil.read_csv(new_csv)
    n_input = len(data.columns)
    assert rows[0] == [*data.columns, SCORE_COLUMN, LABEL_COLUMN, *EXPLAIN_HEADERS]
    shares, columns = _expected_shares(trained, data)
    assert columns == COLUMNS
    assert _check_explained(rows, n_input, shares, columns, k=2) >= 2
    for index in (10, 200):  # 振動 was broken on these rows
        row = rows[1 + index]
        assert row[n_input + 1] == "異常" and row[n_input + 2] == "振動"
        assert float(row[n_input + 3]) == pytest.approx(shares[index, 1], abs=5e-4)
        assert float(row[n_input + 3]) > 0.5

    # each line is the line written without --explain, with the pairs before the newline
    plain_lines, lines = plain.read_bytes().split(b"\n"), out.read_bytes().split(b"\n")
    assert lines[0] == plain_lines[0] + ",要因1,要因1の割合,要因2,要因2の割合".encode("cp932")
    for before, after in zip(plain_lines[1:], lines[1:], strict=True):
        assert after.startswith(before)
        if before.endswith("正常".encode("cp932")):
            assert after == before + b",,,,"
    assert _files(tmp_path) == ["explained.csv", "new.csv", "plain.csv"]


def test_without_explain_the_output_is_the_input_plus_two_columns(trained, new_csv, tmp_path):
    """No --explain: byte for byte what the command wrote before the option existed."""
    out = tmp_path / "scored.csv"
    assert main(["score", str(new_csv), "--model", str(trained), "--output", str(out)]) == 0
    raw = new_csv.read_bytes()
    ending = b"\r\n" if b"\r\n" in raw else b"\n"
    header, *bodies = raw.split(ending)[:-1]
    util = aeutil.AutoEncoderUtil(model_path=trained)
    y, loss, _ = util.predict(COLUMNS, df=aeutil.read_csv(new_csv))
    expected = header + f",{SCORE_COLUMN},{LABEL_COLUMN}".encode("cp932") + ending + b"".join(
        body + f",{value},{'異常' if label == -1 else '正常'}".encode("cp932") + ending
        for body, value, label in zip(bodies, loss.astype(str).tolist(), y, strict=True)
    )
    assert out.read_bytes() == expected


def _explain_file(path: Path, n: int, seed: int, broken: dict[int, tuple[str, float]]) -> None:
    frame = _sensor_frame(n, seed=seed)
    for index, (column, value) in broken.items():
        frame.loc[index, column] = value
    frame.loc[5, "設備名"] = '点検済み, "再調整"\r\n担当: 髙橋'  # quoted field with a newline
    text = frame.to_csv(index=False, lineterminator="\r\n")
    lines = text.split("\r\n")
    lines.insert(100, "")  # a blank line
    path.write_bytes("\r\n".join(lines).encode("cp932"))


def test_explain_chunked_gives_the_same_bytes(trained, tmp_path):
    path = tmp_path / "new.csv"
    broken = {3: ("振動", 0.9), 40: ("温度", 75.0), 41: ("電流", 12.5), 250: ("振動", 0.1),
              401: ("温度", 40.0), 402: ("振動", 0.95)}
    _explain_file(path, 403, seed=13, broken=broken)
    outputs = {}
    for size in (1, 7, 101, 402, 100_000):  # smaller than the file: several chunks
        out = tmp_path / f"explained_{size}.csv"
        assert main(["score", str(path), "--model", str(trained), "--output", str(out),
                     "--chunksize", str(size), "--explain", "3"]) == 0
        outputs[size] = out.read_bytes()
    assert all(body == outputs[100_000] for body in outputs.values())
    rows = _read_rows(tmp_path / "explained_7.csv")
    assert len(rows) == 1 + 403
    assert rows[1 + 5][0] == '点検済み, "再調整"\r\n担当: 髙橋'
    data = aeutil.read_csv(path)
    shares, columns = _expected_shares(trained, data)
    assert _check_explained(rows, len(data.columns), shares, columns, k=3) >= len(broken)
    n_input = len(data.columns)
    for index, (column, _) in broken.items():
        assert rows[1 + index][n_input + 2] == column


def test_explain_at_scale_does_not_depend_on_the_chunking(trained, tmp_path):
    # every row flagged: a chunk of 8,193 rows leaves a block of one flagged row, which a
    # matrix-vector product would round differently
    path = tmp_path / "new.csv"
    frame = _sensor_frame(8_194, seed=14)
    frame["振動"] = frame["振動"] + 0.5
    frame.to_csv(path, index=False, encoding="cp932")
    outputs = []
    for size in (8_193, 100_000):
        out = tmp_path / f"explained_{size}.csv"
        assert main(["score", str(path), "--model", str(trained), "--output", str(out),
                     "--chunksize", str(size), "--explain", "1"]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count("異常,振動,".encode("cp932")) == 8_194


def test_explain_out_of_range_is_refused_without_output(trained, new_csv, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(new_csv), "--model", str(trained), "--output", str(out),
                      "--explain", "4"], capsys)
    assert "--explain 4" in err and "列は 3 個" in err and "1 から 3 まで" in err
    assert _files(tmp_path) == ["new.csv"]
    out.write_text("前回の結果", encoding="utf-8")  # an old output survives a refused run
    for value in ("0", "-1", "二", "1.5"):
        err = _run_error(["score", str(new_csv), "--model", str(trained), "--output", str(out),
                          "--explain", value], capsys)
        assert "--explain" in err and "1 以上の整数" in err
    assert out.read_text(encoding="utf-8") == "前回の結果"
    assert _files(tmp_path) == ["new.csv", "scored.csv"]


def test_explain_refuses_a_file_that_has_its_columns(trained, tmp_path, capsys):
    path = tmp_path / "new.csv"
    frame = _sensor_frame(20, seed=15)
    frame["要因1"] = "メモ"
    frame.to_csv(path, index=False, encoding="cp932")
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(path), "--model", str(trained), "--output", str(out),
                      "--explain", "1"], capsys)
    assert "'要因1'" in err and not out.exists()
    # without --explain the column is only data
    assert main(["score", str(path), "--model", str(trained), "--output", str(out)]) == 0


def test_explain_ties_keep_the_model_column_order(trained, new_csv, tmp_path, monkeypatch):
    from aeutil import engine

    # every column contributes the same: the order is the model's (温度, 振動, 電流), not the file's
    monkeypatch.setattr(engine, "contributions", lambda network, X: np.ones(X.shape))
    out = tmp_path / "scored.csv"
    assert main(["score", str(new_csv), "--model", str(trained), "--output", str(out),
                 "--explain", "3"]) == 0
    rows = _read_rows(out)
    label = rows[0].index(LABEL_COLUMN)
    flagged = [row for row in rows[1:] if row[label] == "異常"]
    assert flagged
    assert all(row[label + 1:] == ["温度", "0.333", "振動", "0.333", "電流", "0.333"]
               for row in flagged)


def test_explain_quotes_column_names_and_converts_the_encoding(trained, tmp_path):
    from aeutil.modelfile import load_network, save_network

    network, _, threshold, percentile = load_network(trained)
    names = ["温度,℃", '振動"mm/s"', "電流"]  # a comma and quotes: written as quoted CSV values
    model = tmp_path / "quoted.keras"
    save_network(network, names, threshold, percentile, model)
    frame = _sensor_frame(60, seed=16).rename(columns=dict(zip(COLUMNS, names, strict=True)))
    frame.loc[[7, 30], '振動"mm/s"'] = [0.95, 0.05]
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False, encoding="cp932")
    out = tmp_path / "scored.csv"
    assert main(["score", str(path), "--model", str(model), "--output", str(out),
                 "--explain", "3", "--output-encoding", "utf-8"]) == 0
    rows = _read_rows(out, encoding="utf-8-sig")
    assert rows[0][:len(frame.columns)] == list(frame.columns)
    shares, columns = _expected_shares(model, aeutil.read_csv(path))
    assert columns == names
    assert _check_explained(rows, len(frame.columns), shares, columns, k=3) >= 2
    assert rows[1 + 7][len(frame.columns) + 2] == '振動"mm/s"'


def test_explain_name_that_the_output_encoding_cannot_write(trained, tmp_path, capsys):
    from aeutil.modelfile import load_network, save_network

    network, _, threshold, percentile = load_network(trained)
    model = tmp_path / "emoji.keras"
    save_network(network, ["温度", "振動🌡", "電流"], threshold, percentile, model)
    path = tmp_path / "new.csv"
    _sensor_frame(20, seed=17).rename(columns={"振動": "振動🌡"}).to_csv(
        path, index=False, encoding="utf-8")
    out = tmp_path / "scored.csv"
    err = _run_error(["score", str(path), "--model", str(model), "--output", str(out),
                      "--encoding", "utf-8", "--output-encoding", "shift-jis", "--explain", "1"],
                     capsys)
    assert "'🌡'" in err and "--output-encoding utf-8" in err and not out.exists()


def test_score_help_documents_explain(capsys):
    assert main(["score", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--explain K" in text and "要因1の割合" in text and "小数点以下 3 桁" in text


def test_share_texts_round_as_percent_format():
    from aeutil.commands import share_texts

    rng = np.random.default_rng(18)
    values = np.concatenate([rng.random(200_000), np.arange(2001) / 2000, [0.0, 1.0, 0.1235]])
    assert share_texts(values).tolist() == [b",%.3f" % v for v in values.tolist()]


def test_contribution_shares_of_overflowing_and_zero_rows(monkeypatch):
    from aeutil import commands, engine

    values = np.array([[np.inf, 1.0, np.inf], [0.0, 0.0, 0.0], [np.nan, 1.0, 1.0], [1.0, 3.0, 0.0]])
    monkeypatch.setattr(engine, "contributions", lambda network, X: values.copy())
    shares = commands.contribution_shares(None, np.zeros((4, 3), np.float32))
    # overflowing columns share the row equally; a row of zeros stays zero
    np.testing.assert_array_equal(
        shares, [[0.5, 0.0, 0.5], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.25, 0.75, 0.0]]
    )


# --- Parquet (issue 15): files, folders and globs in, a folder of Parquet files out ---------


def _parquet_folder(folder: Path, n_files: int = 3, rows: int = 120) -> Path:
    """Parquet files of the sensor frame, one per machine, with a row id; a subfolder too."""
    folder.mkdir(parents=True)
    for i in range(n_files):
        frame = _sensor_frame(rows, seed=10 + i)
        frame.insert(0, "行番号", np.arange(i * rows, (i + 1) * rows))
        frame.loc[[5, 50], "振動"] = [0.9, 0.1]
        target = folder / ("sub" if i == n_files - 1 else "") / f"machine{i}.parquet"
        target.parent.mkdir(exist_ok=True)
        frame.to_parquet(target, index=False)
    return folder


def _nothing_left(parent: Path, expected: list[str]) -> None:
    assert _files(parent) == sorted(expected), "a half-written folder or a temporary was left"


def test_parquet_folder_gives_the_scores_and_labels_of_the_csv_path(trained, tmp_path, capsys):
    data = _parquet_folder(tmp_path / "data")
    out = tmp_path / "scored"
    assert main(["score", str(data), "--model", str(trained), "--output", str(out)]) == 0
    assert "(3 ファイル)" in capsys.readouterr().out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == [
        "machine0.parquet", "machine1.parquet", "sub/machine2.parquet"]
    for source in sorted(data.rglob("*.parquet")):
        frame = pd.read_parquet(source)
        scored = pd.read_parquet(out / source.relative_to(data))
        # the input's columns unchanged, then the two columns of the CSV path
        assert list(scored.columns) == [*frame.columns, SCORE_COLUMN, LABEL_COLUMN]
        pd.testing.assert_frame_equal(scored[frame.columns], frame, check_dtype=False)
        assert scored[SCORE_COLUMN].dtype == np.float32
        # the same rows through the CSV command: the same float32 scores and labels
        csv, csv_out = tmp_path / "same.csv", tmp_path / "same_scored.csv"
        frame.to_csv(csv, index=False, encoding="utf-8")
        assert main(["score", str(csv), "--encoding", "utf-8", "--model", str(trained),
                     "--output", str(csv_out)]) == 0
        expected = pd.read_csv(csv_out, encoding="utf-8")
        np.testing.assert_array_equal(scored[SCORE_COLUMN].to_numpy(),
                                      expected[SCORE_COLUMN].to_numpy(np.float32))
        assert scored[LABEL_COLUMN].tolist() == expected[LABEL_COLUMN].tolist()
        assert set(scored[LABEL_COLUMN]) == {"正常", "異常"}


def test_parquet_file_and_glob_inputs(trained, tmp_path):
    data = _parquet_folder(tmp_path / "data")
    one = tmp_path / "one"
    assert main(["score", str(data / "machine1.parquet"), "--model", str(trained),
                 "--output", str(one)]) == 0
    assert _files(one) == ["machine1.parquet"]
    globbed = tmp_path / "globbed"
    assert main(["score", str(data / "**" / "machine*.parquet"), "--model", str(trained),
                 "--output", str(globbed)]) == 0
    assert sorted(p.relative_to(globbed).as_posix() for p in globbed.rglob("*.parquet")) == [
        "machine0.parquet", "machine1.parquet", "sub/machine2.parquet"]
    a = pd.read_parquet(one / "machine1.parquet")
    b = pd.read_parquet(globbed / "machine1.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_parquet_chunksize_does_not_change_the_output(trained, tmp_path):
    data = _parquet_folder(tmp_path / "data", n_files=1, rows=1000)
    for chunk in ("1000", "7"):
        out = tmp_path / f"out{chunk}"
        assert main(["score", str(data), "--model", str(trained), "--output", str(out),
                     "--chunksize", chunk]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out1000"),
                                  pd.read_parquet(tmp_path / "out7"))


@pytest.mark.parametrize("bad", ["wrong columns", "not parquet", "text column", "scored"])
def test_parquet_bad_file_names_the_file_and_writes_nothing(trained, tmp_path, capsys, bad):
    data = _parquet_folder(tmp_path / "data")
    target = data / "machine1.parquet"
    if bad == "wrong columns":
        pd.read_parquet(target).rename(columns={"電流": "電力"}).to_parquet(target)
        expected = "'電流' がありません"
    elif bad == "not parquet":
        target.write_bytes(b"PAR1 this is not a parquet file")
        expected = "Parquet のファイルとして読めません"
    elif bad == "text column":
        pd.read_parquet(target).astype({"温度": str}).to_parquet(target)
        expected = "'温度' が数値の列ではありません"
    else:
        pd.read_parquet(target).assign(再構成誤差=0.0).to_parquet(target)
        expected = "判定済み"
    out = tmp_path / "scored"
    assert main(["score", str(data), "--model", str(trained), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and expected in err, err
    _nothing_left(tmp_path, ["data"])


def test_parquet_bad_value_found_while_scoring_leaves_nothing(trained, tmp_path, capsys):
    # the schema is right, so the error comes while scoring, after other files are written
    data = _parquet_folder(tmp_path / "data")
    target = data / "sub" / "machine2.parquet"
    frame = pd.read_parquet(target)
    frame.loc[7, "振動"] = np.nan
    frame.to_parquet(target)
    out = tmp_path / "scored"
    assert main(["score", str(data), "--model", str(trained), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and "8 行目" in err and "振動" in err, err
    _nothing_left(tmp_path, ["data"])


def test_parquet_output_with_results_needs_overwrite(trained, tmp_path, capsys):
    data = _parquet_folder(tmp_path / "data")
    out = tmp_path / "scored"
    out.mkdir()
    (out / "old.parquet").write_bytes(b"old results")
    args = ["score", str(data), "--model", str(trained), "--output", str(out)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _files(out) == ["old.parquet"]
    assert main([*args, "--overwrite"]) == 0
    assert _files(out) == ["machine0.parquet", "machine1.parquet", "sub"]  # the old file gone
    _nothing_left(tmp_path, ["data", "scored"])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*args[:-1], str(empty)]) == 0  # an empty folder holds no results


def test_parquet_refusals(trained, tmp_path, capsys):
    data = _parquet_folder(tmp_path / "data")
    csv = tmp_path / "new.csv"
    _sensor_frame(20, seed=1).to_csv(csv, index=False, encoding="cp932")
    cases = [
        (["score", str(data), "--output", str(data / "x")], "入力のフォルダー"),
        (["score", str(data / "**" / "*.parquet"), "--output", str(data / "sub"),
          "--overwrite"], "入力のファイル"),
        (["score", str(data), "--output", str(data)], "入力のファイル"),
        (["score", str(data), "--output", str(tmp_path / "o.csv")], "フォルダーに書きます"),
        (["score", str(data), "--output", str(tmp_path / "o"), "--explain", "1"],
         "--explain は CSV"),
        (["score", str(tmp_path / "none" / "*.parquet"), "--output", str(tmp_path / "o")],
         "当てはまるファイルがありません"),
        (["score", str(tmp_path / "*.csv"), "--output", str(tmp_path / "o")],
         "Parquet (.parquet, .pq) でない"),
        (["score", str(tmp_path / "missing.parquet"), "--output", str(tmp_path / "o")],
         "見つかりません"),
        (["score", str(csv), "--output", str(tmp_path / "o.csv"), "--workers", "2"],
         "Parquet の入力だけ"),
        (["score", str(data), "--output", str(tmp_path / "o"), "--workers", "1",
          "--scheduler", "tcp://127.0.0.1:1"], "どちらか一方"),
    ]
    for argv, expected in cases:
        assert main([*argv, "--model", str(trained)]) == 2, argv
        err = capsys.readouterr().err
        assert expected in err, (argv, err)
    _nothing_left(tmp_path, ["data", "new.csv"])
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert main(["score", str(empty), "--model", str(trained), "--output", str(tmp_path / "o")]) == 2
    assert "Parquet のファイル (*.parquet) がありません" in capsys.readouterr().err


def test_score_help_documents_parquet_and_dask(capsys):
    assert main(["score", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--overwrite", "--workers N", "--scheduler ADDRESS", "--retries N", "glob"):
        assert option in out, option


@pytest.mark.parametrize("missing, extra, expected", [
    ("pyarrow", [], "pip install pyarrow"),
    ("distributed", ["--workers", "1"], "pip install dask distributed"),
])
def test_parquet_without_its_packages_says_what_to_install(trained, tmp_path, capsys,
                                                           monkeypatch, missing, extra, expected):
    data = _parquet_folder(tmp_path / "data", n_files=1)
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    assert main(["score", str(data), "--model", str(trained), "--output", str(tmp_path / "o"),
                 *extra]) == 2
    assert expected in capsys.readouterr().err
