"""Dask で判定する: 1 台に収まらないデータを、同じモデルファイルと同じコードで。

``aeutil score`` は 1 つのプロセスで CSV を塊ごとに読みます。工場の 1 年分の記録 (数十億行)
には足りません。このモジュールは、そのあとの一歩を既存の分散処理の仕組み Dask で行います。

- :func:`score_dataframe`: Dask の DataFrame をパーティションごとに判定し、パーティション 1 つに
  つき Parquet のファイルを 1 つ書く。各ワーカーはモデルをファイルのパスから **1 回だけ** 読み
  (:func:`cached_network`。Keras のオブジェクトをワーカーへ送ることはありません)、1 プロセスの
  判定と同じ NumPy のコード (:func:`aeutil.parquetfile.score_frame` → ``aeutil.engine.score``)
  で判定します。各ファイルは一時ファイルに書いてから名前を付け替え、フォルダー全体も隣の
  一時フォルダーで書き上げてから付け替えます (:class:`aeutil.parquetfile.OutputFolder`)。
- :func:`score_parquet`: Parquet のファイル・フォルダー・glob を判定する (``aeutil score ...
  --workers N`` / ``--scheduler ADDRESS`` の中身)。出力のフォルダーには入力のファイルと同じ
  名前で 1 つずつ書きます。
- 正常な行の標本を取り出して 1 つのプロセスで学習するのは :mod:`aeutil.sampling` です。
- :func:`dask_client`: 既定の ``LocalCluster`` (プロセス N 個、各 1 スレッド) か、
  ``--scheduler`` のアドレスのスケジューラーにつなぐ。

**信頼性**: タスクには ``retries`` (既定 3) を付けるので、タスクの例外は決まった回数まで
やり直します。ワーカーのプロセスが止まったとき (メモリ不足で落ちた、止められた) は、
スケジューラーがそのワーカーのタスクを別のワーカーでやり直します (Dask の設定
``distributed.scheduler.allowed-failures``、既定 3 回まで)。同じパーティションは同じ名前の
ファイルに書くので、やり直しても行が重複したり抜けたりしません。

Dask はこのモジュールを読み込んだときに初めて読み込まれます (``import aeutil`` や CSV の
``aeutil score`` では読み込みません)。
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dask.dataframe as dd
import pandas as pd

from .clierror import CommandError
from .parquetfile import (
    OutputFolder,
    ScoreSummary,
    check_file,
    count_anomalies,
    empty_frame,
    find_parquet_files,
    read_frame,
    score_frame,
    write_table,
)

__all__ = [
    "ScoreSummary",
    "cached_network",
    "dask_client",
    "read_parquet_files",
    "score_dataframe",
    "score_parquet",
]

#: タスクの既定のやり直しの回数。
DEFAULT_RETRIES = 3

# --- the model, loaded once per worker process ------------------------------------------

_MODELS: dict[tuple[str, int, int], tuple] = {}
_MODEL_LOCK = threading.Lock()
_LOADS = [0]  # how many times this process has read a model file (tests read it)


def model_stamp(path: Path) -> tuple[int, int]:
    """ファイルの ``(更新時刻 ns, 大きさ)``。モデルのキャッシュやタスクの鍵に使う。"""
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


def cached_network(path: str, stamp: tuple[int, int]):
    """``(ネットワーク, 列名, 閾値, パーセンタイル)`` を、このプロセスで 1 回だけ読んで返す。

    鍵はパスとファイルの更新時刻・大きさです。クライアントが判定を始めたときに測った
    ``stamp`` とファイルが違えば (判定の途中でモデルが置き換えられた)、エラーにします
    (ワーカーごとに別のモデルで判定することがないように)。
    """
    key = (path, *stamp)
    with _MODEL_LOCK:
        cached = _MODELS.get(key)
        if cached is None:
            from .modelfile import load_network

            if model_stamp(Path(path)) != tuple(stamp):
                raise CommandError(
                    f"モデルファイル {path} が判定の途中で変わりました。判定をやり直してください。"
                )
            cached = load_network(path)
            _MODELS.clear()  # one model at a time: a new file replaces the old one
            _MODELS[key] = cached
            _LOADS[0] += 1
        return cached


def model_loads() -> int:
    """このプロセスがモデルファイルを読んだ回数 (テスト用: ``client.run(model_loads)``)。"""
    return _LOADS[0]


def peak_memory() -> int:
    """このプロセスのメモリ (RSS) の、起動してからの最大値 (バイト)。

    Linux では ``/proc/self/status`` の ``VmHWM`` を読みます (``resource.getrusage`` の
    ``ru_maxrss`` は、fork した親のメモリまで数えてしまうので使いません)。Windows では
    psutil の ``peak_wset``、ほかではいまの RSS です。
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    info = psutil.Process().memory_info()
    return int(getattr(info, "peak_wset", info.rss))


