"""Parquet の判定: 入力のファイルを探して検査し、判定結果をフォルダーに書く。

``aeutil score`` の Parquet の道 (1 プロセス) と :mod:`aeutil.distributed` (Dask) が共通に使います。

- :func:`find_parquet_files`: ファイル 1 つ、フォルダー (その下の ``*.parquet`` をすべて)、
  glob (``"data/*/2024-*.parquet"``) から、判定するファイルの一覧を作る。
- :func:`check_file`: ファイルの末尾のメタデータ (スキーマ) だけを読み、モデルの列があるか、
  数値の列か、判定済みでないかを確かめる (データは読まないので速い)。
- :func:`score_frame`: DataFrame 1 つを判定し、入力の列のあとに ``再構成誤差`` (float32) と
  ``判定`` (``異常``/``正常``) を足した Arrow の表にする。CSV と同じ
  ``aeutil.engine.score`` で計算し、閾値とは float64 で比べる (同じ値・同じ判定)。
- :class:`OutputFolder`: 出力のフォルダーを、隣の一時フォルダーに書き上げてから名前を
  付け替える。ファイルも 1 つずつ一時ファイルに書いて名前を付け替えるので、途中で
  エラーになっても、止められても、出力のフォルダーには書きかけのものが残りません。

pyarrow は、このモジュールを読み込んだときに初めて読み込まれます (``import aeutil`` や
CSV の判定では読み込みません)。
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import engine
from .cli import ANOMALY_TEXT, LABEL_COLUMN, NORMAL_TEXT, SCORE_COLUMN
from .clierror import CommandError
from .files import AtomicFile
from .validation import InvalidDataError, to_matrix

__all__ = [
    "PARQUET_SUFFIXES",
    "OutputFolder",
    "ParquetInput",
    "ScoreSummary",
    "check_file",
    "count_anomalies",
    "empty_frame",
    "find_parquet_files",
    "is_parquet_input",
    "read_frame",
    "score_file",
    "score_frame",
]

#: Parquet のファイルとして扱う拡張子。
PARQUET_SUFFIXES = (".parquet", ".pq")
_GLOB_CHARS = frozenset("*?[")
_LABELS = pa.array([ANOMALY_TEXT, NORMAL_TEXT], type=pa.string())


def is_parquet_input(text: str) -> bool:
    """``aeutil score`` の入力が Parquet (ファイル・フォルダー・glob) なら True。CSV なら False。"""
    if _GLOB_CHARS & set(text):
        return True
    path = Path(text)
    return path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES


def _is_data_file(path: Path) -> bool:
    # Spark and Dask leave _SUCCESS, _metadata and hidden files beside the data
    return path.is_file() and path.suffix.lower() in PARQUET_SUFFIXES and not path.name.startswith(
        (".", "_"))


@dataclass(frozen=True)
class ParquetInput:
    """判定する Parquet のファイル (絶対パス、名前の順) と、出力で写す元のフォルダー。

    出力のフォルダーには、入力の各ファイルを ``base`` からの相対パスのまま書きます
    (``data/M01/2024-01.parquet`` → ``出力/M01/2024-01.parquet``)。
    """

    text: str
    files: tuple[Path, ...]
    base: Path
    folder: Path | None = None  # フォルダーを指定したときのフォルダー

    def names(self) -> list[str]:
        """出力のフォルダーでの各ファイルの名前 (``base`` からの相対パス、``/`` 区切り)。"""
        return [f.relative_to(self.base).with_suffix(".parquet").as_posix() for f in self.files]


def find_parquet_files(text: str) -> ParquetInput:
    """ファイル・フォルダー・glob から、判定する Parquet のファイルの一覧を作る。

    フォルダーなら、その下 (サブフォルダーも) の ``*.parquet`` と ``*.pq`` をすべて、名前の順に
    使います (``_`` や ``.`` で始まる名前は除きます)。glob は ``**`` も使えます。

    Raises
    ------
    CommandError
        見つからない、Parquet のファイルが 1 つもない、glob が Parquet でないファイルに当たった。
    """
    path = Path(text)
    if _GLOB_CHARS & set(text):
        matched = sorted(Path(p).resolve() for p in glob.glob(text, recursive=True))
        files = [p for p in matched if p.is_file()]
        if not files:
            raise CommandError(f"{text} に当てはまるファイルがありません。")
        other = [p for p in files if not _is_data_file(p)]
        if other:
            raise CommandError(
                f"{text} に当てはまるファイルに、Parquet ({', '.join(PARQUET_SUFFIXES)}) でない "
                f"ファイルがあります: {other[0]}。glob を *.parquet で終わるようにしてください。"
            )
        base = Path(os.path.commonpath([p.parent for p in files]))
        return ParquetInput(text, tuple(files), base)
    if path.is_dir():
        folder = path.resolve()
        files = sorted(p for p in folder.rglob("*") if _is_data_file(p))
        if not files:
            raise CommandError(
                f"フォルダー {path} に Parquet のファイル (*.parquet) がありません。"
            )
        return ParquetInput(text, tuple(files), folder, folder)
    if not path.is_file():
        raise CommandError(f"Parquet ファイルが見つかりません: {path}")
    file = path.resolve()
    return ParquetInput(text, (file,), file.parent)


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def check_file(path: Path, columns: Sequence[str], model: Path) -> pa.Schema:
    """Parquet のファイルのスキーマだけを読んで、モデルで判定できるファイルかを確かめる。

    Raises
    ------
    CommandError
        Parquet として読めない、モデルの列がない・数値でない・重複している、判定済み
        (``再構成誤差``・``判定`` の列がある)。メッセージはファイルの名前を含みます。
    """
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise CommandError(f"{path} を Parquet のファイルとして読めません: {exc}") from None
    names = schema.names
    taken = [c for c in (SCORE_COLUMN, LABEL_COLUMN) if c in names]
    if taken:
        raise CommandError(
            f"{path} にはすでに列 {', '.join(map(repr, taken))} があります "
            "(判定済みのファイルではありませんか)。元のファイルを指定してください。"
        )
    missing = [c for c in columns if c not in names]
    if missing:
        raise CommandError(
            f"モデル {model} は列 {', '.join(columns)} で学習されていますが、{path} には列 "
            f"{', '.join(map(repr, missing))} がありません。使える列: {', '.join(names) or '(列なし)'}。"
        )
    for name in columns:
        if names.count(name) > 1:
            raise CommandError(f"{path} に列 {name!r} が {names.count(name)} つあります。")
        kind = schema.field(name).type
        if not _numeric(kind):
            raise CommandError(
                f"{path} の列 {name!r} が数値の列ではありません (型: {kind})。"
                "数値の列で保存し直してください。"
            )
    return schema


def empty_frame(path: Path) -> pd.DataFrame:
    """Parquet のファイルのスキーマだけを読み、同じ列と型の 0 行の DataFrame を返す。"""
    try:
        return pq.read_schema(path).empty_table().to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise CommandError(f"{path} を Parquet のファイルとして読めません: {exc}") from None


def read_frame(path: Path) -> pd.DataFrame:
    """Parquet のファイルを 1 つ DataFrame に読む (読めなければファイル名つきのエラー)。"""
    try:
        return pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise CommandError(f"{path} を Parquet のファイルとして読めません: {exc}") from None


def score_frame(frame: pd.DataFrame, network, columns: Sequence[str], threshold: float, *,
                source: str, first_row: int = 0) -> pa.Table:
    """DataFrame を判定し、入力の列のあとに ``再構成誤差`` と ``判定`` を足した Arrow の表を返す。

    ``aeutil score`` の CSV の道と同じ計算です: 列を検査して ``float32`` にし
    (``aeutil.validation.to_matrix``)、``aeutil.engine.score`` で再構成誤差を求め、
    ``float64`` で閾値と比べます (``AutoEncoderUtil.predict`` と同じ判定)。

    Parameters
    ----------
    source : str
        エラーのメッセージで名乗るもの (ファイル名など)。
    first_row : int, default 0
        ``frame`` の最初の行が、ファイルの何行目 (0 から) か。エラーの行番号に使います。
    """
    try:
        X = to_matrix(frame, list(columns), source=f"{source} ",
                      row_label=lambda i: f"{first_row + i + 1} 行目")
    except InvalidDataError as exc:
        raise CommandError(str(exc)) from None
    loss = engine.score(network, X)
    # compared in float64, as AutoEncoderUtil.predict and the CSV path do: the same labels
    normal = ~(loss.astype(np.float64) > threshold)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.append_column(SCORE_COLUMN, pa.array(loss, type=pa.float32()))
    labels = pc.take(_LABELS, pa.array(normal.astype(np.int8)))
    return table.append_column(LABEL_COLUMN, labels)


def count_anomalies(table: pa.Table) -> int:
    """判定結果の表の ``異常`` の行数。"""
    return int(pc.sum(pc.equal(table.column(LABEL_COLUMN), ANOMALY_TEXT)).as_py() or 0)


def write_table(table: pa.Table, target: Path) -> None:
    """Arrow の表を Parquet のファイルに、一時ファイルに書いてから名前を付け替えて書く。"""
    with AtomicFile(target) as out:
        pq.write_table(table, out.path)
        out.commit()


def score_file(source: Path, target: Path, network, columns: Sequence[str], threshold: float,
               *, batch_rows: int = 100_000) -> tuple[int, int]:
    """Parquet のファイル 1 つを ``batch_rows`` 行ずつ判定し、``target`` に書く (1 プロセスの道)。

    ``(行数, 異常の行数)`` を返します。書き終えてから名前を付け替えます。
    """
    rows = anomalies = 0
    try:
        reader = pq.ParquetFile(source)
        with AtomicFile(target) as out:
            writer = None
            try:
                for batch in reader.iter_batches(batch_size=batch_rows):
                    frame = batch.to_pandas()
                    table = score_frame(frame, network, columns, threshold, source=str(source),
                                        first_row=rows)
                    if writer is None:
                        writer = pq.ParquetWriter(out.path, table.schema)
                    writer.write_table(table)
                    rows += table.num_rows
                    anomalies += count_anomalies(table)
                if writer is None:  # no rows: the input's columns and the two added ones
                    empty = reader.schema_arrow.empty_table().to_pandas()
                    writer = pq.ParquetWriter(out.path, score_frame(
                        empty, network, columns, threshold, source=str(source)).schema)
            finally:
                if writer is not None:
                    writer.close()
            out.commit()
    except (OSError, pa.ArrowException) as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename == str(source):
            raise CommandError(f"Parquet ファイルが見つかりません: {source}") from None
        raise CommandError(f"{source} を Parquet のファイルとして読めません: {exc}") from None
    return rows, anomalies


@dataclass
class ScoreSummary:
    """Parquet の判定の結果の要約。

    Attributes
    ----------
    output : pathlib.Path
        判定結果のフォルダー。
    files : list of str
        書いたファイル (``output`` からの相対パス、入力の順)。
    rows : int
        判定した行数。
    anomalies : int
        そのうち異常の行数。
    seconds : float
        判定にかかった時間 (秒。クラスターの起動は含まない)。
    workers : int
        判定した Dask のワーカーの数 (1 プロセスで判定したときは 0)。
    memory : dict
        ワーカーごとに (``ホスト名:プロセス番号``)、ワーカーのプロセスのメモリ (RSS) の
        起動してからの最大値 (バイト。Windows では各タスクの終わりに測った値の最大)。
    """

    output: Path
    files: list[str]
    rows: int
    anomalies: int
    seconds: float
    workers: int = 0
    memory: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """1 秒あたりの行数。"""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _remove_tree(path: Path, attempts: int = 5) -> None:
    """フォルダーを消す (ほかのプロセスがまだ書いていて消し切れなければ、少し待ってやり直す)。"""
    for attempt in range(attempts):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


class OutputFolder:
    """判定結果のフォルダーを、隣の一時フォルダーに書き上げてから付け替える。

    ``with`` の中で :meth:`commit` まで進まなければ、一時フォルダーを消します。
    出力のフォルダーがすでにあって空でなければ、``overwrite=True`` でなければエラーにします。
    上書きするときは、古いフォルダーを脇へ名前を変えてから新しいフォルダーを付け替え、
    最後に古いものを消します。

    Parameters
    ----------
    target : path-like
        判定結果のフォルダー。
    overwrite : bool, default False
        すでに結果のあるフォルダーを置き換える。
    inputs : sequence of pathlib.Path, optional
        入力のファイル (出力のフォルダーの下にあればエラー。上書きで消してしまうので)。
    input_folder : pathlib.Path, optional
        入力のフォルダー (出力のフォルダーがその中にあればエラー)。
    """

    def __init__(self, target: str | os.PathLike, *, overwrite: bool = False,
                 inputs: Sequence[Path] = (), input_folder: Path | None = None) -> None:
        self.target = self.check(target, overwrite=overwrite, inputs=inputs,
                                 input_folder=input_folder)
        self.staging = self.target.parent / f".{self.target.name}.{secrets.token_hex(4)}.tmp"
        self.staging.mkdir()
        self._done = False

    @staticmethod
    def check(target: str | os.PathLike, *, overwrite: bool = False,
              inputs: Sequence[Path] = (), input_folder: Path | None = None) -> Path:
        """出力のフォルダーに書けるかを確かめ、絶対パスを返す (何も作らない)。"""
        path = Path(target).absolute()
        if path.suffix.lower() == ".csv":
            raise CommandError(
                f"Parquet の判定結果はフォルダーに書きます。--output には .csv でない"
                f"フォルダーの名前を指定してください (いまは {target})。"
            )
        if not path.parent.is_dir():
            raise CommandError(f"--output の保存先のフォルダーがありません: {path.parent}")
        if path.exists() and not path.is_dir():
            raise CommandError(f"--output の {target} はフォルダーではなくファイルです。")
        resolved = path.resolve()
        inside = [p for p in inputs if resolved == p or resolved in p.parents]
        if inside:
            raise CommandError(
                f"--output のフォルダー {target} の中に入力のファイル {inside[0]} があります。"
                "入力とは別のフォルダーを指定してください。"
            )
        if input_folder is not None and (resolved == input_folder
                                         or input_folder in resolved.parents):
            raise CommandError(
                f"--output のフォルダー {target} が入力のフォルダー {input_folder} の中にあります "
                "(次に判定するとき、判定結果まで入力になってしまいます)。"
                "入力とは別のフォルダーを指定してください。"
            )
        if path.is_dir() and any(path.iterdir()) and not overwrite:
            raise CommandError(
                f"出力のフォルダー {target} にはすでにファイルがあります (前の判定結果では"
                "ありませんか)。置き換えるなら --overwrite を付けてください。"
            )
        return path

    def prepare(self, names: Sequence[str]) -> list[Path]:
        """``names`` (相対パス) の一時フォルダーでの置き場所を返す (サブフォルダーは作っておく)。"""
        paths = [self.staging / name for name in names]
        for folder in sorted({p.parent for p in paths}):
            folder.mkdir(parents=True, exist_ok=True)
        return paths

    def rename_staged(self, staged: Sequence[str], names: Sequence[str]) -> None:
        """一時フォルダーの中で、``staged`` の各ファイルを ``names`` (相対パス) に付け替える。"""
        for old, new in zip(staged, names, strict=True):
            source = self.staging / old
            if source.is_file():
                os.replace(source, self.staging / new)

    def leftovers(self) -> Iterator[Path]:
        """一時フォルダーに残った書きかけの一時ファイル (止められたワーカーが書いていたもの)。"""
        return (p for p in self.staging.rglob(".*.tmp") if p.is_file())

    def commit(self, expected: Sequence[str] | None = None) -> Path:
        """書きかけの一時ファイルを消し、一時フォルダーを出力のフォルダーに付け替える。

        ``expected`` (相対パスの並び) があれば、そのファイルがすべて揃っているかを先に確かめ、
        揃っていなければ何も付け替えずにエラーにします。
        """
        for leftover in list(self.leftovers()):
            leftover.unlink(missing_ok=True)
        missing = [name for name in expected or () if not (self.staging / name).is_file()]
        if missing:
            raise CommandError(
                f"判定結果のファイルが {len(missing)} 個足りません ({missing[0]} など)。"
                f"出力のフォルダー {self.target} には何も書いていません。"
            )
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.{secrets.token_hex(4)}.old"
            os.replace(self.target, old)
        os.replace(self.staging, self.target)
        self._done = True
        if old is not None:
            _remove_tree(old)
        return self.target

    def discard(self) -> None:
        """一時フォルダーを消す (出力のフォルダーには触れない)。"""
        self._done = True
        _remove_tree(self.staging)

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._done:
            self.discard()


def score_files_in_process(inp: ParquetInput, model_path: Path, output: Path, *,
                           overwrite: bool = False, batch_rows: int = 100_000,
                           progress=None) -> ScoreSummary:
    """Parquet のファイルを 1 プロセスで順に判定し、``output`` のフォルダーに書く。

    ``progress`` は ``aeutil.commands.Progress`` (なくてもよい)。
    """
    from .modelfile import load_network

    network, columns, threshold, _ = load_network(model_path)
    for path in inp.files:
        check_file(path, columns, model_path)
    started = time.perf_counter()
    names = inp.names()
    rows = anomalies = done_bytes = 0
    with OutputFolder(output, overwrite=overwrite, inputs=inp.files,
                      input_folder=inp.folder) as folder:
        for source, target in zip(inp.files, folder.prepare(names), strict=True):
            n, bad = score_file(source, target, network, columns, threshold,
                                batch_rows=batch_rows)
            rows += n
            anomalies += bad
            done_bytes += source.stat().st_size
            if progress is not None:
                progress.update(done_bytes, rows)
        folder.commit(expected=names)
    if progress is not None:
        progress.close(done_bytes, rows)
    return ScoreSummary(folder.target, names, rows, anomalies, time.perf_counter() - started)
