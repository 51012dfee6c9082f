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
- :func:`sample_normal_rows`・:func:`fit_on_sample`: 正常な行から、大きさを決めた無作為の標本を
  再現できるように取り出し、1 つのプロセスで学習する。
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

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask import delayed

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
    "fit_on_sample",
    "read_parquet_files",
    "sample_normal_rows",
    "score_dataframe",
    "score_parquet",
    "write_plant_history",
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


# --- training on a sample ------------------------------------------------------------------


def _normal_mask(frame: pd.DataFrame, normal) -> np.ndarray:
    if normal is None:
        return np.ones(len(frame), dtype=bool)
    mask = frame[normal] if isinstance(normal, str) else normal(frame)
    return np.asarray(mask, dtype=bool)


def _count_normal(frame: pd.DataFrame, normal) -> int:
    return int(_normal_mask(frame, normal).sum())


def _take_normal(frame: pd.DataFrame, normal, positions: np.ndarray, columns) -> pd.DataFrame:
    rows = frame.iloc[np.flatnonzero(_normal_mask(frame, normal))[positions]]
    return rows if columns is None else rows[list(columns)]


def sample_normal_rows(ddf: dd.DataFrame, n: int, *, seed: int = 0,
                       columns: Sequence[str] | None = None,
                       normal: str | Callable[[pd.DataFrame], object] | None = None
                       ) -> pd.DataFrame:
    """正常な行から ``n`` 行を、重複なしの無作為抽出で取り出す (シードで再現できる)。

    1 回目の走査でパーティションごとの正常な行の数を数え、全体の通し番号から ``n`` 個を
    ``numpy.random.default_rng(seed)`` で選び、2 回目の走査でその行だけを取り出します。
    どの行も同じ確率で選ばれ、**同じシード・同じパーティションの分け方なら同じ標本** です
    (行はパーティションの順、その中の行の順に並びます)。

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        元のデータ。
    n : int
        取り出す行数 (正常な行の数以下)。
    seed : int, default 0
        乱数のシード。
    columns : list of str, optional
        返す列 (既定: すべて)。
    normal : str or callable, optional
        正常な行の印: 真偽の列の名前か、パーティション (``pandas.DataFrame``) を受け取って
        真偽の配列を返す関数 (例: ``lambda df: df["状態"] == "稼働"``)。既定はすべての行。

    Returns
    -------
    pandas.DataFrame
        ``n`` 行 (1 つのプロセスのメモリに載る大きさにしてください)。

    Notes
    -----
    **標本で学習すれば足りる理由**: 閾値は学習データの再構成誤差のパーセンタイルです。
    無作為の標本から求めたパーセンタイルのばらつき (標準誤差) は、行数 :math:`n` について
    :math:`1/\\sqrt{n}` のように小さくなり、パーセンタイル :math:`p` の標準誤差はおよそ
    :math:`\\sqrt{p(1-p)/n}/f(q_p)` (:math:`f` は再構成誤差の密度) です。20 万行の標本なら、
    全体の 1 年分 (数十億行) で求めた閾値との差は、たいてい運転のばらつきに比べて無視できます。
    ネットワークが学ぶのは正常な状態の「形」(センサーどうしの関係) なので、その形が標本に
    十分に現れていれば、行数を増やしても再構成はほとんど変わりません。

    **足りないとき**: めったにない正常な運転 (年に数回の立ち上げ・切り替え・洗浄など) は、
    無作為の標本にほとんど入らず、判定で異常に見えます。1 年のあいだに少しずつ変わる
    (ドリフト) データや、季節で変わる状態 (夏だけの冷却の運転など) が標本の時期に偏ると、
    別の時期を異常と判定します。そういうときは、設備ごと・月ごとなどに分けて、それぞれから
    決めた数を取る (層別の抽出。``ddf`` を分けて、この関数を層ごとに呼ぶ) か、設備・季節ごとに
    モデルを分けます。
    """
    if int(n) < 1:
        raise CommandError(f"標本の行数 n は 1 以上にしてください (いまは {n})。")
    parts = ddf.to_delayed()
    counts = np.asarray(dask.compute(*[delayed(_count_normal)(p, normal) for p in parts]),
                        dtype=np.int64)
    total = int(counts.sum())
    if n > total:
        raise CommandError(f"正常な行は {total:,} 行しかないので、{n:,} 行の標本は取れません。")
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=int(n), replace=False))
    edges = np.concatenate([[0], np.cumsum(counts)])
    pieces = []
    for i, part in enumerate(parts):
        lo, hi = np.searchsorted(chosen, [edges[i], edges[i + 1]])
        if hi > lo:
            pieces.append(delayed(_take_normal)(part, normal, chosen[lo:hi] - edges[i], columns))
    frames = dask.compute(*pieces)
    return pd.concat(frames, ignore_index=True)


