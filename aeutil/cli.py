"""コマンドラインから学習と判定をする ``aeutil`` コマンド。

Python を書かずに、CSV ファイルから学習し、新しい CSV ファイルを判定できます。

.. code-block:: text

    aeutil fit   学習.csv --columns 温度,振動,電流 --model model.keras
    aeutil score 新しい.csv --model model.keras --output 判定結果.csv

``python -m aeutil ...`` でも同じように動きます。

**判定結果の CSV**: 入力の各行を **そのまま** (列の順番・書式・ほかの列も含めて) 書き写し、
行末に 2 つの列を足します。

- ``再構成誤差``: その行の再構成誤差 (異常度)。float32 の値を、読み戻すと同じ値になる
  最短の 10 進表記で書きます。
- ``判定``: 閾値を超えたら ``異常``、それ以外は ``正常``
  (Python の ``predict`` の -1 / 1 に当たります)。

判定に使う列は、モデルに保存された列名で探すので、CSV の列の順番は問いません
(ほかの列があってもかまいません)。大きなファイルは ``--chunksize`` 行ずつ読んで
判定し、結果は一時ファイルに書いてから最後に名前を付け替えます。途中でエラーに
なったり中断したりしても、書きかけの出力ファイルは残りません。

**エラー**: 列がない、文字コードが違う、モデルファイルがない・壊れている、
数値でない値や空欄がある、といった問題は、日本語のメッセージ (ファイル名、列名、
ファイルでの行番号つき) を標準エラーに出し、終了コード 2 で終わります。このときは
何も書き出しません。行番号は見出しを 1 行目として数えたファイルの行番号です。
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import itertools
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .csvfile import _first_undecodable_line, normalize_encoding
from .util import AutoEncoderUtil
from .validation import AEUtilError, InvalidDataError, to_matrix

__all__ = ["main", "build_parser", "CommandError", "SCORE_COLUMN", "LABEL_COLUMN"]

#: 判定結果に足す列の名前 (再構成誤差)。
SCORE_COLUMN = "再構成誤差"
#: 判定結果に足す列の名前 (判定)。値は ``"異常"`` か ``"正常"``。
LABEL_COLUMN = "判定"
#: 閾値を超えた行の判定 (``predict`` の -1)。
ANOMALY_TEXT = "異常"
#: 閾値以下の行の判定 (``predict`` の 1)。
NORMAL_TEXT = "正常"

#: エラーのときの終了コード。
EXIT_ERROR = 2

_DEFAULT_CHUNKSIZE = 100_000
_READ_BLOCK = 1 << 20
_ENCODING_CANDIDATES = (("utf-8-sig", "utf-8"), ("cp932", "shift-jis"), ("euc-jp", "euc-jp"))


class CommandError(AEUtilError):
    """コマンドの利用者に伝えるエラー (メッセージをそのまま表示して終了コード 2 で終わる)。"""


# --- 文字コード -------------------------------------------------------------


@dataclass(frozen=True)
class _Encoding:
    codec: str  # Python のコーデック名 (utf-8-sig / cp932 ...)
    label: str  # 利用者に見せる名前 (--encoding に書く値)

    @property
    def body_codec(self) -> str:
        # 先頭以外の行は BOM なしで書く (utf-8-sig で行ごとに書くと BOM が何度も入る)
        return "utf-8" if self.codec == "utf-8-sig" else self.codec


def _suggest_encoding(path: Path, tried: str) -> str | None:
    for codec, label in _ENCODING_CANDIDATES:
        if codec != tried and _first_undecodable_line(path, codec) is None:
            return label
    return None


def _decode_error(path: Path, encoding: _Encoding) -> CommandError:
    line = _first_undecodable_line(path, encoding.codec)
    where = f" ({line} 行目付近)" if line is not None else ""
    suggestion = _suggest_encoding(path, encoding.codec)
    hint = (
        f"--encoding {suggestion} を指定して、もう一度実行してください。"
        if suggestion
        else "--encoding で正しい文字コード (shift-jis か utf-8) を指定してください。"
    )
    return CommandError(
        f"{path} を文字コード {encoding.label} で読めませんでした{where}。{hint}"
    )


def _resolve_encoding(name: str, path: Path | None, option: str) -> _Encoding:
    """``--encoding`` の値を、実際に使うコーデックにする (``auto`` はファイルを見て決める)。"""
    if name.strip().lower() == "auto":
        if path is None:
            raise CommandError(f"{option} に auto は使えません。shift-jis か utf-8 を指定してください。")
        if _first_undecodable_line(path, "utf-8-sig") is None:
            return _Encoding("utf-8-sig", "utf-8")
        return _Encoding("cp932", "shift-jis")
    codec = normalize_encoding(name)
    try:
        codecs.lookup(codec)
    except LookupError:
        raise CommandError(
            f"{option} {name} という文字コードは知りません。shift-jis か utf-8 を指定してください。"
        ) from None
    # 区切りの「,」・改行・引用符が 1 バイトのまま書かれる文字コードだけを扱う (UTF-16 などは不可)
    try:
        ascii_compatible = '\n,"'.encode(codec.replace("-sig", "")) == b'\n,"'
    except (UnicodeError, LookupError):
        ascii_compatible = False
    if not ascii_compatible:
        raise CommandError(
            f"{option} {name} には対応していません。shift-jis か utf-8 を指定してください。"
        )
    return _Encoding(codec, name)


# --- CSV を「行のバイト列」と「数値の列」として読む --------------------------


def _split_ending(record: bytes, default: bytes) -> tuple[bytes, bytes]:
    """行の本体と改行 (CRLF / LF / なし) に分ける。"""
    if record.endswith(b"\r\n"):
        return record[:-2], b"\r\n"
    if record.endswith(b"\n"):
        return record[:-1], b"\n"
    return record, default


def _split_records(complete: bytes, line: int) -> tuple[list[bytes], np.ndarray, int, bytes]:
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
class _Chunk:
    bodies: list[bytes]  # 入力の各行 (行末の改行を除いた生のバイト列)
    lines: np.ndarray  # 各行がファイルの何行目から始まるか (見出しが 1 行目)
    frame: pd.DataFrame  # 指定した列だけを読んだもの
    bytes_read: int  # ここまでに読んだバイト数


class _CsvReader:
    """CSV を ``chunksize`` 行ずつ、生の行と、指定した列の DataFrame の組で読む。

    出力には入力の行をそのまま書き写すので、ほかの列の書式 (0 埋め、小数の桁など) が
    変わらず、分け方にもよりません。引用符で囲まれた改行を含む行にも対応します
    (引用符の数が偶数になるまでを 1 行とする)。空行は読み飛ばします。
    """

    def __init__(self, path: Path, encoding: _Encoding, chunksize: int) -> None:
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
        self.header, self.ending = _split_ending(header, os.linesep.encode("ascii"))
        try:
            names = pd.read_csv(
                io.BytesIO(self.header + b"\n"),
                encoding=self.encoding.codec,
                nrows=0,
                index_col=False,
            ).columns
        except UnicodeDecodeError:
            raise _decode_error(self.path, self.encoding) from None
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
            bodies, starts, line, rest = _split_records(complete, line)
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

    def chunks(self, usecols: list[str]) -> Iterator[_Chunk]:
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

    def _chunk(self, bodies: list[bytes], lines: np.ndarray, usecols: list[str]) -> _Chunk:
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
            raise _decode_error(self.path, self.encoding) from None
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
        return _Chunk(bodies, lines, frame, self._bytes)


def _check_columns(reader: _CsvReader, wanted: Sequence[str], *, model: Path | None) -> list[str]:
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


def _encoding_that_finds(reader: _CsvReader, missing: Sequence[str]) -> str | None:
    """別の文字コードで見出しを読めば見つかるなら、その文字コードの名前を返す。"""
    for codec, label in _ENCODING_CANDIDATES:
        if codec == reader.encoding.codec:
            continue
        try:
            text = reader.header.decode(codec)
        except UnicodeDecodeError:
            continue
        if all(name in text for name in missing):
            return label
    return None


def _to_float32(chunk: _Chunk, columns: Sequence[str], path: Path) -> np.ndarray:
    """指定した列を検査して float32 の行列にする。問題があればファイルの行番号で知らせる。"""
    try:
        return to_matrix(
            chunk.frame, columns, source=f"{path} ", row_label=lambda i: f"{chunk.lines[i]} 行目"
        )
    except InvalidDataError as exc:
        raise CommandError(str(exc)) from None


# --- 進み具合の表示 ---------------------------------------------------------


class _Progress:
    """標準エラーに「読んだバイト数の割合・行数・経過時間」を 1 行で上書き表示する。"""

    def __init__(self, total_bytes: int, enabled: bool, stream=None) -> None:
        self.total = max(total_bytes, 1)
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self._last = self.start  # 短い処理では途中経過を出さない

    def update(self, bytes_read: int, rows: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        percent = 100.0 * min(bytes_read, self.total) / self.total
        self.stream.write(
            f"\r判定中: {percent:5.1f}%  {rows:,} 行  {now - self.start:.1f} 秒"
        )
        self.stream.flush()

    def close(self, bytes_read: int, rows: int) -> None:
        if self.enabled:
            self.update(bytes_read, rows, force=True)
            self.stream.write("\n")
            self.stream.flush()


# --- 書き出し -----------------------------------------------------------------


class _AtomicOutput:
    """一時ファイルに書き、:meth:`commit` で目的の名前に付け替える。失敗したら消す。"""

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        self.tmp = Path(name)
        self.handle = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())  # on disk before the new name points at it (power loss)
        self.handle.close()
        # mkstemp は本人だけが読める権限で作るので、普通のファイルと同じ権限に直す
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)
        os.replace(self.tmp, self.target)

    def discard(self) -> None:
        self.handle.close()
        if self.tmp.exists():
            self.tmp.unlink()


def _convert_bodies(
    chunk: _Chunk, in_enc: _Encoding, out_enc: _Encoding, path: Path
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


def _scored_lines(
    bodies: list[bytes], errors: np.ndarray, labels: np.ndarray, codec: str, ending: bytes
) -> bytes:
    """各行の末尾に「,再構成誤差,判定」と改行を足したバイト列を作る。"""
    # float32 を、読み戻すと同じ値になる最短の 10 進表記にする。
    # 行ごとの Python のループを避け、join と split でまとめて作る。
    error_texts = ("," + "\t,".join(errors.astype(str).tolist())).encode("ascii").split(b"\t")
    tails = np.array(
        [f",{ANOMALY_TEXT}".encode(codec) + ending, f",{NORMAL_TEXT}".encode(codec) + ending],
        dtype=object,
    )[(labels == 1).astype(np.intp)].tolist()
    parts: list[bytes] = [b""] * (3 * len(bodies))
    parts[0::3] = bodies
    parts[1::3] = error_texts
    parts[2::3] = tails
    return b"".join(parts)


# --- サブコマンド -------------------------------------------------------------


def _csv_path(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise CommandError(f"CSV ファイルが見つかりません: {path}")
    return path


def _parse_names(text: str, option: str) -> list[str]:
    names = [name.strip() for name in re.split(r"[,、]", text)]
    if not text.strip() or any(not name for name in names):
        raise CommandError(
            f"{option} の指定 {text!r} が正しくありません。列名をコンマ区切りで並べてください "
            "(例: --columns 温度,振動,電流)。"
        )
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise CommandError(
            f"{option} に同じ列名が 2 回以上あります: {', '.join(map(repr, twice))} ({text!r})"
        )
    return names


def _parse_units(text: str) -> tuple[int, ...]:
    try:
        units = tuple(int(part) for part in text.split(","))
    except ValueError:
        units = ()
    if not units or any(u < 1 for u in units):
        raise CommandError(
            f"--hidden-units の指定 {text!r} が正しくありません。"
            "正の整数をコンマ区切りで並べてください (例: 8 や 16,8)。"
        )
    return units


def _model_target(value: str) -> Path:
    path = Path(value)
    if path.suffix != ".keras":
        raise CommandError(f"--model の保存先は拡張子 .keras にしてください: {path}")
    if not path.parent.is_dir():
        raise CommandError(f"--model の保存先のフォルダーがありません: {path.parent}")
    return path


def _run_fit(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    path = _csv_path(args.train_csv)
    columns = _parse_names(args.columns, "--columns")
    model_path = _model_target(args.model)
    hidden_units = None if args.hidden_units is None else _parse_units(args.hidden_units)
    encoding = _resolve_encoding(args.encoding, path, "--encoding")

    reader = _CsvReader(path, encoding, args.chunksize)
    try:
        columns = _check_columns(reader, columns, model=None)
        blocks = [_to_float32(chunk, columns, path) for chunk in reader.chunks(columns)]
    finally:
        reader.close()
    if not blocks:
        raise CommandError(f"{path} にはデータの行がありません (見出しだけです)。")
    data = pd.DataFrame(np.concatenate(blocks), columns=columns)

    util = AutoEncoderUtil(
        df=data,
        seed=args.seed,
        hidden_units=hidden_units,
        encoding_dim=args.encoding_dim,
        threshold_percentile=args.threshold_percentile,
        n_models=args.n_models,
    )
    util.fit(
        columns,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        validation_split=args.validation_split,
        patience=args.patience,
    )
    util.save_model(model_path)
    train_errors = util.detector.train_errors_  # 検証データに取り分けた行は含まない
    flagged = int((train_errors > util.threshold).sum())
    elapsed = time.perf_counter() - started
    print(f"学習しました: {path} → {model_path}")
    print(f"  行数: {len(data):,}  列: {', '.join(columns)}")
    print(f"  構成: {util.detector.structure_} (モデル {util.n_models} 個の平均)")
    print(
        f"  閾値: {util.threshold:.6g} "
        f"(学習データの再構成誤差の {args.threshold_percentile:g} パーセンタイル)"
    )
    print(f"  学習データで閾値を超えた行: {flagged:,} / {len(train_errors):,}")
    print(f"  所要時間: {elapsed:.1f} 秒")
    return 0


def _score_chunk(util: AutoEncoderUtil, columns: list[str], X: np.ndarray):
    y, loss, _ = util.predict(columns, df=pd.DataFrame(X, columns=columns))
    return y, loss


def _run_score(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    path = _csv_path(args.new_csv)
    output = Path(args.output)
    if not output.parent.is_dir():
        raise CommandError(f"--output の保存先のフォルダーがありません: {output.parent}")
    if output.exists() and output.resolve() == path.resolve():
        raise CommandError(f"--output に入力ファイルと同じ {output} は指定できません。")
    model_path = Path(args.model)
    in_enc = _resolve_encoding(args.encoding, path, "--encoding")
    out_enc = (
        in_enc
        if args.output_encoding is None
        else _resolve_encoding(args.output_encoding, None, "--output-encoding")
    )

    util = AutoEncoderUtil(model_path=model_path)
    columns = list(util.columns or [])

    reader = _CsvReader(path, in_enc, args.chunksize)
    writer: _AtomicOutput | None = None
    try:
        in_file = _check_columns(reader, columns, model=model_path)
        taken = [c for c in (SCORE_COLUMN, LABEL_COLUMN) if c in reader.columns]
        if taken:
            raise CommandError(
                f"{path} にはすでに列 {', '.join(map(repr, taken))} があります "
                "(判定済みのファイルではありませんか)。元のファイルを指定してください。"
            )
        header_body, ending = reader.header, reader.ending
        if in_enc.codec != out_enc.codec:
            try:
                header_body = header_body.decode(in_enc.codec).encode(out_enc.codec)
            except UnicodeEncodeError as exc:
                raise CommandError(
                    f"{path} の見出しに、出力の文字コード {out_enc.label} で書けない文字 "
                    f"{exc.object[exc.start:exc.end]!r} があります。"
                    "--output-encoding utf-8 を指定してください。"
                ) from None
        header = header_body + f",{SCORE_COLUMN},{LABEL_COLUMN}".encode(out_enc.body_codec) + ending

        progress = _Progress(reader.size, _progress_enabled(args.progress))
        writer = _AtomicOutput(output)
        writer.handle.write(header)
        rows = anomalies = 0
        bytes_read = 0
        for chunk in reader.chunks(in_file):
            X = _to_float32(chunk, in_file, path)
            y, loss = _score_chunk(util, columns, X)
            bodies = _convert_bodies(chunk, in_enc, out_enc, path)
            writer.handle.write(_scored_lines(bodies, loss, y, out_enc.body_codec, ending))
            rows += len(y)
            anomalies += int((y == -1).sum())
            bytes_read = chunk.bytes_read
            progress.update(bytes_read, rows)
        if rows == 0:
            raise CommandError(f"{path} にはデータの行がありません (見出しだけです)。")
        progress.close(bytes_read, rows)
        writer.commit()
        writer = None
    finally:
        reader.close()
        if writer is not None:
            writer.discard()

    elapsed = time.perf_counter() - started
    print(f"判定しました: {path} → {output}")
    print(f"  行数: {rows:,}  異常: {anomalies:,} 行 ({100.0 * anomalies / rows:.1f}%)")
    print(f"  閾値: {util.threshold:.6g} (モデルに保存された値)  列: {', '.join(columns)}")
    speed = f" ({rows / elapsed:,.0f} 行/秒)" if elapsed >= 1.0 else ""
    print(f"  所要時間: {elapsed:.1f} 秒{speed}")
    return 0


def _progress_enabled(option: bool | None) -> bool:
    if option is not None:
        return option
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


# --- 引数の解析 ---------------------------------------------------------------

_ARGPARSE_MESSAGES = (
    (r"^the following arguments are required: (.*)$", r"次の引数が必要です: \1"),
    (r"^unrecognized arguments: (.*)$", r"知らない引数です: \1"),
    (r"^argument (\S+): invalid choice: (.*)$", r"引数 \1 に選べない値です: \2"),
    (r"^argument (\S+): expected one argument$", r"引数 \1 には値を 1 つ指定してください"),
    (r"^argument (\S+): invalid (\w+) value: (.*)$", r"引数 \1 の値 \3 が正しくありません"),
    (r"^argument (\S+): (.*)$", r"引数 \1: \2"),
)


class _UsageError(Exception):
    pass


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        return super().add_usage(usage, actions, groups, prefix="使い方: " if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """見出しとエラーを日本語にした ArgumentParser。"""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self._positionals.title = "引数"
        self._optionals.title = "オプション"
        self.add_argument("-h", "--help", action="help", help="この説明を表示して終わる")

    def error(self, message: str):  # noqa: D102 - argparse の API
        for pattern, replacement in _ARGPARSE_MESSAGES:
            if re.match(pattern, message):
                message = re.sub(pattern, replacement, message)
                break
        raise _UsageError(f"{message}\n{self.format_usage().rstrip()}\n"
                          f"詳しくは {self.prog} --help を見てください。")


def build_parser() -> argparse.ArgumentParser:
    """``aeutil`` コマンドの引数の解析器を作る。

    Returns
    -------
    argparse.ArgumentParser
        ``fit`` と ``score`` のサブコマンドを持つ解析器。
    """
    parser = _Parser(
        prog="aeutil",
        description="オートエンコーダによる異常検知を、CSV ファイルに対してコマンドで実行します。",
        epilog=(
            "例:\n"
            "  aeutil fit train.csv --columns 温度,振動,電流 --model model.keras\n"
            "  aeutil score new.csv --model model.keras --output scored.csv\n\n"
            "エラーのときは日本語のメッセージを出し、終了コード 2 で終わります。"
        ),
    )
    parser.add_argument("--version", action="store_true", help="aeutil のバージョンを表示して終わる")
    sub = parser.add_subparsers(dest="command", title="コマンド", metavar="{fit,score}",
                                parser_class=_Parser)

    fit = sub.add_parser(
        "fit",
        help="CSV の正常データで学習し、モデルを .keras ファイル 1 つに保存する",
        description="CSV ファイルの正常データで学習し、閾値と列名を含むモデルを保存します。",
    )
    fit.add_argument("train_csv", metavar="TRAIN.csv", help="学習データの CSV ファイル")
    fit.add_argument("--columns", required=True, metavar="列1,列2,...",
                     help="学習に使う列名 (コンマ区切り)")
    fit.add_argument("--model", required=True, metavar="MODEL.keras",
                     help="モデルの保存先 (拡張子 .keras)")
    _add_encoding(fit)
    fit.add_argument("--epochs", type=_positive_int, default=100, help="エポック数 (既定 100)")
    fit.add_argument("--batch-size", type=_positive_int, default=32,
                     help="バッチサイズ (既定 32)")
    fit.add_argument("--lr", type=_positive_float, default=1e-3, help="学習率 (既定 0.001)")
    fit.add_argument("--threshold-percentile", type=_percentile, default=95.0,
                     help="閾値にする学習データの再構成誤差のパーセンタイル (既定 95)")
    fit.add_argument("--seed", type=int, default=0, help="乱数のシード (既定 0)")
    fit.add_argument("--hidden-units", default=None, metavar="N[,N...]",
                     help="エンコーダの中間層のユニット数 (例: 16,8。既定: 列数の半分を 8〜64 に収めた値)")
    fit.add_argument("--encoding-dim", type=_positive_int, default=None,
                     help="ボトルネックの次元数 (既定: 列数の 1/8 を 4〜16 に収めた値)")
    fit.add_argument("--n-models", type=_positive_int, default=5,
                     help="アンサンブルの大きさ。初期値の違うモデルの再構成誤差の平均を異常度にする (既定 5)")
    fit.add_argument("--validation-split", type=_fraction, default=0.0,
                     help="検証データに取り分ける割合 (既定 0)")
    fit.add_argument("--patience", type=_positive_int, default=None,
                     help="早期終了の我慢エポック数 (既定: 早期終了しない)")
    fit.add_argument("--chunksize", type=_positive_int, default=_DEFAULT_CHUNKSIZE,
                     help=argparse.SUPPRESS)
    fit.set_defaults(func=_run_fit)

    score = sub.add_parser(
        "score",
        help="保存したモデルで CSV を判定し、再構成誤差と判定の列を足した CSV を書く",
        description=(
            "保存したモデルで CSV ファイルを判定します。入力の各行をそのまま書き写し、\n"
            f"行末に「{SCORE_COLUMN}」と「{LABEL_COLUMN}」({ANOMALY_TEXT}/{NORMAL_TEXT}) の列を足します。\n"
            "判定に使う列は、モデルに保存された列名で探します (列の順番は問いません)。"
        ),
    )
    score.add_argument("new_csv", metavar="NEW.csv", help="判定する CSV ファイル")
    score.add_argument("--model", required=True, metavar="MODEL.keras",
                       help="aeutil fit で保存したモデル")
    score.add_argument("--output", required=True, metavar="OUT.csv", help="判定結果の保存先")
    _add_encoding(score)
    score.add_argument("--output-encoding", default=None,
                       help="判定結果の文字コード (既定: 入力と同じ)")
    score.add_argument("--chunksize", type=_positive_int, default=_DEFAULT_CHUNKSIZE,
                       help=f"一度に読んで判定する行数 (既定 {_DEFAULT_CHUNKSIZE:,})")
    score.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="進み具合を標準エラーに表示する (既定: 端末のときだけ)")
    score.set_defaults(func=_run_score)
    return parser


def _add_encoding(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoding",
        default="shift-jis",
        help="入力 CSV の文字コード: shift-jis (既定。CP932 として読む)、utf-8、"
        "auto (UTF-8 として読めれば UTF-8、だめなら Shift-JIS)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"1 以上の整数を指定してください (いまは {text!r})")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"正の数を指定してください (いまは {text!r})")
    return value


def _percentile(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(
            f"0 より大きく 100 以下の数を指定してください (いまは {text!r})"
        )
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"0 以上 1 未満の数を指定してください (いまは {text!r})")
    return value


# --- 入口 ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``aeutil`` コマンドの入口。

    Parameters
    ----------
    argv : list of str, optional
        コマンドの引数 (``["score", "new.csv", ...]``)。省略するとコマンドラインの引数。

    Returns
    -------
    int
        終了コード。成功は 0、入力やモデルの問題・引数の誤りは 2 (メッセージは標準エラー)。
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"エラー: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if args.version:
        from . import __version__

        print(f"aeutil {__version__}")
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return args.func(args)
    except (AEUtilError, FileNotFoundError) as exc:
        print(f"エラー: {exc}", file=sys.stderr)
    except UnicodeDecodeError as exc:  # 見出し以外で見つかった場合の保険
        print(f"エラー: 文字コードが合いません ({exc})。--encoding を確かめてください。",
              file=sys.stderr)
    except OSError as exc:
        target = f" {exc.filename}" if exc.filename else ""
        print(f"エラー: ファイルを読み書きできませんでした{target}: {exc.strerror or exc}",
              file=sys.stderr)
    except KeyboardInterrupt:
        print("\n中断しました。出力ファイルは作っていません。", file=sys.stderr)
        return 130
    return EXIT_ERROR
