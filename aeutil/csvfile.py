"""CSV ファイルの読み込み (:func:`read_csv`) と、文字コードの名前の扱い。"""

from __future__ import annotations

import codecs
import os
import re
import warnings
from pathlib import Path

import pandas as pd

from .validation import InvalidDataError

__all__ = ["read_csv", "normalize_encoding"]

_SHIFT_JIS_ALIASES = {"shift-jis", "shift_jis", "shiftjis", "sjis", "s-jis", "s_jis", "x-sjis"}
_READ_BLOCK = 1 << 20
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # also the start of UTF-32 LE/BE BOMs
_ENCODING_CANDIDATES = (("utf-8-sig", "utf-8"), ("cp932", "shift-jis"), ("euc-jp", "euc-jp"))


def normalize_encoding(encoding: str) -> str:
    """文字コード名を、実際に使うコーデック名にそろえる。

    Excel が「Shift-JIS」として保存する CSV には、①・㈱・髙 のような
    Windows 独自の文字 (CP932 にだけある文字) が入ることがあります。
    純粋な Shift_JIS のコーデックではこれらを読めないため、Shift-JIS 系の名前は
    上位互換の ``cp932`` に読み替えます。``utf-8`` は BOM 付きも読めるよう
    ``utf-8-sig`` に読み替えます。

    Parameters
    ----------
    encoding : str
        利用者が指定した文字コード名。

    Returns
    -------
    str
        Python のコーデック名。
    """
    key = encoding.strip().lower()
    if key in _SHIFT_JIS_ALIASES:
        return "cp932"
    if key in {"utf-8", "utf8", "utf_8"}:
        return "utf-8-sig"
    return encoding


# --- CSV ----------------------------------------------------------------------


