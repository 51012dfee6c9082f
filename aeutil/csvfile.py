"""CSV ファイルの読み込み (:func:`read_csv`)。文字コードの扱いは :mod:`aeutil.charset`。"""

from __future__ import annotations

import codecs
import os
import re
import warnings
from pathlib import Path

import pandas as pd

from .charset import bom_encoding, normalize_encoding, suggest_encoding, undecodable_where
from .validation import InvalidDataError

__all__ = ["read_csv", "normalize_encoding"]

_READ_BLOCK = 1 << 20


def _check_csv_bytes(path: Path, encoding: str, codec_name: str) -> None:
    """文字コードの取り違え (BOM) と NUL 文字を、pandas に渡す前に見つける。

    pandas は UTF-16 のファイルを Shift-JIS として「読めてしまう」ことがあり (列名が化けた
    DataFrame が黙って返る)、NUL 文字 (0x00) もそのまま値に入れてしまうので、ここで止めます。
    """
    utf16_or_32 = codec_name.startswith(("utf-16", "utf-32"))
    with path.open("rb") as handle:
        head = handle.read(4)
        by_bom = bom_encoding(head)
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
        suggestion = suggest_encoding(path, codec, by_bom=True) or "utf-8"
        raise InvalidDataError(
            f"{path} を文字コード {encoding!r} で読めませんでした{undecodable_where(path, codec)}。"
            f"encoding={suggestion!r} を指定して読み直してください。"
        ) from None
    except pd.errors.EmptyDataError:
        raise InvalidDataError(
            f"{path} は空のファイルです (見出しの行もありません)。"
        ) from None
    except pd.errors.ParserError as exc:
        raise InvalidDataError(_parser_error_message(path, exc)) from None
    return frame
