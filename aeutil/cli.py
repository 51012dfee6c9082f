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

**要因の列 (--explain K)**: ``--explain K`` を付けると、さらに行末に ``要因1``、
``要因1の割合``、``要因2``、``要因2の割合``、… と K 組 (2K 列) を足します。

- ``異常`` の行には、再構成誤差への寄与度 (:meth:`aeutil.AutoEncoderUtil.contributions`
  と同じ値。列ごとに 0 以上で、足すとその行の再構成誤差になる) が大きい順に K 列の列名
  (モデルに保存された列名) と、その寄与度が再構成誤差 (寄与度の合計) に占める割合を書きます。
  割合は 0 から 1 の小数で、小数点以下 3 桁に丸めて書きます (``0.734`` は 73.4%)。
  寄与度が同じ列は、モデルの列の順に並べます。
- ``正常`` の行では、これらの列は空欄です。
- K は 1 からモデルの列の数までです。それより大きいと、何も書き出さずにエラーにします。

.. code-block:: text

    aeutil score 新しい.csv --model model.keras --output 判定結果.csv --explain 2

    日時,温度,振動,電流,再構成誤差,判定,要因1,要因1の割合,要因2,要因2の割合
    2024-05-01 00:02,60.96,0.5248,10.085,0.050650828,正常,,,,
    2024-05-01 00:03,60.16,0.9,10.13,39.9886,異常,振動,0.853,温度,0.084

要因の列は ``--explain`` を付けたときだけ足します。寄与度が示すのは再構成が外れた列で、
故障の原因の列とは限りません (列どうしの関係が崩れると、関係する列に寄与度が分かれます)。

判定に使う列は、モデルに保存された列名で探すので、CSV の列の順番は問いません
(ほかの列があってもかまいません)。大きなファイルは ``--chunksize`` 行ずつ読んで
判定し、結果は一時ファイルに書いてから最後に名前を付け替えます。途中でエラーに
なったり中断したりしても、書きかけの出力ファイルは残りません。

**エラー**: 列がない、文字コードが違う、モデルファイルがない・壊れている、
数値でない値や空欄がある、といった問題は、日本語のメッセージ (ファイル名、列名、
ファイルでの行番号つき) を標準エラーに出し、終了コード 2 で終わります。このときは
何も書き出しません。行番号は見出しを 1 行目として数えたファイルの行番号です。

**Parquet**: 入力が Parquet のファイル (``.parquet``・``.pq``)、フォルダー (その下の
``*.parquet`` をすべて)、glob (``"plant/*/2024-*.parquet"``。引用符で囲んでシェルに
展開させない) なら、判定結果も Parquet で、``--output`` のフォルダーに入力のファイルと同じ
名前 (フォルダーからの相対パス) で 1 ファイルずつ書きます。各ファイルは入力の列のあとに
``再構成誤差`` (float32) と ``判定`` (``異常``/``正常``) の列を足したもので、値と判定は
CSV と同じです (``--explain``・``--encoding``・``--output-encoding`` は CSV だけのものです)。

.. code-block:: text

    aeutil score plant/ --model model.keras --output scored/
    aeutil score "plant/*.parquet" --model model.keras --output scored/ --workers 2
    aeutil score plant/ --model model.keras --output scored/ --scheduler tcp://10.0.0.5:8786

- 判定の前に、すべてのファイルの列 (スキーマ) を確かめます。列がない・数値でない・
  読めないファイルが 1 つでもあれば、そのファイルの名前を含むエラーで止まります。
- 出力のフォルダーは隣の一時フォルダーで書き上げてから名前を付け替えるので、途中で
  エラーになっても、出力のフォルダーには書きかけのものが残りません。
- すでにファイルのある出力のフォルダーは、``--overwrite`` を付けたときだけ置き換えます。
- ``--workers N``: Dask の ``LocalCluster`` (ワーカー N 個、各 1 スレッドのプロセス) で、
  ファイルごとに並列に判定します。``--scheduler ADDRESS``: すでに動いている Dask の
  スケジューラーに判定を頼みます (入力・出力・モデルのパスは、ワーカーからも同じパスで
  読み書きできる共有のストレージに置きます)。どちらもなければ 1 プロセスで判定します。
  詳しくは :mod:`aeutil.distributed`。