def _first_undecodable_line(path: Path, codec: str) -> int | None:
    """ファイルを ``codec`` で先頭から読み、最初に読めない場所の行番号を返す (読めれば None)。"""
    decoder = codecs.getincrementaldecoder(codec)()
    line = 1
    with path.open("rb") as handle:
        while block := handle.read(_READ_BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return line + block[: max(exc.start, 0)].count(b"\n")
            except UnicodeError:  # UTF-16/32 without a BOM
                return line
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeError:
            return line
    return None


def _bom_encoding(head: bytes) -> str | None:
    """先頭の BOM から分かる文字コード (``encoding=`` に書く値) を返す。"""
    if head.startswith(_UTF8_BOM):
        return "utf-8"
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    return None


def _suggest_encoding(path: Path, tried: str) -> str:
    with path.open("rb") as handle:
        by_bom = _bom_encoding(handle.read(4))
    if by_bom is not None:
        return by_bom
    for candidate, label in _ENCODING_CANDIDATES:
        if candidate != tried and _first_undecodable_line(path, candidate) is None:
            return label
    return "utf-8"


def _check_csv_bytes(path: Path, encoding: str, codec_name: str) -> None:
    """文字コードの取り違え (BOM) と NUL 文字を、pandas に渡す前に見つける。

    pandas は UTF-16 のファイルを Shift-JIS として「読めてしまう」ことがあり (列名が化けた
    DataFrame が黙って返る)、NUL 文字 (0x00) もそのまま値に入れてしまうので、ここで止めます。
    """
    utf16_or_32 = codec_name.startswith(("utf-16", "utf-32"))
    with path.open("rb") as handle:
        head = handle.read(4)
        by_bom = _bom_encoding(head)
        wrong_bom = (by_bom == "utf-8" and not codec_name.startswith("utf-8")) or (
            by_bom == "utf-16" and not utf16_or_32
        )
        if wrong_bom:
            raise InvalidDataError(
                f"{path} は {by_bom.upper()} のファイルです (先頭に {by_bom.upper()} の BOM があります)。"
                f"文字コード {encoding!r} では読めません。encoding={by_bom!r} を指定して読み直してください。"
            )
        if head and by_bom is None and codec_name in ("utf-16", "utf-32"):
            # Python reads "utf-16" only with a BOM that tells the byte order
            raise InvalidDataError(
                f"{path} の先頭に、{encoding!r} のバイト順を示す BOM がありません。"
                f"encoding='{codec_name}-le' か '{codec_name}-be' を指定してください"
                "(Windows で作ったファイルなら多くは -le)。"
            )
        handle.seek(0)
        # in UTF-16/32 every ASCII character holds a NUL byte: look for NUL characters instead
        decoder = codecs.getincrementaldecoder(codec_name)(errors="replace") if utf16_or_32 else None
        nul, newline = ("\x00", "\n") if utf16_or_32 else (b"\x00", b"\n")
        line = 1
        while block := handle.read(_READ_BLOCK):
            if decoder is not None:
                block = decoder.decode(block)
            at = block.find(nul)
            if at >= 0:
                line += block[:at].count(newline)
                reason = (
                    "テキストの CSV ファイルではありません。" if utf16_or_32 else
                    "テキストの CSV ファイルではないか、UTF-16 で保存されたファイルです。"
                    "UTF-16 なら encoding='utf-16' を指定してください。"
                )
                raise InvalidDataError(f"{path} の {line} 行目に NUL 文字 (0x00) があります。{reason}")
            line += block.count(newline)


def _parser_error_message(path: Path, exc: Exception) -> str:
    text = str(exc).strip()
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if found:
        expected, line, saw = found.groups()
        return (
            f"{path} の {line} 行目: 値が {saw} 個あり、見出しの列の数 ({expected}) と合いません。"
            "区切りのコンマ (,) の数を確かめてください。"
        )
    found = re.search(r"EOF inside string starting at row (\d+)", text)
    if found:
        line = int(found.group(1)) + 1  # pandas counts the header as row 0
        return (
            f"{path} の {line} 行目付近で始まる引用符 (\") が閉じないまま、ファイルが終わっています。"
        )
    return f"{path} を CSV として読めませんでした: {text}"


def read_csv(file_name: str | os.PathLike, encoding: str = "shift-jis", **kwargs) -> pd.DataFrame:
    """CSV ファイルを読み込む (。元の記事では説明だけあって未実装だった関数)。

    Parameters
    ----------
    file_name : str or path-like
        CSV ファイルのパス。
    encoding : str, default "shift-jis"
        文字コード。Shift-JIS 系の名前は CP932 として読む (①・㈱・髙 なども読める)。
        UTF-16 のファイルは ``"utf-16"`` を指定する。
    **kwargs
        :func:`pandas.read_csv` にそのまま渡す引数。``low_memory`` の既定値は ``False``
        (列の型を、ファイルを分けずに列全体から決める)。

    Returns
    -------
    pandas.DataFrame
        読み込んだデータ。

    Raises
    ------
    FileNotFoundError
        ファイルがない。
    InvalidDataError
        読めないファイル。メッセージはファイル名と問題の場所 (行番号) を示す。
        指定した文字コードで読めない (読めそうな ``encoding=`` の候補を示す)、
        BOM が示す文字コードと違う、NUL 文字がある (テキストのファイルでない)、
        空のファイル、値の数が見出しの列の数と合わない行がある、引用符が閉じていない、
        ``encoding`` が知らない文字コード名、パスがフォルダー。
    """
    path = Path(file_name)
    if path.is_dir():
        raise InvalidDataError(f"{path} はフォルダーです。CSV ファイルを指定してください。")
    if not path.is_file():
        raise FileNotFoundError(f"CSV ファイルが見つかりません: {path}")
    codec = normalize_encoding(encoding)
    try:
        codec_name = codecs.lookup(codec).name
    except LookupError:
        raise InvalidDataError(
            f"{path} を読む文字コード {encoding!r} は知りません。"
            "'shift-jis' か 'utf-8' (UTF-16 のファイルなら 'utf-16') を指定してください。"
        ) from None
    _check_csv_bytes(path, encoding, codec_name)
    kwargs.setdefault("low_memory", False)
    # pandas would silently turn the first column into the index when the first data row has
    # one value more than the header (a trailing comma, say), shifting every value one column
    # left; index_col=False keeps the columns and only warns, and the warning becomes our error
    implicit_index = "index_col" not in kwargs
    kwargs.setdefault("index_col", False)
    try:
        with warnings.catch_warnings():
            if implicit_index:
                warnings.filterwarnings(
                    "error", "Length of header or names does not match", pd.errors.ParserWarning
                )
            frame = pd.read_csv(path, encoding=codec, **kwargs)
    except pd.errors.ParserWarning:
        raise InvalidDataError(
            f"{path} の最初のデータの行 (2 行目付近) の値の数が、見出しの列の数より多くなっています。"
            "行末に余分なコンマ (,) がないか、見出しの列が足りないかを確かめてください。"
        ) from None
    except UnicodeError:  # UnicodeDecodeError, or UTF-16/32 without a BOM
        line = _first_undecodable_line(path, codec)
        where = f" ({line} 行目付近)" if line is not None else ""
        raise InvalidDataError(
            f"{path} を文字コード {encoding!r} で読めませんでした{where}。"
            f"encoding={_suggest_encoding(path, codec)!r} を指定して読み直してください。"
        ) from None
    except pd.errors.EmptyDataError:
        raise InvalidDataError(
            f"{path} は空のファイルです (見出しの行もありません)。"
        ) from None
    except pd.errors.ParserError as exc:
        raise InvalidDataError(_parser_error_message(path, exc)) from None
    return frame
