"""入力データの検査 (第4章で導入)。

学習や採点に渡すデータを、名前付きの分かりやすいエラーで検査してから
``float32`` の 2 次元配列へ変換します。呼び出し側のデータは変更しません。
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "AEUtilError",
    "ColumnNotFoundError",
    "InvalidDataError",
    "NotFittedError",
    "ModelFileError",
    "as_column_list",
    "to_matrix",
]


class AEUtilError(Exception):
    """aeutil が出すエラーの基底クラス (第4章で導入)。"""


class ColumnNotFoundError(AEUtilError, KeyError):
    """指定した列がデータフレームにないときのエラー。"""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class InvalidDataError(AEUtilError, ValueError):
    """数値でない値・欠損値・無限大・空のデータなど、使えない入力のエラー。"""


class NotFittedError(AEUtilError, RuntimeError):
    """学習 (または読み込み) の前にモデルを使おうとしたときのエラー。"""


class ModelFileError(AEUtilError, ValueError):
    """モデルファイルが aeutil の形式でない、または壊れているときのエラー。"""


def as_column_list(column: str | Sequence[str]) -> list[str]:
    """列名 1 つ、または列名のリストを、列名のリストにそろえる。

    Parameters
    ----------
    column : str or sequence of str
        列名、または列名のリスト。

    Returns
    -------
    list of str
        列名のリスト。
    """
    if isinstance(column, str):
        return [column]
    try:
        columns = list(column)
    except TypeError:
        raise InvalidDataError(
            f"列の指定 {column!r} が不正です。列名 (文字列) か列名のリストを渡してください。"
        ) from None
    if not columns:
        raise InvalidDataError("列が 1 つも指定されていません。")
    return columns


def _describe_row(index: pd.Index, position: int) -> str:
    label = index[position]
    if isinstance(index, pd.RangeIndex) and label == position:
        return f"{position} 行目 (0 始まり)"
    return f"{position} 行目 (0 始まり、インデックス {label!r})"


def to_matrix(
    data: pd.DataFrame | np.ndarray | Sequence,
    columns: str | Sequence[str] | None = None,
    *,
    source: str = "データ",
    row_label: Callable[[int], str] | None = None,
) -> np.ndarray:
    """データを検査して ``float32`` の 2 次元配列 (行 × 特徴量) に変換する (第4章で導入)。

    Parameters
    ----------
    data : pandas.DataFrame or array-like
        入力データ。1 次元配列は 1 列のデータとして扱う。
    columns : str or list of str, optional
        ``data`` が DataFrame のときに使う列。省略するとすべての列を使う。
    source : str, default "データ"
        エラーメッセージで入力を指す呼び名 (ファイル名など)。
    row_label : callable, optional
        行の位置 (0 始まり) から、エラーメッセージで使う行の呼び名を作る関数
        (例: CSV ファイルの行番号 ``lambda i: f"{i + 2} 行目"``)。省略すると位置とインデックスで示す。

    Returns
    -------
    numpy.ndarray
        形が ``(行数, 列数)`` の ``float32`` 配列 (新しい配列。元のデータとは共有しない)。

    Raises
    ------
    ColumnNotFoundError
        指定した列がない (足りない列名と、ある列名の一覧を示す)。
    InvalidDataError
        データが空、数値でない値・欠損値 (NaN)・無限大を含む
        (列名と最初の不正な行を示す)。
    """
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        frame = data
        if columns is not None:
            names = as_column_list(columns)
            missing = [c for c in names if c not in frame.columns]
            if missing:
                available = ", ".join(map(str, frame.columns)) or "(列なし)"
                raise ColumnNotFoundError(
                    f"{source}に列 {', '.join(map(repr, missing))} がありません。"
                    f"使える列: {available}"
                )
            frame = frame[names]
        names = [str(c) for c in frame.columns]
        index = frame.index
        values = [frame.iloc[:, j] for j in range(frame.shape[1])]
    else:
        if columns is not None:
            raise InvalidDataError(
                "列名で選べるのは DataFrame だけです。配列を渡すときは column を省略してください。"
            )
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise InvalidDataError(
                f"{source}は 2 次元 (行 × 特徴量) にしてください。いまは {arr.ndim} 次元です。"
            )
        names = [f"{j} 列目" for j in range(arr.shape[1])]
        index = pd.RangeIndex(arr.shape[0])
        values = [pd.Series(arr[:, j]) for j in range(arr.shape[1])]

    n_rows = len(index)
    if n_rows == 0 or not values:
        raise InvalidDataError(f"{source}が空です (行 {n_rows}、列 {len(values)})。")

    def describe(position: int) -> str:
        return row_label(position) if row_label is not None else _describe_row(index, position)

    # fast path: numeric columns, all finite (one conversion, one check)
    if all(
        pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)
        for col in values
    ):
        with np.errstate(over="ignore", invalid="ignore"):
            if isinstance(data, pd.DataFrame):
                fast = frame.to_numpy(dtype=np.float32, na_value=np.nan)
            else:
                fast = np.asarray(arr, dtype=np.float32)
        if np.isfinite(fast).all():
            # never hand back (a view of) the caller's own array
            shared = fast is data or not fast.flags.owndata or not fast.flags.c_contiguous
            return np.array(fast, order="C", copy=True) if shared else fast
    # slow path: find and name the first problem, column by column

    out = np.empty((n_rows, len(values)), dtype=np.float32)
    for j, (name, col) in enumerate(zip(names, values, strict=True)):
        label = f"列 {name!r}" if isinstance(data, pd.DataFrame) else name
        if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            converted = pd.to_numeric(col, errors="coerce")
            bad = converted.isna().to_numpy() & col.notna().to_numpy()
            if pd.api.types.is_bool_dtype(col.dtype) or bad.any():
                pos = int(np.argmax(bad)) if bad.any() else 0
                raise InvalidDataError(
                    f"{source}の{label} に数値でない値があります: "
                    f"{describe(pos)} の値 {col.iloc[pos]!r}"
                )
            col = converted
        column_values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(column_values)
        if not finite.all():
            pos = int(np.argmin(finite))
            kind = "欠損値 (NaN・空欄)" if np.isnan(column_values[pos]) else "無限大 (inf)"
            raise InvalidDataError(f"{source}の{label} に{kind} があります: {describe(pos)}")
        with np.errstate(over="ignore"):
            as32 = column_values.astype(np.float32)
        if not np.isfinite(as32).all():
            pos = int(np.argmin(np.isfinite(as32)))
            raise InvalidDataError(
                f"{source}の{label} の値が大きすぎます (float32 の範囲外): {describe(pos)}"
            )
        out[:, j] = as32
    return out