"""

from __future__ import annotations

# Only the standard library at import time: `aeutil --help` and `aeutil score --help` load
# neither NumPy nor pandas. The commands themselves live in aeutil.commands.
import argparse
import math
import re
import sys
from collections.abc import Sequence

__all__ = [
    "main",
    "build_parser",
    "CommandError",  # noqa: F822 - defined in aeutil.clierror, loaded on first use
    "SCORE_COLUMN",
    "LABEL_COLUMN",
    "EXPLAIN_COLUMN",
    "EXPLAIN_SHARE_COLUMN",
]

#: 判定結果に足す列の名前 (再構成誤差)。
SCORE_COLUMN = "再構成誤差"
#: 判定結果に足す列の名前 (判定)。値は ``"異常"`` か ``"正常"``。
LABEL_COLUMN = "判定"
#: 閾値を超えた行の判定 (``predict`` の -1)。
ANOMALY_TEXT = "異常"
#: 閾値以下の行の判定 (``predict`` の 1)。
NORMAL_TEXT = "正常"
#: ``--explain`` で足す列の名前 (``k`` は 1 から): 寄与の大きい順に k 番目の列の名前。
EXPLAIN_COLUMN = "要因{k}"
#: ``--explain`` で足す列の名前: その列の寄与度が再構成誤差に占める割合 (0〜1、小数点以下 3 桁)。
EXPLAIN_SHARE_COLUMN = "要因{k}の割合"

#: エラーのときの終了コード。
EXIT_ERROR = 2

_DEFAULT_CHUNKSIZE = 100_000


def __getattr__(name: str):
    # CommandError is defined with aeutil's other errors, whose module loads pandas: only
    # on first use, so that --help stays light
    if name == "CommandError":
        from .clierror import CommandError

        return CommandError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "CommandError"})


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
    _add_fit(sub)
    _add_score(sub)
    return parser


def _add_fit(sub) -> None:
    """``aeutil fit`` の引数。"""
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
    fit.set_defaults(func="run_fit")


def _add_score(sub) -> None:
    """``aeutil score`` の引数。"""
    score = sub.add_parser(
        "score",
        help="保存したモデルで CSV を判定し、再構成誤差と判定の列を足した CSV を書く",
        description=(
            "保存したモデルで CSV ファイルを判定します。入力の各行をそのまま書き写し、\n"
            f"行末に「{SCORE_COLUMN}」と「{LABEL_COLUMN}」({ANOMALY_TEXT}/{NORMAL_TEXT}) の列を足します。\n"
            "判定に使う列は、モデルに保存された列名で探します (列の順番は問いません)。\n\n"
            f"--explain K を付けると、さらに行末に「{EXPLAIN_COLUMN.format(k=1)}」"
            f"「{EXPLAIN_SHARE_COLUMN.format(k=1)}」…「{EXPLAIN_COLUMN.format(k='K')}」"
            f"「{EXPLAIN_SHARE_COLUMN.format(k='K')}」の\n"
            f"2K 列を足します。{ANOMALY_TEXT}の行には、再構成誤差への寄与が大きい順に K 列の列名と、\n"
            "その列の寄与が再構成誤差に占める割合を、0〜1 の小数 (小数点以下 3 桁。0.734 は 73.4%)\n"
            "で書きます。"
            f"寄与が同じ列はモデルの列の順に並べます。{NORMAL_TEXT}の行では空欄です。\n\n"
            "入力が Parquet のファイル・フォルダー・glob なら、判定結果も Parquet で、--output の\n"
            "フォルダーに入力のファイルと同じ名前で 1 ファイルずつ書きます (同じ 2 列を足す)。\n"
            "--workers N か --scheduler ADDRESS を付けると、Dask でファイルごとに並列に判定します。"
        ),
    )
    score.add_argument("new_csv", metavar="INPUT",
                       help="判定する CSV ファイル、または Parquet のファイル・フォルダー・glob")
    score.add_argument("--model", required=True, metavar="MODEL.keras",
                       help="aeutil fit で保存したモデル")
    score.add_argument("--output", required=True, metavar="OUTPUT",
                       help="判定結果の保存先 (CSV ならファイル、Parquet ならフォルダー)")
    _add_encoding(score)
    score.add_argument("--output-encoding", default=None,
                       help="判定結果の文字コード (既定: 入力と同じ)")
    score.add_argument("--chunksize", type=_positive_int, default=_DEFAULT_CHUNKSIZE,
                       help=f"一度に読んで判定する行数 (既定 {_DEFAULT_CHUNKSIZE:,})")
    score.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="進み具合を標準エラーに表示する (既定: 端末のときだけ)")
    score.add_argument(
        "--explain", type=_positive_int, default=None, metavar="K",
        help="異常の行に、寄与の大きい列の名前と割合を K 組書く (上の説明を参照)。"
        "K は 1〜モデルの列の数 (既定: 書かない)",
    )
    parquet = score.add_argument_group("Parquet の入力だけのオプション")
    parquet.add_argument("--overwrite", action="store_true",
                         help="すでにファイルのある出力のフォルダーを置き換える")
    parquet.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                         help="Dask の LocalCluster (ワーカー N 個、各 1 スレッド) で並列に判定する")
    parquet.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="動いている Dask のスケジューラー (tcp://host:8786 など) で判定する")
    parquet.add_argument("--retries", type=_non_negative_int, default=3, metavar="N",
                         help="Dask で、失敗したタスクをやり直す回数 (既定 3)")
    score.set_defaults(func="run_score")


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


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"0 以上の整数を指定してください (いまは {text!r})")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or not math.isfinite(value):
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
    from . import commands
    from .validation import AEUtilError

    try:
        return getattr(commands, args.func)(args)
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
