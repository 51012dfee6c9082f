"""read_csv: Shift-JIS as Excel writes it (CP932), and clear errors for a wrong encoding."""

from __future__ import annotations

from aeutil import InvalidDataError, read_csv

import pandas as pd
import pytest

CP932_ONLY = "①㈱髙"


def _write(path, text: str, encoding: str) -> None:
    path.write_bytes(text.encode(encoding))


def test_reads_cp932_only_characters_with_default_encoding(tmp_path):
    path = tmp_path / "excel.csv"
    _write(path, f"設備,温度\n{CP932_ONLY},21.5\n㈲山田,22.0\n", "cp932")
    # the strict codec really cannot read this file: the test would catch a plain shift_jis
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("shift_jis")
    df = read_csv(path)
    assert df.loc[0, "設備"] == CP932_ONLY
    assert df["温度"].tolist() == [21.5, 22.0]


@pytest.mark.parametrize("name", ["shift-jis", "Shift_JIS", "sjis", "cp932"])
def test_shift_jis_aliases(tmp_path, name):
    path = tmp_path / "a.csv"
    _write(path, "名前\n①\n", "cp932")
    assert read_csv(path, encoding=name).iloc[0, 0] == "①"


def test_utf8_with_bom(tmp_path):
    path = tmp_path / "bom.csv"
    _write(path, "\ufeff温度,圧力\n1,2\n", "utf-8")
    df = read_csv(path, encoding="utf-8")
    assert list(df.columns) == ["温度", "圧力"]


def test_wrong_encoding_names_file_and_suggests(tmp_path):
    path = tmp_path / "utf8data.csv"
    _write(path, "温度,圧力\n1,2\n3,4\n", "utf-8")
    with pytest.raises(InvalidDataError) as info:
        read_csv(path)  # default shift-jis
    message = str(info.value)
    assert "utf8data.csv" in message
    assert "encoding='utf-8'" in message


def test_sjis_file_read_as_utf8_suggests_shift_jis(tmp_path):
    path = tmp_path / "sjis.csv"
    _write(path, "温度,圧力\n1,2\n", "cp932")
    with pytest.raises(InvalidDataError, match="encoding='shift-jis'"):
        read_csv(path, encoding="utf-8")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        read_csv(tmp_path / "nowhere.csv")


def test_kwargs_are_passed_to_pandas(tmp_path):
    path = tmp_path / "semi.csv"
    _write(path, "a;b\n1;2\n", "cp932")
    df = read_csv(path, sep=";")
    pd.testing.assert_frame_equal(df, pd.DataFrame({"a": [1], "b": [2]}))
