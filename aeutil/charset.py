"""文字コードの名前と、ファイルを読める文字コードの見つけ方 (:func:`aeutil.read_csv` とコマンドで共通)。

- :func:`normalize_encoding`: 利用者の書いた名前をコーデック名にそろえる (Shift-JIS 系は CP932)。
- :func:`first_undecodable_line`・:func:`bom_encoding`・:func:`suggest_encoding`: 読めない場所と、
  代わりに読めそうな文字コードを見つける (エラーメッセージのため)。
- :class:`Encoding`・:func:`resolve_encoding`・:func:`decode_error`: コマンドの ``--encoding``。
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CANDIDATES",
    "Encoding",
    "bom_encoding",
    "decode_error",
    "first_undecodable_line",
    "normalize_encoding",
    "resolve_encoding",
    "suggest_encoding",
    "undecodable_where",
]

_SHIFT_JIS_ALIASES = {"shift-jis", "shift_jis", "shiftjis", "sjis", "s-jis", "s_jis", "x-sjis"}
_READ_BLOCK = 1 << 20
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # also the start of UTF-32 LE/BE BOMs
#: 読めないときに試す文字コード: (コーデック名, 利用者に示す名前)。
CANDIDATES = (("utf-8-sig", "utf-8"), ("cp932", "shift-jis"), ("euc-jp", "euc-jp"))


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


def first_undecodable_line(path: Path, codec: str) -> int | None:
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


def bom_encoding(head: bytes) -> str | None:
    """先頭の BOM から分かる文字コード (``encoding=`` に書く値) を返す。"""
    if head.startswith(_UTF8_BOM):
        return "utf-8"
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    return None


def suggest_encoding(path: Path, tried: str, *, by_bom: bool = False) -> str | None:
    """``tried`` で読めなかったファイルを読めそうな文字コードの名前 (見つからなければ None)。

    Parameters
    ----------
    path : pathlib.Path
        ファイル。
    tried : str
        読めなかったコーデック名 (候補から除く)。
    by_bom : bool, default False
        先頭の BOM が示す文字コードを先に答えるか (UTF-16 も読める :func:`aeutil.read_csv` 用。
        コマンドは UTF-16 を読めないので、候補 :data:`CANDIDATES` だけから選ぶ)。
    """
    if by_bom:
        with path.open("rb") as handle:
            found = bom_encoding(handle.read(4))
        if found is not None:
            return found
    for codec, label in CANDIDATES:
        if codec != tried and first_undecodable_line(path, codec) is None:
            return label
    return None


def undecodable_where(path: Path, codec: str) -> str:
    """``" (N 行目付近)"``: 読めない場所の行番号をメッセージに添える文 (分からなければ空)。"""
    line = first_undecodable_line(path, codec)
    return f" ({line} 行目付近)" if line is not None else ""


# --- the command's --encoding ---------------------------------------------------------------


@dataclass(frozen=True)
class Encoding:
    """コマンドが読み書きに使う文字コード。

    Attributes
    ----------
    codec : str
        Python のコーデック名 (``utf-8-sig``・``cp932`` など)。
    label : str
        利用者に見せる名前 (``--encoding`` に書く値)。
    """

    codec: str
    label: str

    @property
    def body_codec(self) -> str:
        """先頭以外の行を書くコーデック (utf-8-sig で行ごとに書くと BOM が何度も入るので utf-8)。"""
        return "utf-8" if self.codec == "utf-8-sig" else self.codec


def decode_error(path: Path, encoding: Encoding):
    """``encoding`` で読めなかったファイルについての :class:`~aeutil.clierror.CommandError`。"""
    from .clierror import CommandError

    suggestion = suggest_encoding(path, encoding.codec)
    hint = (
        f"--encoding {suggestion} を指定して、もう一度実行してください。"
        if suggestion
        else "--encoding で正しい文字コード (shift-jis か utf-8) を指定してください。"
    )
    return CommandError(
        f"{path} を文字コード {encoding.label} で読めませんでした"
        f"{undecodable_where(path, encoding.codec)}。{hint}"
    )


def resolve_encoding(name: str, path: Path | None, option: str) -> Encoding:
    """``--encoding`` の値を、実際に使うコーデックにする (``auto`` はファイルを見て決める)。

    Raises
    ------
    CommandError
        知らない名前、``auto`` を使えないオプション (``path`` が None)、または
        区切りの「,」・改行・引用符が 1 バイトで書かれない文字コード (UTF-16 など)。
    """
    from .clierror import CommandError

    if name.strip().lower() == "auto":
        if path is None:
            raise CommandError(f"{option} に auto は使えません。shift-jis か utf-8 を指定してください。")
        if first_undecodable_line(path, "utf-8-sig") is None:
            return Encoding("utf-8-sig", "utf-8")
        return Encoding("cp932", "shift-jis")
    codec = normalize_encoding(name)
    try:
        codecs.lookup(codec)
    except LookupError:
        raise CommandError(
            f"{option} {name} という文字コードは知りません。shift-jis か utf-8 を指定してください。"
        ) from None
    # only codecs that write the separators "," and newline and the quote as single bytes
    try:
        ascii_compatible = '\n,"'.encode(codec.replace("-sig", "")) == b'\n,"'
    except (UnicodeError, LookupError):
        ascii_compatible = False
    if not ascii_compatible:
        raise CommandError(
            f"{option} {name} には対応していません。shift-jis か utf-8 を指定してください。"
        )
    return Encoding(codec, name)
