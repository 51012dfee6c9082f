"""入力データの検査。

学習や判定に渡すデータを、名前付きの分かりやすいエラーで検査してから
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
    "InvalidTypeError",
    "NotFittedError",  # noqa: F822 - defined in aeutil.base, loaded on first use
    "ModelFileError",
    "as_column_list",
    "to_matrix",
    "MAX_ABS_VALUE",
]


class AEUtilError(Exception):
    """aeutil が出すエラーの基底クラス。"""


class ColumnNotFoundError(AEUtilError, KeyError):
    """指定した列がデータフレームにないときのエラー。"""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class InvalidDataError(AEUtilError, ValueError):
    """数値でない値・欠損値・無限大・空のデータなど、使えない入力のエラー。"""


def __getattr__(name: str):
    # NotFittedError subclasses scikit-learn's, and importing scikit-learn takes about a second:
    # it lives in aeutil.base, which only the estimators (not the command line) import
    if name == "NotFittedError":
        from .base import NotFittedError

        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class InvalidTypeError(InvalidDataError, TypeError):
    """数値に変換する方法のない型の値 (辞書やリストなど) が入っているときのエラー。

    :class:`InvalidDataError` の一種で、Python の慣習どおり ``TypeError`` でもあります。
    """


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


#: 受け付ける値の絶対値の上限。float32 の最大値 (約 3.4e38) に近い値は、標準化で
#: 平均との差を計算するだけであふれる (inf になる) ため、その手前で止める。
MAX_ABS_VALUE = 1e38


def _show(value: object) -> str:
    """エラーメッセージに載せる値の表記 (NumPy のスカラーは Python の値として見せる)。"""
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positions(index: pd.Index, name: object) -> list[int]:
    """列名 ``name`` の列の位置 (重複していれば複数)。"""
    try:
        loc = index.get_loc(name)
    except (KeyError, TypeError, pd.errors.InvalidIndexError):
        return []
    if isinstance(loc, (int, np.integer)):
        return [int(loc)]
    return np.arange(len(index))[loc].tolist()


def _select(frame: pd.DataFrame, columns, source: str) -> pd.DataFrame:
    """``columns`` の列を、その順に選ぶ (列名の重複や同じ列の二重指定はエラー)。"""
    names = as_column_list(columns)
    texts: list[str] | None = None
    chosen: list[int] = []
    missing: list[object] = []
    for name in names:
        found = _positions(frame.columns, name)
        if not found:
            # a model keeps its column names as text: let "0" find the column labelled 0
            if texts is None:
                texts = [str(c) for c in frame.columns]
            found = [j for j, text in enumerate(texts) if text == str(name)]
        if not found:
            missing.append(name)
        elif len(found) > 1:
            raise InvalidDataError(
                f"{source}に列名 {str(name)!r} の列が {len(found)} つあります "
                f"({', '.join(f'{j} 列目' for j in found)}、0 始まり)。"
                "どれを使うか決められないので、列名が重ならないように付け直してください。"
            )
        else:
            chosen.append(found[0])
    if missing:
        available = ", ".join(map(str, frame.columns)) or "(列なし)"
        raise ColumnNotFoundError(
            f"{source}に列 {', '.join(map(repr, missing))} がありません。使える列: {available}"
        )
    if len(set(chosen)) != len(chosen):
        twice = next(names[k] for k, j in enumerate(chosen) if chosen.index(j) != k)
        raise InvalidDataError(f"列 {str(twice)!r} が 2 回以上指定されています。")
    selected = frame.iloc[:, chosen]
    # a model keeps its column names as text, so 0 and "0" would be the same column to it
    _check_unique_names(selected, source)
    return selected


def _check_unique_names(frame: pd.DataFrame, source: str) -> None:
    texts = pd.Index([str(c) for c in frame.columns])
    if texts.has_duplicates:
        name = texts[texts.duplicated()][0]
        labels = ", ".join(repr(c) for c in frame.columns if str(c) == name)
        raise InvalidDataError(
            f"{source}に列名 {name!r} の列が複数あります (列名: {labels})。"
            "どれを使うか決められないので、列名が重ならないように付け直してください。"
        )


def _is_plain_number(dtype) -> bool:
    """そのまま float に変換してよい数値の型か (真偽値と複素数は除く)。"""
    return (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
    )


def _one_number(value: object) -> float | None:
    """1 つの値を数値にする。数値でなければ NaN、float で表せないほど大きければ None。"""
    try:
        number = pd.to_numeric(pd.Series([value], dtype=object), errors="coerce").iloc[0]
        return float(number)
    except OverflowError:
        return None
    except (TypeError, ValueError):
        return np.nan


def _objects_to_float(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """文字列・カテゴリなどの列を数値にする。

    Returns
    -------
    numbers : float64 の値 (変換できない値は NaN)
    not_number : 数値でない値 (欠損値ではないのに変換できない値、真偽値、複素数) の行
    huge : float でも表せないほど大きな整数の行
    """
    objects = col.to_numpy(dtype=object)
    n = len(objects)
    missing = np.asarray(pd.isna(objects), dtype=bool)
    # True/False and complex numbers would pass as numbers (1.0, or the real part): refuse them
    odd = np.fromiter(
        (isinstance(v, (bool, np.bool_, complex, np.complexfloating)) for v in objects),
        dtype=bool,
        count=n,
    )
    if odd.any():
        objects = objects.copy()
        objects[odd] = None
    huge = np.zeros(n, dtype=bool)
    try:
        converted = pd.to_numeric(pd.Series(objects, dtype=object), errors="coerce")
        numbers = np.array(converted.to_numpy(dtype=np.float64, na_value=np.nan))  # writable
    except (OverflowError, TypeError, ValueError):
        # one value spoils the whole column (e.g. an integer beyond float's range): go one by one
        numbers = np.empty(n, dtype=np.float64)
        for k, value in enumerate(objects):
            number = _one_number(value)
            huge[k] = number is None
            numbers[k] = np.inf if number is None else number
    not_number = (np.isnan(numbers) & ~missing) | odd
    return numbers, not_number, huge


def _type_problem(value: object) -> str | None:
    """``float(value)`` が型のせいで失敗するなら Python のエラーの文、そうでなければ ``None``。"""
    if isinstance(value, (str, bytes, bool, np.bool_, complex, np.complexfloating)):
        return None  # unparsable text, or a type refused on purpose: a value problem
    try:
        float(value)
    except TypeError as exc:
        return str(exc)
    except (ValueError, OverflowError):
        return None
    return None


def _column_to_float32(
    col: pd.Series, label: str, source: str, describe: Callable[[int], str]
) -> np.ndarray:
    """1 列を検査して float32 にする。最初の不正な行を、その種類とともに知らせる。"""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise InvalidDataError(
            f"{source}の{label} は真偽値 (True/False) の列なので使えません。"
            f"数値 (0 と 1 など) に変換してから渡してください: {describe(0)} の値 {_show(col.iloc[0])}"
        )
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    ):
        raise InvalidDataError(
            f"{source}の{label} は日時・時間の列 ({dtype}) なので、そのままでは使えません。"
            f"数値の列を指定するか、数値 (経過秒など) に変換してください: "
            f"{describe(0)} の値 {_show(col.iloc[0])}"
        )
    if pd.api.types.is_complex_dtype(dtype):
        raise InvalidDataError(
            f"{source}の{label} は複素数の列なので使えません: {describe(0)} の値 {_show(col.iloc[0])}"
        )
    n = len(col)
    if _is_plain_number(dtype):
        with np.errstate(over="ignore", invalid="ignore"):
            numbers = col.to_numpy(dtype=np.float64, na_value=np.nan)
        not_number = huge = np.zeros(n, dtype=bool)
    else:
        numbers, not_number, huge = _objects_to_float(col)
    with np.errstate(invalid="ignore"):
        too_large = huge | (np.abs(numbers) > MAX_ABS_VALUE)
    bad = not_number | ~np.isfinite(numbers) | too_large
    if bad.any():
        pos = int(np.argmax(bad))
        where = describe(pos)
        if not_number[pos]:
            value = col.iloc[pos]
            problem = f"数値でない値があります: {where} の値 {_show(value)}"
            reason = _type_problem(value)
            if reason is not None:
                raise InvalidTypeError(
                    f"{source}の{label} に{problem} (型 {type(value).__name__} は数値に変換できません。"
                    f"Python のエラー: {reason})"
                )
        elif np.isnan(numbers[pos]):
            problem = f"欠損値 (NaN・空欄) があります: {where}"
        elif huge[pos] or (too_large[pos] and np.isfinite(numbers[pos])):
            raise InvalidDataError(
                f"{source}の{label} の値が大きすぎます (扱えるのは絶対値 {MAX_ABS_VALUE:g} まで): "
                f"{where} の値 {_show(col.iloc[pos])}"
            )
        else:
            problem = f"無限大 (inf) があります: {where}"
        raise InvalidDataError(f"{source}の{label} に{problem}")
    return numbers.astype(np.float32)


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
    allow_1d: bool = True,
) -> np.ndarray:
    """データを検査して ``float32`` の 2 次元配列 (行 × 特徴量) に変換する。

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
    allow_1d : bool, default True
        1 次元配列を 1 列のデータとして受け付けるか。``False`` なら、2 次元にする書き方を
        示すエラーにする (列か行かを推測しない。scikit-learn の推定器の約束)。

    Returns
    -------
    numpy.ndarray
        形が ``(行数, 列数)`` の ``float32`` 配列 (新しい配列。元のデータとは共有しない)。

    Raises
    ------
    ColumnNotFoundError
        指定した列がない (足りない列名と、ある列名の一覧を示す)。
    InvalidDataError
        データが空、数値でない値 (真偽値・日時・複素数を含む)・欠損値 (NaN)・無限大・
        絶対値が :data:`MAX_ABS_VALUE` を超える値を含む (列名と最初の不正な行を示す)。
        使う列に同じ列名が複数ある、同じ列を 2 回指定した、など列の選び方が決まらない。
    """
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        if columns is not None:
            frame = _select(data, columns, source)
        else:
            frame = data
            _check_unique_names(frame, source)
        names = [str(c) for c in frame.columns]
        index = frame.index
        values = [frame.iloc[:, j] for j in range(frame.shape[1])]
    else:
        if columns is not None:
            raise InvalidDataError(
                "列名で選べるのは DataFrame だけです。配列を渡すときは column を省略してください。"
            )
        try:
            arr = np.asarray(data)
        except (TypeError, ValueError):
            raise InvalidDataError(
                f"{source}を配列に変換できません (行ごとの長さがそろっていない、など)。"
                "DataFrame か、形のそろった 2 次元配列を渡してください。"
            ) from None
        if arr.ndim == 1 and not allow_1d:
            raise InvalidDataError(
                f"{source}が 1 次元の配列です (長さ {arr.shape[0]})。(行 × 列) の 2 次元で渡してください。"
                "1 列のデータなら X.reshape(-1, 1)、1 行のデータなら X.reshape(1, -1) です。"
            )
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

    # fast path: plain numeric columns, all finite and in range (one conversion, one check)
    if all(_is_plain_number(col.dtype) for col in values):
        with np.errstate(over="ignore", invalid="ignore"):
            if isinstance(data, pd.DataFrame):
                fast = frame.to_numpy(dtype=np.float32, na_value=np.nan)
            else:
                fast = np.asarray(arr, dtype=np.float32)
        # NaN makes both comparisons False, inf fails one of them
        if fast.max() <= MAX_ABS_VALUE and fast.min() >= -MAX_ABS_VALUE:
            # never hand back (a view of) the caller's own array
            shared = fast is data or not fast.flags.owndata or not fast.flags.c_contiguous
            return np.array(fast, order="C", copy=True) if shared else fast
    # slow path: find and name the first problem, column by column
    out = np.empty((n_rows, len(values)), dtype=np.float32)
    for j, (name, col) in enumerate(zip(names, values, strict=True)):
        label = f"列 {name!r}" if isinstance(data, pd.DataFrame) else name
        out[:, j] = _column_to_float32(col, label, source, describe)
    return out
