"""コマンド ``aeutil fit`` と ``aeutil score`` の中身 (引数の解析は :mod:`aeutil.cli`)。

どちらも scikit-learn も TensorFlow も読み込みません (Dense 層だけのモデルの場合)。

- ``fit``: CSV を塊ごとに読んで検査し (:mod:`aeutil.csvstream`)、
  :func:`aeutil.fitting.fit_dense` で学習して、:func:`aeutil.modelfile.save_network` で保存する。
  ``AutoEncoderUtil(df=...).fit(...)`` と ``save_model`` と同じ計算で、同じファイルになる。
- ``score``: :func:`aeutil.modelfile.load_network` で読んだモデルで塊ごとに
  :func:`aeutil.engine.score` を計算し、閾値と比べて、判定結果を一時ファイルに書いてから
  名前を付け替える (:class:`aeutil.files.AtomicFile`)。``--explain K`` では、異常の行だけ
  :func:`aeutil.engine.contributions` を計算し、寄与の大きい K 列とその割合を足す (:class:`Explainer`)。
  入力が Parquet (ファイル・フォルダー・glob) なら :func:`run_score_parquet`: 1 プロセスで
  (:mod:`aeutil.parquetfile`)、``--workers``/``--scheduler`` なら Dask で (:mod:`aeutil.distributed`)
  判定し、結果をフォルダーに Parquet で書く。
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

from . import csvstream, engine
from .charset import Encoding, resolve_encoding
from .cli import EXPLAIN_COLUMN, EXPLAIN_SHARE_COLUMN, LABEL_COLUMN, SCORE_COLUMN
from .clierror import CommandError
from .csvstream import CsvReader, check_columns, convert_bodies, csv_field, to_float32
from .files import AtomicFile

__all__ = ["Explainer", "contribution_shares", "run_fit", "run_score", "run_score_parquet"]


# --- the arguments that argparse cannot check -------------------------------------------


def csv_path(value: str) -> Path:
    """入力の CSV ファイルのパス (ないときはエラー)。"""
    path = Path(value)
    if not path.is_file():
        raise CommandError(f"CSV ファイルが見つかりません: {path}")
    return path


def parse_names(text: str, option: str) -> list[str]:
    """``--columns`` の列名の並び (コンマか読点で区切る) を列名のリストにする。"""
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


def parse_units(text: str) -> tuple[int, ...]:
    """``--hidden-units`` の値 (``16,8`` など) をユニット数の組にする。"""
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


def model_target(value: str) -> Path:
    """``--model`` の保存先 (拡張子 .keras、フォルダーがある)。"""
    path = Path(value)
    if path.suffix != ".keras":
        raise CommandError(f"--model の保存先は拡張子 .keras にしてください: {path}")
    if not path.parent.is_dir():
        raise CommandError(f"--model の保存先のフォルダーがありません: {path.parent}")
    return path


# --- fit -----------------------------------------------------------------------------------


def _read_matrix(path: Path, encoding: Encoding, columns: list[str], chunksize: int):
    """学習に使う列を塊ごとに読んで検査し、``(float32 の行列, 見出しでの列名)`` を返す。"""
    reader = CsvReader(path, encoding, chunksize)
    try:
        columns = check_columns(reader, columns, model=None)
        blocks = [to_float32(chunk, columns, path) for chunk in reader.chunks(columns)]
    finally:
        reader.close()
    if not blocks:
        raise CommandError(f"{path} にはデータの行がありません (見出しだけです)。")
    return np.concatenate(blocks), columns


def _structure(units: tuple[int, ...]) -> str:
    """1 個のネットワークの層のユニット数 (``"8-4-8"``)。``AutoEncoderDetector.structure_`` と同じ。"""
    n_hidden = (len(units) - 2) // 2
    hidden = units[:n_hidden]
    return "-".join(str(u) for u in (*hidden, units[n_hidden], *reversed(hidden)))


def run_fit(args: argparse.Namespace) -> int:
    """``aeutil fit``: CSV で学習し、モデルを保存して、要約を表示する。"""
    from .fitting import fit_dense
    from .modelfile import save_network

    started = time.perf_counter()
    path = csv_path(args.train_csv)
    columns = parse_names(args.columns, "--columns")
    model_path = model_target(args.model)
    hidden_units = None if args.hidden_units is None else parse_units(args.hidden_units)
    encoding = resolve_encoding(args.encoding, path, "--encoding")
    data, columns = _read_matrix(path, encoding, columns, args.chunksize)
    # what AutoEncoderUtil(df=..., seed=..., ...).fit(columns, ...) computes, without
    # scikit-learn: the same function, the same arguments, the same file
    fitted = fit_dense(
        data, hidden_units=hidden_units, encoding_dim=args.encoding_dim, activation="relu",
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer="adam",
        threshold_percentile=args.threshold_percentile,
        validation_split=args.validation_split, patience=args.patience, seed=args.seed,
        n_models=args.n_models,
    )
    threshold = float(fitted.threshold)
    save_network(fitted.network, [str(c) for c in columns], threshold,
                 float(args.threshold_percentile), model_path)
    train_errors = fitted.train_errors  # the rows set aside for validation are not in it
    flagged = int((train_errors > threshold).sum())
    elapsed = time.perf_counter() - started
    print(f"学習しました: {path} → {model_path}")
    print(f"  行数: {len(data):,}  列: {', '.join(columns)}")
    print(f"  構成: {_structure(fitted.network.units)} (モデル {args.n_models} 個の平均)")
    print(
        f"  閾値: {threshold:.6g} "
        f"(学習データの再構成誤差の {args.threshold_percentile:g} パーセンタイル)"
    )
    print(f"  学習データで閾値を超えた行: {flagged:,} / {len(train_errors):,}")
    print(f"  所要時間: {elapsed:.1f} 秒")
    return 0


# --- score ---------------------------------------------------------------------------------


class Progress:
    """標準エラーに「読んだバイト数の割合・行数・経過時間」を 1 行で上書き表示する。"""

    def __init__(self, total_bytes: int, enabled: bool, stream=None) -> None:
        self.total = max(total_bytes, 1)
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self._last = self.start  # short runs show no progress at all

    def update(self, bytes_read: int, rows: int, *, force: bool = False) -> None:
        """進み具合を表示する (前の表示から 0.2 秒たっていなければ何もしない)。"""
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
        """最後の進み具合を表示して改行する。"""
        if self.enabled:
            self.update(bytes_read, rows, force=True)
            self.stream.write("\n")
            self.stream.flush()


def progress_enabled(option: bool | None) -> bool:
    """``--progress`` / ``--no-progress`` がなければ、標準エラーが端末のときだけ表示する。"""
    if option is not None:
        return option
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _output_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    path = csv_path(args.new_csv)
    output = Path(args.output)
    if not output.parent.is_dir():
        raise CommandError(f"--output の保存先のフォルダーがありません: {output.parent}")
    if output.exists() and output.resolve() == path.resolve():
        raise CommandError(f"--output に入力ファイルと同じ {output} は指定できません。")
    return path, output


def contribution_shares(network, X: np.ndarray) -> np.ndarray:
    """行ごと・列ごとの寄与度が、その行の寄与度の合計 (再構成誤差) に占める割合 (``float64``)。

    寄与度は :func:`aeutil.engine.contributions`。``float64`` でもあふれた行は、あふれた列で
    等分します。寄与度がすべて 0 の行は、どの列も 0 です。
    """
    n = len(X)
    if n % engine.SCORE_CHUNK_ROWS == 1:
        # no block of a single row: a one-row product takes BLAS's matrix-vector path, whose
        # last digits can differ, and the shares must not depend on how the file was chunked
        X = np.concatenate([X, X[-1:]])
    values = engine.contributions(network, X)[:n]
    bad = ~np.isfinite(values)
    overflow = bad.any(axis=1)
    if overflow.any():
        values[overflow] = bad[overflow]
    total = values.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, values / total, 0.0)


#: ``",0.000"`` から ``",1.000"`` まで: 割合を千分率の整数で引く表。
_SHARE_TEXTS = np.array([f",{i // 1000}.{i % 1000:03d}".encode("ascii") for i in range(1001)],
                        dtype=object)


def share_texts(shares: np.ndarray) -> np.ndarray:
    """割合 (0〜1) を ``b",0.734"`` の形 (``"%.3f"`` と同じ丸め) にした object 配列。"""
    scaled = shares * 1000.0
    texts = _SHARE_TEXTS[np.rint(scaled).astype(np.intp)]
    # the product is rounded once: where it is near a half, round the value itself as "%.3f"
    near = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near.any():
        texts[near] = [b",%.3f" % v for v in shares[near].tolist()]
    return texts


class Explainer:
    """``--explain K``: 異常の行の末尾に足す「,要因1,要因1の割合,…」の値を作る。

    Parameters
    ----------
    k : int
        足す組の数 (1〜モデルの列の数)。
    columns : list of str
        モデルの列名 (この順で寄与度が並ぶ。寄与度が同じ列もこの順に並べる)。
    codec : str
        出力の文字コード (先頭以外の行に使うもの)。
    """

    def __init__(self, k: int, columns: list[str], codec: str) -> None:
        self.k = k
        self.columns = columns
        # each name as one CSV value (quoted if it holds a comma, a quote or a newline)
        self.names = [("," + csv_field(name)).encode(codec) for name in columns]
        self.blank = b"," * (2 * k)  # the K pairs of a row that is not flagged
        self.top_counts = np.zeros(len(columns), dtype=np.int64)

    def header(self) -> str:
        """見出しに足す「,要因1,要因1の割合,…」。"""
        return "".join(
            f",{EXPLAIN_COLUMN.format(k=i)},{EXPLAIN_SHARE_COLUMN.format(k=i)}"
            for i in range(1, self.k + 1)
        )

    def explain(self, network, X: np.ndarray, labels: np.ndarray) -> list[bytes]:
        """異常 (-1) の行ごとに、寄与の大きい順の K 組 ``b",列名,割合,…"`` (行の順)。"""
        flagged = np.flatnonzero(labels == -1)
        if not flagged.size:
            return []
        shares = contribution_shares(network, X[flagged])
        # a stable sort of the negated shares: equal shares keep the model's column order
        order = np.argsort(-shares, axis=1, kind="stable")[:, : self.k]
        top = np.take_along_axis(shares, order, axis=1)
        self.top_counts += np.bincount(order[:, 0], minlength=len(self.columns))
        # ",name,0.734,name,0.120" per flagged row, without a Python loop over the pairs
        pieces = np.empty((len(flagged), 2 * self.k), dtype=object)
        pieces[:, 0::2] = np.array(self.names, dtype=object)[order]
        pieces[:, 1::2] = share_texts(top)
        return list(map(b"".join, pieces.tolist()))

    def summary(self) -> str:
        """要約の 1 行: 要因1 になった列と行数 (多い順)。"""
        ranked = sorted(
            ((int(n), j) for j, n in enumerate(self.top_counts) if n), key=lambda t: -t[0]
        )
        if not ranked:
            return f"  {EXPLAIN_COLUMN.format(k=1)}: 異常の行がないので、要因の列はすべて空欄です"
        counts = "、".join(f"{self.columns[j]} {n:,} 行" for n, j in ranked)
        return f"  {EXPLAIN_COLUMN.format(k=1)} になった列: {counts}"


def _explainer(k: int | None, columns: list[str], out_enc: Encoding,
               model_path: Path) -> Explainer | None:
    """``--explain K`` を検査して :class:`Explainer` を作る (なければ None)。"""
    if k is None:
        return None
    if k > len(columns):
        raise CommandError(
            f"--explain {k} は大きすぎます。モデル {model_path} の列は {len(columns)} 個 "
            f"({', '.join(columns)}) なので、--explain には 1 から {len(columns)} までの整数を"
            "指定してください。"
        )
    try:
        return Explainer(k, columns, out_enc.body_codec)
    except UnicodeEncodeError as exc:
        raise CommandError(
            f"モデル {model_path} の列名に、出力の文字コード {out_enc.label} で書けない文字 "
            f"{exc.object[exc.start:exc.end]!r} があります (--explain は列名を書きます)。"
            "--output-encoding utf-8 を指定してください。"
        ) from None


def _output_header(reader: CsvReader, in_enc: Encoding, out_enc: Encoding,
                   explainer: Explainer | None = None) -> bytes:
    """判定結果の見出しの行 (入力の見出し + 再構成誤差・判定 (・要因) の列)。"""
    added = f",{SCORE_COLUMN},{LABEL_COLUMN}"
    if explainer is not None:
        added += explainer.header()
    taken = [c for c in added[1:].split(",") if c in reader.columns]
    if taken:
        raise CommandError(
            f"{reader.path} にはすでに列 {', '.join(map(repr, taken))} があります "
            "(判定済みのファイルではありませんか)。元のファイルを指定してください。"
        )
    header = reader.header
    if in_enc.codec != out_enc.codec:
        try:
            header = header.decode(in_enc.codec).encode(out_enc.codec)
        except UnicodeEncodeError as exc:
            raise CommandError(
                f"{reader.path} の見出しに、出力の文字コード {out_enc.label} で書けない文字 "
                f"{exc.object[exc.start:exc.end]!r} があります。"
                "--output-encoding utf-8 を指定してください。"
            ) from None
    return header + added.encode(out_enc.body_codec) + reader.ending


def _write_scores(reader: CsvReader, output: Path, out_enc: Encoding, progress: Progress, *,
                  network, columns: list[str], threshold: float, model_path: Path,
                  explainer: Explainer | None = None) -> tuple[int, int]:
    """入力を塊ごとに判定して ``output`` に書く。``(行数, 異常の行数)`` を返す。"""
    in_file = check_columns(reader, columns, model=model_path)
    header = _output_header(reader, reader.encoding, out_enc, explainer)
    rows = anomalies = bytes_read = 0
    with AtomicFile(output) as out:
        handle = out.open()
        handle.write(header)
        for chunk in reader.chunks(in_file):
            X = to_float32(chunk, in_file, reader.path)
            loss = engine.score(network, X)
            # compared in float64, as AutoEncoderUtil.predict does: the same labels
            y = np.where(loss.astype(np.float64) > threshold, -1, 1)
            bodies = convert_bodies(chunk, reader.encoding, out_enc, reader.path)
            if explainer is None:
                lines = csvstream.scored_lines(bodies, loss, y, out_enc.body_codec, reader.ending)
            else:
                lines = csvstream.scored_lines(bodies, loss, y, out_enc.body_codec, reader.ending,
                                               explained=explainer.explain(network, X, y),
                                               blank=explainer.blank)
            handle.write(lines)
            rows += len(y)
            anomalies += int((y == -1).sum())
            bytes_read = chunk.bytes_read
            progress.update(bytes_read, rows)
        if rows == 0:
            raise CommandError(f"{reader.path} にはデータの行がありません (見出しだけです)。")
        progress.close(bytes_read, rows)
        out.commit()
    return rows, anomalies


def run_score(args: argparse.Namespace) -> int:
    """``aeutil score``: 保存したモデルで CSV を判定し、結果の CSV を書いて、要約を表示する。

    入力が Parquet (ファイル・フォルダー・glob) なら :func:`run_score_parquet` に任せます。
    """
    from .modelfile import load_network

    if _parquet_input(args.new_csv):
        return run_score_parquet(args)
    if getattr(args, "workers", None) is not None or getattr(args, "scheduler", None) is not None:
        raise CommandError(
            "--workers と --scheduler は Parquet の入力だけで使えます (CSV は 1 プロセスで"
            "塊ごとに判定します)。大きな CSV は Parquet に変換してから判定してください。"
        )
    started = time.perf_counter()
    path, output = _output_paths(args)
    model_path = Path(args.model)
    in_enc = resolve_encoding(args.encoding, path, "--encoding")
    out_enc = (
        in_enc
        if args.output_encoding is None
        else resolve_encoding(args.output_encoding, None, "--output-encoding")
    )
    network, columns, threshold, _ = load_network(model_path)
    explainer = _explainer(getattr(args, "explain", None), columns, out_enc, model_path)
    reader = CsvReader(path, in_enc, args.chunksize)
    try:
        progress = Progress(reader.size, progress_enabled(args.progress))
        rows, anomalies = _write_scores(
            reader, output, out_enc, progress,
            network=network, columns=columns, threshold=threshold, model_path=model_path,
            explainer=explainer,
        )
    finally:
        reader.close()
    elapsed = time.perf_counter() - started
    print(f"判定しました: {path} → {output}")
    print(f"  行数: {rows:,}  異常: {anomalies:,} 行 ({100.0 * anomalies / rows:.1f}%)")
    print(f"  閾値: {threshold:.6g} (モデルに保存された値)  列: {', '.join(columns)}")
    if explainer is not None:
        print(explainer.summary())
    speed = f" ({rows / elapsed:,.0f} 行/秒)" if elapsed >= 1.0 else ""
    print(f"  所要時間: {elapsed:.1f} 秒{speed}")
    return 0


# --- score: Parquet -------------------------------------------------------------------------


def _parquet_input(text: str) -> bool:
    """Parquet の入力か (pyarrow を読み込まずに、名前だけで決める)。"""
    path = Path(text)
    return bool(set(text) & set("*?[")) or path.is_dir() or path.suffix.lower() in (
        ".parquet", ".pq")


def _require(module: str, packages: str, what: str) -> None:
    """``module`` を読み込めなければ、入れ方を示すエラーにする (トレースバックを出さない)。"""
    try:
        __import__(module)
    except ImportError:
        raise CommandError(
            f"{what}には {packages} が必要です。pip install {packages} で入れてください "
            "(本書の requirements.txt には入っています)。"
        ) from None


def run_score_parquet(args: argparse.Namespace) -> int:
    """``aeutil score`` の Parquet の道: 1 プロセスで、または Dask で判定し、フォルダーに書く。"""
    if getattr(args, "explain", None) is not None:
        raise CommandError("--explain は CSV の入力だけで使えます (Parquet の出力には要因の列を"
                           "書きません)。")
    _require("pyarrow", "pyarrow", "Parquet の判定")
    if args.workers is not None or args.scheduler is not None:
        _require("distributed", "dask distributed", "Dask での判定")
    from .modelfile import load_network
    from .parquetfile import OutputFolder, check_file, find_parquet_files, score_files_in_process

    inp = find_parquet_files(args.new_csv)
    model_path = Path(args.model)
    output = Path(args.output)
    # every check before any work (and before a cluster is started): the files' columns,
    # the output folder
    _, columns, threshold, _ = load_network(model_path)
    for path in inp.files:
        check_file(path, columns, model_path)
    OutputFolder.check(output, overwrite=args.overwrite, inputs=inp.files,
                       input_folder=inp.folder)
    progress = Progress(sum(p.stat().st_size for p in inp.files), progress_enabled(args.progress))
    started = time.perf_counter()
    if args.workers is None and args.scheduler is None:
        summary = score_files_in_process(inp, model_path, output, overwrite=args.overwrite,
                                         batch_rows=args.chunksize, progress=progress)
        how = "1 プロセス"
    else:
        from .distributed import dask_client, score_parquet

        sizes = [p.stat().st_size for p in inp.files]
        done = {"bytes": 0, "rows": 0}

        def on_done(i: int, rows: int) -> None:
            done["bytes"] += sizes[i]
            done["rows"] += rows
            progress.update(done["bytes"], done["rows"])

        with dask_client(args.workers, args.scheduler) as client:
            summary = score_parquet(args.new_csv, model_path, output, client=client,
                                    retries=args.retries, overwrite=args.overwrite,
                                    on_done=on_done)
        progress.close(done["bytes"], done["rows"])
        where = f"スケジューラー {args.scheduler}" if args.scheduler else "LocalCluster"
        how = f"Dask ({where}、ワーカー {summary.workers} 個)"
    elapsed = time.perf_counter() - started
    rows, anomalies = summary.rows, summary.anomalies
    print(f"判定しました: {args.new_csv} ({len(inp.files):,} ファイル) → {summary.output}")
    share = f" ({100.0 * anomalies / rows:.1f}%)" if rows else ""
    print(f"  行数: {rows:,}  異常: {anomalies:,} 行{share}")
    print(f"  閾値: {threshold:.6g} (モデルに保存された値)  列: {', '.join(columns)}")
    print(f"  判定: {how}")
    if summary.memory:
        peak = max(summary.memory.values()) / 2**20
        print(f"  ワーカーのメモリ (RSS) の最大: {peak:,.0f} MB")
    speed = f" ({rows / elapsed:,.0f} 行/秒)" if elapsed >= 1.0 else ""
    print(f"  所要時間: {elapsed:.1f} 秒{speed}")
    return 0