@dataclass(frozen=True)
class _Job:
    """ワーカーに送るもの: モデルファイルのパスと鍵だけ (モデルそのものは送らない)。"""

    model: str
    stamp: tuple[int, int]


#: パーティションの判定結果を、一時フォルダーに置くときの名前 (クライアントが最後に付け替える)。
_STAGED = ".aeutil-part-{i:06d}.parquet"
#: :func:`_score_partition` が返す 1 行の表の形。
_RESULT_META = pd.DataFrame({
    "partition": pd.Series([], dtype="int64"), "rows": pd.Series([], dtype="int64"),
    "anomalies": pd.Series([], dtype="int64"), "worker": pd.Series([], dtype=object),
    "memory": pd.Series([], dtype="int64"),
})
#: :func:`read_parquet_files` のパーティションが覚えている、元のファイルの名前。
SOURCE_ATTR = "aeutil_source"


def _score_partition(frame: pd.DataFrame, job: _Job, staging: str, run: str,
                     partition_info=None) -> pd.DataFrame:
    """ワーカーで: パーティション 1 つを判定し、一時フォルダーに一時ファイル経由で書く。

    読み込みと同じタスクで動く (Dask が ``from_map`` と ``map_partitions`` を 1 つのタスクに
    まとめる) ので、ワーカーが持つのは、いま判定しているパーティション 1 つだけです。
    ``run`` は、実行ごとにタスクの鍵を変えるためだけの引数です。
    """
    i = partition_info["number"] if partition_info else 0
    network, columns, threshold, _ = cached_network(job.model, job.stamp)
    source = frame.attrs.get(SOURCE_ATTR, f"パーティション {i}")
    table = score_frame(frame, network, columns, threshold, source=source)
    write_table(table, Path(staging) / _STAGED.format(i=i))
    return pd.DataFrame({"partition": [i], "rows": [table.num_rows],
                         "anomalies": [count_anomalies(table)],
                         "worker": [f"{socket.gethostname()}:{os.getpid()}"],
                         "memory": [peak_memory()]})


# --- the cluster -------------------------------------------------------------------------


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator:
    """Dask のクライアント。``scheduler`` があればそこへつなぎ、なければ ``LocalCluster`` を作る。

    ``LocalCluster`` はワーカーをプロセスで ``workers`` 個 (既定: CPU のコアの数)、各 1 スレッドで
    この計算機の中だけ (``127.0.0.1``) に起動します (ログは ERROR だけ)。ワーカーは起動するときに
    判定のコード (このモジュールと pyarrow) を読み込んでおきます。``with`` を抜けると閉じます。
    Dask はワーカーのプロセスで BLAS のスレッドを 1 つにする (``OPENBLAS_NUM_THREADS=1`` など)
    ので、ワーカー 1 つは 1 コアを使います。

    Examples
    --------
    >>> with dask_client(workers=2) as client:  # doctest: +SKIP
    ...     summary = score_parquet("data/", "model.keras", "scored/", client=client)
    """
    from distributed import Client, LocalCluster

    if workers is not None and scheduler is not None:
        raise CommandError("--workers と --scheduler は、どちらか一方だけを指定してください。")
    if scheduler is not None:
        try:
            client = Client(scheduler)  # waits distributed.comm.timeouts.connect (30 s)
        except OSError as exc:
            raise CommandError(
                f"Dask のスケジューラー {scheduler} につながりません: {exc}"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers if workers is not None else (os.cpu_count() or 1)
    # on this machine only (127.0.0.1), the HTTP server on a free port (not 8787, which
    # another cluster may hold: Dask would warn and move)
    # aeutil's scoring code is imported as each worker starts (preload), not by its first task
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
                      preload=["aeutil.distributed"]) as cluster:
        with Client(cluster) as client:
            yield client


@contextmanager
def _client_for(client, workers: int | None, scheduler: str | None) -> Iterator:
    if client is not None:
        yield client
    else:
        with dask_client(workers, scheduler) as own:
            yield own


# --- reading -----------------------------------------------------------------------------