def fit_on_sample(ddf: dd.DataFrame, columns: Sequence[str], model: str | os.PathLike, *,
                  n: int, seed: int = 0,
                  normal: str | Callable[[pd.DataFrame], object] | None = None,
                  **params):
    """正常な行の標本 (:func:`sample_normal_rows`) で :class:`aeutil.AutoEncoderDetector` を
    1 つのプロセスで学習し、``model`` に保存する。

    ``params`` は :class:`aeutil.AutoEncoderDetector` の引数 (``epochs``・
    ``threshold_percentile`` など。``seed`` は標本と同じものを使います)。標本で学習すれば
    足りる理由と足りないときは :func:`sample_normal_rows` の Notes を見てください。

    Returns
    -------
    AutoEncoderDetector
        学習済みの検知器 (保存したもの)。
    """
    from .detector import AutoEncoderDetector

    sample = sample_normal_rows(ddf, n, seed=seed, columns=list(columns), normal=normal)
    detector = AutoEncoderDetector(seed=seed, **params).fit(sample)
    detector.save(model)
    return detector


# --- a plant's history, made up (chapter 12 and make bench) -----------------------------------


def write_plant_history(folder: str | os.PathLike, *, machines: int = 20, days: int = 365,
                        rows_per_day: int = 24, seed: int = 0,
                        broken_share: float = 0.001) -> list[Path]:
    """設備ごとの 1 年分のセンサーの記録を作り、設備 1 台につき Parquet のファイル 1 つに書く。

    列は ``行番号`` (全体の通し番号)・``日時``・``設備``・``温度``・``振動``・``電流``・``点検中``。
    温度は設備ごとに水準が違い、季節 (1 年周期) と 1 日の周期で動き、振動と電流は温度に
    つれて動きます。``点検中`` の時間 (約 2%) は設備が止まっていて電流がほぼ 0 になり、
    ``broken_share`` の割合の行は振動だけが大きくなっています (壊れた関係)。

    Returns
    -------
    list of pathlib.Path
        書いたファイル (``machine01.parquet``、``machine02.parquet``、…)。
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = days * rows_per_day
    hours = np.arange(n) * (24.0 / rows_per_day)
    stamps = np.datetime64("2024-01-01T00:00") + (hours * 3600).astype("timedelta64[s]")
    season = 8.0 * np.sin(2 * np.pi * (hours / 24.0 - 105.0) / 365.0)  # warmest in summer
    daily = 2.0 * np.sin(2 * np.pi * (hours % 24.0 - 9.0) / 24.0)
    paths = []
    for m in range(machines):
        rng = np.random.default_rng([seed, m])
        level = 55.0 + 10.0 * m / max(machines - 1, 1)
        temperature = level + season + daily + rng.normal(0.0, 1.0, n)
        shift = temperature - level
        vibration = 0.5 + 0.02 * shift + rng.normal(0.0, 0.01, n)
        current = 10.0 + 0.1 * shift + rng.normal(0.0, 0.05, n)
        stopped = rng.random(n) < 0.02
        current[stopped] = rng.normal(0.2, 0.05, int(stopped.sum()))
        broken = rng.random(n) < broken_share
        vibration[broken] += 0.3
        table = pa.table({
            "行番号": np.arange(m * n, (m + 1) * n, dtype=np.int64),
            "日時": stamps,
            "設備": pa.array([f"{m + 1:02d}号機"] * n, type=pa.string()),
            "温度": temperature.round(2),
            "振動": vibration.round(4),
            "電流": current.round(3),
            "点検中": stopped,
        })
        path = folder / f"machine{m + 1:02d}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths
