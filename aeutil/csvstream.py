"""コマンド ``aeutil`` の CSV の読み書き: 大きなファイルを塊ごとに、行のバイト列のまま扱う。

- :class:`CsvReader`: CSV を ``chunksize`` 行ずつ、生の行 (バイト列) と、指定した列の
  DataFrame の組 (:class:`Chunk`) で読む。行番号 (見出しが 1 行目) を覚えておき、
  エラーはファイルの行番号で知らせる。
- :func:`check_columns`・:func:`to_float32`: 列を見出しで探し、値を検査して ``float32`` にする。
- :func:`convert_bodies`・:func:`scored_lines`: 判定結果の行 (入力の行をそのまま写し、
  行末に再構成誤差と判定 (``--explain`` なら要因の列も) を足したもの) を作る。

出力には入力の行をそのまま書き写すので、ほかの列の書式 (0 埋め、小数の桁など) が変わりません。
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .charset import CANDIDATES, Encoding, decode_error
from .cli import ANOMALY_TEXT, NORMAL_TEXT
from .clierror import CommandError
from .validation import InvalidDataError, to_matrix

__all__ = [
    "Chunk",
    "CsvReader",
    "check_columns",
    "convert_bodies",
    "csv_field",
    "scored_lines",
    "split_records",
    "to_float32",
]

_READ_BLOCK = 1 << 20


def split_ending(record: bytes, default: bytes) -> tuple[bytes, bytes]:
    """行の本体と改行 (CRLF / LF / なし) に分ける。"""
    if record.endswith(b"\r\n"):
        return record[:-2], b"\r\n"
    if record.endswith(b"\n"):
        return record[:-1], b"\n"
    return record, default


def split_records(complete: bytes, line: int) -> tuple[list[bytes], np.ndarray, int, bytes]:
    """改行で終わるバイト列を行 (改行を除いた本体) に分ける。

    引用符 ``"`` の数が奇数の行は、引用符の中に改行がある行なので、次の行とつなげます。
    空行は読み飛ばします。

    Returns
    -------
    bodies : list of bytes
        各行の本体 (行末の CRLF / LF を除く。引用符の中の改行はそのまま)。
    starts : numpy.ndarray
        各行がファイルの何行目から始まるか。
    next_line : int
        次に読む行の行番号。
    rest : bytes
        引用符が閉じないまま終わった最後の行 (次のブロックとつなげて読む)。
    """
    if b'"' not in complete:
        # 速い道: 1 行が 1 レコード
        text = complete.replace(b"\r\n", b"\n") if b"\r" in complete else complete
        bodies = text[:-1].split(b"\n")
        n_physical = len(bodies)
        starts = np.arange(line, line + n_physical)
        if b"\n\n" in text or text.startswith(b"\n"):
            keep = np.fromiter((bool(b) for b in bodies), dtype=bool, count=n_physical)
            bodies = [b for b in bodies if b]
            starts = starts[keep]
        return bodies, starts, line + n_physical, b""
    bodies, starts = [], []
    current: list[bytes] = []
    quotes = 0
    record_start = line
    for physical in complete[:-1].split(b"\n"):
        if not current:
            record_start = line
        current.append(physical)
        line += 1
        if b'"' in physical:
            quotes += physical.count(b'"')
        if quotes % 2 == 0:
            body = b"\n".join(current)
            if body.endswith(b"\r"):
                body = body[:-1]
            if body:
                bodies.append(body)
                starts.append(record_start)
            current, quotes = [], 0
    rest = b"\n".join(current) + b"\n" if current else b""
    line -= len(current)
    return bodies, np.asarray(starts, dtype=np.int64), line, rest


def _comma_count(body: bytes) -> int:
    """引用符の外にあるコンマの数 (引用符の中の ``""`` も正しく数える)。"""
    if b'"' not in body:
        return body.count(b",")
    return sum(part.count(b",") for part in body.split(b'"')[0::2])


@dataclass
class Chunk:
    """:meth:`CsvReader.chunks` が返す塊 (``chunksize`` 行まで)。"""

    bodies: list[bytes]  # 入力の各行 (行末の改行を除いた生のバイト列)
    lines: np.ndarray  # 各行がファイルの何行目から始まるか (見出しが 1 行目)
    frame: pd.DataFrame  # 指定した列だけを読んだもの
    bytes_read: int  # ここまでに読んだバイト数


class CsvReader:
    """CSV を ``chunksize`` 行ずつ、生の行と、指定した列の DataFrame の組で読む。

    出力には入力の行をそのまま書き写すので、ほかの列の書式 (0 埋め、小数の桁など) が
    変わらず、分け方にもよりません。引用符で囲まれた改行を含む行にも対応します
    (引用符の数が偶数になるまでを 1 行とする)。空行は読み飛ばします。
    """

    def __init__(self, path: Path, encoding: Encoding, chunksize: int) -> None:
        self.path = path
        self.encoding = encoding
        self.chunksize = chunksize
        self.size = path.stat().st_size
        self._handle = path.open("rb")
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> None:
        parts: list[bytes] = []
        quotes = 0
        while True:
            physical = self._handle.readline()
            if not physical:
                break
            parts.append(physical)
            quotes += physical.count(b'"')
            if quotes % 2 == 0:
                break
        header = b"".join(parts)
        if not header.strip():
            raise CommandError(f"{self.path} は空のファイルです (見出しの行がありません)。")
        self._line = 1 + len(parts)
        self._bytes = len(header)
        self.header, self.ending = split_ending(header, os.linesep.encode("ascii"))
        try:
            names = pd.read_csv(
                io.BytesIO(self.header + b"\n"),
                encoding=self.encoding.codec,
                nrows=0,
                index_col=False,
            ).columns
        except UnicodeDecodeError:
            raise decode_error(self.path, self.encoding) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise CommandError(
                f"{self.path} の見出しの行を CSV として読めませんでした: {exc}"
            ) from None
        self.columns = [str(c) for c in names]
        # the names as written: pandas renames a repeated name ("a", "a" -> "a", "a.1")
        text = self.header.decode(self.encoding.codec, errors="replace")
        self.raw_columns = next(csv.reader(io.StringIO(text, newline="")), [])
        self._commas = len(self.columns) - 1  # 1 行の区切りの数 (引用符の外のコンマ)

    def close(self) -> None:
        self._handle.close()

    def _blocks(self) -> Iterator[tuple[list[bytes], np.ndarray]]:
        line = self._line
        leftover = b""
        while True:
            block = self._handle.read(_READ_BLOCK)
            data = leftover + block if leftover else block
            if block:
                cut = data.rfind(b"\n")
                if cut < 0:
                    leftover = data
                    continue
                complete, leftover = data[: cut + 1], data[cut + 1 :]
            elif data:
                complete, leftover = data + b"\n", b""  # 最後の行に改行がない
            else:
                return
            bodies, starts, line, rest = split_records(complete, line)
            self._bytes += len(complete) - len(rest)
            if not block and rest:
                # 引用符が閉じないままファイルが終わった: そのまま渡して CSV の解釈でエラーにする
                bodies.append(rest.rstrip(b"\r\n"))
                starts = np.append(starts, line)
                rest = b""
            leftover = rest + leftover
            if bodies:
                yield bodies, starts
            if not block:
                return

    def chunks(self, usecols: list[str]) -> Iterator[Chunk]:
        """``usecols`` の列を読んだ ``chunksize`` 行ずつの塊を、先頭から順に返す。"""
        bodies: list[bytes] = []
        starts: list[np.ndarray] = []
        for new_bodies, new_starts in self._blocks():
            bodies.extend(new_bodies)
            starts.append(new_starts)
            while len(bodies) >= self.chunksize:
                lines = np.concatenate(starts)
                take = bodies[: self.chunksize]
                del bodies[: self.chunksize]
                starts = [lines[self.chunksize :]]
                yield self._chunk(take, lines[: self.chunksize], usecols)
        if bodies:
            yield self._chunk(bodies, np.concatenate(starts), usecols)

    def _check_field_counts(self, bodies: list[bytes], body: bytes, lines: np.ndarray) -> None:
        # 値の数が見出しと違う行は、足した 2 列が別の列の下にずれてしまうので受け付けない
        # (pandas は usecols を指定すると、このずれを黙って読み飛ばす)
        if b'"' in body:
            counts = np.fromiter(map(_comma_count, bodies), dtype=np.int64, count=len(bodies))
        else:
            counts = np.fromiter(
                map(bytes.count, bodies, itertools.repeat(b",")), dtype=np.int64, count=len(bodies)
            )
        wrong = np.flatnonzero(counts != self._commas)
        if wrong.size:
            pos = int(wrong[0])
            raise CommandError(
                f"{self.path} の {lines[pos]} 行目: 値が {counts[pos] + 1} 個あり、"
                f"見出しの列の数 ({self._commas + 1}) と合いません。"
            )

    def _chunk(self, bodies: list[bytes], lines: np.ndarray, usecols: list[str]) -> Chunk:
        body = b"\n".join(bodies)
        self._check_field_counts(bodies, body, lines)
        buffer = self.header + b"\n" + body + b"\n"
        try:
            frame = pd.read_csv(
                io.BytesIO(buffer),
                encoding=self.encoding.codec,
                usecols=usecols,
                index_col=False,
                skip_blank_lines=False,
                low_memory=False,
            )
        except UnicodeDecodeError:
            raise decode_error(self.path, self.encoding) from None
        except pd.errors.ParserError as exc:
            found = re.search(r"line (\d+)", str(exc))
            where = f"{lines[0]}〜{lines[-1]} 行目のどこか"
            if found:
                k = int(found.group(1)) - 2  # 塊の中での位置 (見出しが 1 行目)
                if 0 <= k < len(lines):
                    where = f"{lines[k]} 行目付近"
            raise CommandError(
                f"{self.path} の {where}を CSV として読めませんでした"
                f" (列の数が見出しと合わない、引用符の対応が取れていない、など): {exc}"
            ) from None
        if len(frame) != len(bodies):
            raise CommandError(
                f"{self.path} の {lines[0]}〜{lines[-1]} 行目を CSV として正しく区切れませんでした "
                "(引用符 \" の対応を確かめてください)。"
            )
        return Chunk(bodies, lines, frame, self._bytes)


def check_columns(reader: CsvReader, wanted: Sequence[str], *, model: Path | None) -> list[str]:
    """``wanted`` の列を見出しで探し、見出しでの列名を返す (ないときや重複はエラー)。

    見出しに前後の空白つきで書かれた列名 (``"温度 "``) も、空白を除いた名前で
    1 列だけに当てはまるなら見つけます。
    """
    resolved = []
    for name in wanted:
        if name not in reader.columns:
            near = [c for c in reader.columns if c.strip() == name.strip()]
            if len(near) == 1:
                name = near[0]
        resolved.append(name)
    for name in resolved:
        count = reader.raw_columns.count(name)
        if count > 1:
            raise CommandError(
                f"{reader.path} の見出しに列 {name!r} が {count} つあります。"
                "どの列を使うか決められないので、列名が重ならないように見出しを直してください。"
            )
    missing = [c for c in resolved if c not in reader.columns]
    if not missing:
        return resolved
    available = ", ".join(reader.columns) or "(列なし)"
    names = ", ".join(repr(c) for c in missing)
    hint = ""
    other = _encoding_that_finds(reader, missing)
    if other:
        hint = f" 文字コードが違うのかもしれません。--encoding {other} を試してください。"
    if model is None:
        message = f"{reader.path} に列 {names} がありません。使える列: {available}。"
    else:
        message = (
            f"モデル {model} は列 {', '.join(wanted)} で学習されていますが、"
            f"{reader.path} には列 {names} がありません。使える列: {available}。"
            "別の列で学習したモデルではないか、列名が変わっていないかを確かめてください。"
        )
    raise CommandError(message + hint)


def _encoding_that_finds(reader: CsvReader, missing: Sequence[str]) -> str | None:
    """別の文字コードで見出しを読めば見つかるなら、その文字コードの名前を返す。"""
    for codec, label in CANDIDATES:
        if codec == reader.encoding.codec:
            continue
        try:
            text = reader.header.decode(codec)
        except UnicodeDecodeError:
            continue
        if all(name in text for name in missing):
            return label
    return None


def to_float32(chunk: Chunk, columns: Sequence[str], path: Path) -> np.ndarray:
    """指定した列を検査して float32 の行列にする。問題があればファイルの行番号で知らせる。"""
    try:
        return to_matrix(
            chunk.frame, columns, source=f"{path} ", row_label=lambda i: f"{chunk.lines[i]} 行目"
        )
    except InvalidDataError as exc:
        raise CommandError(str(exc)) from None



def convert_bodies(
    chunk: Chunk, in_enc: Encoding, out_enc: Encoding, path: Path
) -> list[bytes]:
    """入力の行を出力の文字コードに書き直す (文字コードが同じなら何もしない)。"""
    if in_enc.body_codec == out_enc.body_codec:
        return chunk.bodies
    converted = []
    for body, line in zip(chunk.bodies, chunk.lines, strict=True):
        text = body.decode(in_enc.body_codec)
        try:
            converted.append(text.encode(out_enc.body_codec))
        except UnicodeEncodeError as exc:
            raise CommandError(
                f"{path} の {line} 行目に、出力の文字コード {out_enc.label} で書けない文字 "
                f"{exc.object[exc.start:exc.end]!r} があります。"
                "--output-encoding utf-8 を指定してください。"
            ) from None
    return converted


def csv_field(text: str) -> str:
    """CSV の 1 つの値として書く文字列 (コンマ・引用符・改行を含むなら引用符で囲む)。"""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def scored_lines(
    bodies: list[bytes],
    errors: np.ndarray,
    labels: np.ndarray,
    codec: str,
    ending: bytes,
    *,
    explained: list[bytes] | None = None,
    blank: bytes = b"",
) -> bytes:
    """各行の末尾に「,再構成誤差,判定」と改行を足したバイト列を作る。

    ``explained`` (``--explain`` の要因の列) があれば、判定のあとに、異常 (-1) の行には
    順に ``explained`` の値の並び (「,」で始まる)、正常の行には ``blank`` を足してから改行する。
    """
    # float32 を、読み戻すと同じ値になる最短の 10 進表記にする。
    # 行ごとの Python のループを避け、join と split でまとめて作る。
    error_texts = ("," + "\t,".join(errors.astype(str).tolist())).encode("ascii").split(b"\t")
    if explained is None:
        tails = np.array(
            [f",{ANOMALY_TEXT}".encode(codec) + ending, f",{NORMAL_TEXT}".encode(codec) + ending],
            dtype=object,
        )[(labels == 1).astype(np.intp)].tolist()
    else:
        anomaly = f",{ANOMALY_TEXT}".encode(codec)
        column = np.full(len(bodies), f",{NORMAL_TEXT}".encode(codec) + blank + ending,
                         dtype=object)
        column[labels == -1] = [anomaly + values + ending for values in explained]
        tails = column.tolist()
    parts: list[bytes] = [b""] * (3 * len(bodies))
    parts[0::3] = bodies
    parts[1::3] = error_texts
    parts[2::3] = tails
    return b"".join(parts)