def read_parquet_files(source: str | os.PathLike | Sequence[str | os.PathLike],
                       columns: Sequence[str] | None = None) -> dd.DataFrame:
    """Parquet のファイルを、ファイル 1 つ = パーティション 1 つの Dask の DataFrame にする。

    Parameters
    ----------
    source : str, path or list of paths
        ファイル・フォルダー (その下の ``*.parquet`` をすべて)・glob、またはファイルのリスト。
    columns : list of str, optional
        読む列 (既定: すべて)。

    Notes
    -----
    ``dask.dataframe.read_parquet`` は、ファイルを分けたりまとめたりしてパーティションを決めます。
    ここでは判定結果をファイルごとに書きたいので、``dask.dataframe.from_map`` でファイル 1 つを
    パーティション 1 つにします。読めないファイルは、そのファイルの名前を含むエラーになります。
    """
    if isinstance(source, (str, os.PathLike)):
        files = list(find_parquet_files(os.fspath(source)).files)
    else:
        files = [Path(p).resolve() for p in source]
    meta = empty_frame(files[0])  # from the first file's schema: no data is read here
    if columns is not None:
        meta = meta[list(columns)]
    # each partition carries its file's size and time of change: a file rewritten between two
    # runs gets new task keys, so a scheduler never serves an old reading of it
    specs = [(str(f), *model_stamp(f)) for f in files]
    return dd.from_map(_read_partition, specs,
                       columns=None if columns is None else list(columns),
                       meta=meta, label="read-parquet-file", enforce_metadata=False)


def _read_partition(spec: tuple[str, int, int], columns: list[str] | None = None) -> pd.DataFrame:
    frame = read_frame(Path(spec[0]))
    if columns is not None:
        frame = frame[columns]
    frame.attrs[SOURCE_ATTR] = spec[0]  # errors found while scoring name the file
    return frame


# --- scoring -----------------------------------------------------------------------------


def score_dataframe(ddf: dd.DataFrame, model: str | os.PathLike, output: str | os.PathLike, *,
                    names: Sequence[str] | None = None,
                    client=None, workers: int | None = None, scheduler: str | None = None,
                    retries: int = DEFAULT_RETRIES, overwrite: bool = False,
                    inputs: Sequence[Path] = (), input_folder: Path | None = None,
                    on_done: Callable[[int, int], None] | None = None) -> ScoreSummary:
    """Dask の DataFrame をパーティションごとに判定し、``output`` のフォルダーに Parquet で書く。

    出力の各ファイルは、入力の列のあとに ``再構成誤差`` (float32) と ``判定`` (異常/正常) の
    列を足したもので、``aeutil score`` の CSV と同じ値・同じ判定です。パーティションごとに
    ``map_partitions`` のタスクが 1 つ動き、判定して一時フォルダーに書きます (読み込みと判定は
    Dask が 1 つのタスクにまとめるので、ワーカーが一度に持つのはパーティション 1 つです)。
    エラーのメッセージは、:func:`read_parquet_files` で読んだパーティションなら元のファイルの
    名前を、それ以外は ``パーティション 3`` のような番号を名乗ります。

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        判定するデータ (モデルの列を含む)。
    model : path
        ``aeutil.modelfile.save_network`` (``aeutil fit``、``AutoEncoderDetector.save``) で
        保存した Dense のモデルファイル。ワーカーから同じパスで読めること (実際のクラスターでは
        共有のストレージに置きます)。
    output : path
        判定結果のフォルダー (なければ作る)。空でないフォルダーは ``overwrite=True`` のときだけ
        置き換えます。
    names : list of str, optional
        パーティションごとの出力のファイル名 (相対パス)。既定は ``part.00000.parquet`` から順に。
    client : distributed.Client, optional
        使うクライアント。なければ ``scheduler`` につなぐか、``LocalCluster`` を ``workers`` 個の
        ワーカーで作り (:func:`dask_client`)、終わったら閉じます。
    retries : int, default 3
        タスクが例外で失敗したときにやり直す回数。
    inputs : list of pathlib.Path, optional
        入力のファイル (出力のフォルダーの中にあればエラー)。
    input_folder : pathlib.Path, optional
        入力のフォルダー (出力のフォルダーがその中にあればエラー)。
    on_done : callable, optional
        パーティションを 1 つ書き終えるたびに ``on_done(パーティションの番号, 行数)`` を呼ぶ。

    Returns
    -------
    ScoreSummary
        行数・異常の行数・時間・ワーカーの数と、ワーカーごとのメモリ (RSS) の最大値。

    Raises
    ------
    CommandError
        モデルの列がない、値が数値でない・欠けている (ファイルと行番号つき)、出力のフォルダーに
        すでに結果がある、など。このとき出力のフォルダーには何も書きません。
    """
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    from .modelfile import load_network

    model_path = Path(model).resolve()
    _, columns, _, _ = load_network(model_path)  # checks the file once, on this side
    missing = [c for c in columns if c not in ddf.columns]
    if missing:
        raise CommandError(
            f"モデル {model_path} は列 {', '.join(columns)} で学習されていますが、データには列 "
            f"{', '.join(map(repr, missing))} がありません。使える列: {', '.join(map(str, ddf.columns))}。"
        )
    job = _Job(str(model_path), model_stamp(model_path))
    n_parts = ddf.npartitions
    names = list(names) if names is not None else [f"part.{i:05d}.parquet" for i in range(n_parts)]
    if len(names) != n_parts:
        raise ValueError("names の数がパーティションの数と違います。")
    # a new argument for every run: new task keys, so that the scheduler cannot hand back the
    # results of an earlier run that it still holds instead of writing this run's files
    run = uuid.uuid4().hex
    with OutputFolder(output, overwrite=overwrite, inputs=inputs,
                      input_folder=input_folder) as folder:
        folder.prepare(names)
        scored = ddf.map_partitions(_score_partition, job, str(folder.staging), run,
                                    meta=_RESULT_META, enforce_metadata=False)
        tasks = scored.to_delayed()
        with _client_for(client, workers, scheduler) as active:
            n_workers = len(active.scheduler_info().get("workers", {}))
            started = time.perf_counter()
            futures = active.compute(tasks, retries=retries)
            rows = anomalies = 0
            memory: dict[str, int] = {}
            try:
                for future in as_completed(futures):
                    done = future.result().iloc[0]
                    rows += int(done["rows"])
                    anomalies += int(done["anomalies"])
                    where = str(done["worker"])
                    memory[where] = max(memory.get(where, 0), int(done["memory"]))
                    if on_done is not None:
                        on_done(int(done["partition"]), int(done["rows"]))
            except BaseException as exc:
                active.cancel(futures, force=True)
                if type(exc).__name__ == "KilledWorker":
                    raise CommandError(
                        "Dask のワーカーが何度も止まったので、判定をやめました (メモリ不足など)。"
                        f"出力のフォルダー {output} には何も書いていません。 ({exc})"
                    ) from None
                if isinstance(exc, FutureCancelledError):
                    raise CommandError("判定のタスクが取り消されました。") from None
                raise
            seconds = time.perf_counter() - started
        folder.rename_staged([_STAGED.format(i=i) for i in range(n_parts)], names)
        folder.commit(expected=names)
    return ScoreSummary(folder.target, names, rows, anomalies, seconds, n_workers, memory)


