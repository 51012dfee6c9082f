"""aeutil.files.AtomicFile (the one atomic writer) and aeutil.charset (the one set of encoding
helpers), which read_csv, the model files and the aeutil command share."""

from __future__ import annotations

import codecs
import os
import stat

from aeutil.charset import Encoding, resolve_encoding, suggest_encoding
from aeutil.clierror import CommandError
from aeutil.csvfile import read_csv
from aeutil.files import AtomicFile
from aeutil.validation import InvalidDataError

import pytest


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_file_replaces_the_target_only_on_commit(tmp_path):
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")
    with AtomicFile(target) as out:
        out.open().write(b"new")
        assert target.read_bytes() == b"old"  # nothing visible before the rename
        assert out.path.parent == tmp_path and ".tmp" in out.path.name
        assert out.commit() == target
    assert target.read_bytes() == b"new" and _names(tmp_path) == ["out.csv"]


@pytest.mark.parametrize("exists", [True, False])
def test_atomic_file_leaves_no_trace_when_the_block_fails(tmp_path, exists):
    target = tmp_path / "model.keras"
    if exists:
        target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"), AtomicFile(target, ".tmp.keras") as out:
        out.open().write(b"half")
        raise OSError("disk full")
    assert _names(tmp_path) == (["model.keras"] if exists else [])
    if exists:
        assert target.read_bytes() == b"old"


def test_atomic_file_without_commit_is_discarded(tmp_path):
    target = tmp_path / "out.csv"
    with AtomicFile(target) as out:
        out.open().write(b"never committed")
    assert _names(tmp_path) == []


def test_atomic_file_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "out.csv"
    umask = os.umask(0o022)
    try:
        with AtomicFile(target) as out:
            out.open().write(b"1")
            out.commit()
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        os.chmod(target, 0o600)
        with AtomicFile(target) as out:  # path mode: written by name (zipfile, Keras)
            out.path.write_bytes(b"2")
            out.commit()
        assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_bytes() == b"2"
    finally:
        os.umask(umask)


def _utf16_csv(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "温度,振動\n1,2\n".encode("utf-16-le"))
    return path


def test_suggestion_by_bom_is_for_read_csv_only(tmp_path):
    path = _utf16_csv(tmp_path)
    # read_csv reads UTF-16 and says so; the command cannot, so it suggests nothing it cannot read
    assert suggest_encoding(path, "cp932", by_bom=True) == "utf-16"
    assert suggest_encoding(path, "cp932") is None
    with pytest.raises(InvalidDataError, match="encoding='utf-16'"):
        read_csv(path, encoding="utf-8")


def test_suggestion_skips_the_encoding_that_failed(tmp_path):
    path = tmp_path / "sjis.csv"
    path.write_bytes("設備,温度\n①号機,1\n".encode("cp932"))
    assert suggest_encoding(path, "utf-8-sig") == "shift-jis"
    assert suggest_encoding(path, "cp932") is None  # euc-jp cannot read ① either


def test_command_encodings(tmp_path):
    assert resolve_encoding("Shift_JIS", None, "--encoding") == Encoding("cp932", "Shift_JIS")
    assert resolve_encoding("utf8", None, "--encoding").body_codec == "utf-8"  # no BOM per line
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes("温度\n1\n".encode("cp932"))
    assert resolve_encoding("auto", sjis, "--encoding").codec == "cp932"
    with pytest.raises(CommandError, match="--output-encoding に auto は使えません"):
        resolve_encoding("auto", None, "--output-encoding")
    with pytest.raises(CommandError, match="utf-16 には対応していません"):
        resolve_encoding("utf-16", None, "--encoding")
    with pytest.raises(CommandError, match="klingon という文字コードは知りません"):
        resolve_encoding("klingon", None, "--encoding")