def score_parquet(source: str | os.PathLike, model: str | os.PathLike,
                  output: str | os.PathLike, *, client=None, workers: int | None = None,
                  scheduler: str | None = None, retries: int = DEFAULT_RETRIES,
                  overwrite: bool = False,
                  on_done: Callable[[int, int], None] | None = None) -> ScoreSummary:
    """Parquet のファイル・フォルダー・glob を Dask で判定し、``output`` のフォルダーに書く。

    判定を始める前に、すべてのファイルのスキーマ (ファイルの末尾のメタデータだけ) を読んで、
    モデルの列があるか・数値か・判定済みでないかを確かめます
    (:func:`aeutil.parquetfile.check_file`)。問題のあるファイルが 1 つでもあれば、そのファイルの
    名前を含むエラーで止まり、何も書きません。出力のフォルダーには、入力の各ファイルと同じ
    相対パスの名前で判定結果を書きます (:meth:`aeutil.parquetfile.ParquetInput.names`)。

    ほかの引数は :func:`score_dataframe` と同じです。

    Examples
    --------
    >>> summary = score_parquet("plant/*.parquet", "model.keras", "scored", workers=2)  # doctest: +SKIP
    >>> summary.rows, summary.anomalies  # doctest: +SKIP
    """
    from .modelfile import load_network

    inp = find_parquet_files(os.fspath(source))
    model_path = Path(model).resolve()
    _, columns, _, _ = load_network(model_path)
    for path in inp.files:
        check_file(path, columns, model_path)
    ddf = read_parquet_files(list(inp.files))
    return score_dataframe(
        ddf, model_path, output, names=inp.names(),
        client=client, workers=workers, scheduler=scheduler, retries=retries,
        overwrite=overwrite, inputs=inp.files, input_folder=inp.folder, on_done=on_done,
    )
