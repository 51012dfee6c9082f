"""実データの読み込みと、正常データだけで学習するための分割。

NASA のスペースシャトルのセンサー値を集めた「Shuttle」データ (ODDS 収録、49,097 行 × 9 列、
異常は約 7 %) を、``river`` パッケージ (``river==0.26.1``) に同梱されたファイルから読みます。
ファイルはインストール済みのパッケージの中にあるので、ネットワークには一切つなぎません。
"""

from __future__ import annotations

import importlib.resources
from typing import IO

import numpy as np
import pandas as pd

from .validation import InvalidDataError

__all__ = ["SHUTTLE_COLUMNS", "load_shuttle", "split_normal_train"]

#: ``load_shuttle()`` が返す特徴量の列名 (元のファイルの ``f1`` ... ``f9`` の順)。
SHUTTLE_COLUMNS: list[str] = [f"sensor{j}" for j in range(1, 10)]

_RIVER_PIN = "river==0.26.1"
_RAW_FEATURES = [f"f{j}" for j in range(1, 10)]
_RAW_TARGET = "anomaly"
_N_ROWS = 49_097


def _shuttle_resource():
    """river に同梱された ``shuttle.csv.gz`` の場所 (Traversable) を返す。"""
    try:
        # river.datasets ではなく river だけを読み込む (river.datasets は scikit-learn などを
        # まとめて読み込むので重い)。zip で入れたパッケージでも importlib.resources なら読める。
        root = importlib.resources.files("river")
    except ModuleNotFoundError as exc:
        if exc.name not in (None, "river"):
            raise
        raise ImportError(
            "Shuttle データは river パッケージに同梱されたファイルから読みます。"
            f"river が見つかりません。`pip install {_RIVER_PIN}` でインストールしてください。"
        ) from exc
    resource = root / "datasets" / "shuttle.csv.gz"
    if not resource.is_file():
        raise ImportError(
            f"river に shuttle.csv.gz が見つかりません ({resource})。"
            f"本書が確かめたバージョンは {_RIVER_PIN} です。`pip install {_RIVER_PIN}` で入れ直してください。"
        )
    return resource


def _read_shuttle_csv(buffer: IO[bytes], source: str) -> tuple[pd.DataFrame, np.ndarray]:
    """gzip 圧縮された Shuttle の CSV を読み、形と値を確かめて (X, y) にする。"""
    try:
        raw = pd.read_csv(buffer, compression="gzip")
    except (OSError, EOFError, ValueError) as exc:  # 壊れた gzip・空のファイルなど
        raise InvalidDataError(f"{source} を読めません: {exc}") from exc
    expected = [*_RAW_FEATURES, _RAW_TARGET]
    if list(raw.columns) != expected:
        raise InvalidDataError(
            f"{source} の列が想定と違います: {', '.join(map(str, raw.columns))} "
            f"(想定: {', '.join(expected)})。{_RIVER_PIN} を入れてください。"
        )
    if len(raw) != _N_ROWS:
        raise InvalidDataError(
            f"{source} の行数が想定と違います: {len(raw)} 行 (想定: {_N_ROWS} 行)。"
            f"{_RIVER_PIN} を入れてください。"
        )
    numeric = raw.apply(pd.to_numeric, errors="coerce")
    if numeric.isna().any().any():
        column = str(numeric.columns[numeric.isna().any()][0])
        raise InvalidDataError(f"{source} の列 {column!r} に数値でない値か欠損値があります。")
    target = numeric[_RAW_TARGET].to_numpy()
    if not np.isin(target, (0, 1)).all():
        raise InvalidDataError(f"{source} の列 'anomaly' に 0 と 1 以外の値があります。")
    X = numeric[_RAW_FEATURES].copy()
    X.columns = SHUTTLE_COLUMNS
    y = np.where(target == 1, -1, 1).astype(np.int64)
    return X, y


def load_shuttle() -> tuple[pd.DataFrame, np.ndarray]:
    """NASA スペースシャトルのセンサーデータ (ODDS 収録の Shuttle) を読み込む。

    UCI の Statlog (Shuttle) データを、ODDS (Outlier Detection DataSets) が異常検知向けに
    作り直したものです。元の 7 クラスのうち、全体の約 8 割を占めるクラス 1 (Rad Flow) を
    **正常**、少数のクラス 2, 3, 5, 6, 7 (Fpv Close, Fpv Open, Bypass, Bpv Close,
    Bpv Open) をまとめて **異常** とし、2 番目に多いクラス 4 (High) は除いてあります。
    その結果、正常 45,586 行・異常 3,511 行 (約 7.2 %) の 49,097 行になります。

    ファイルは ``river`` パッケージ (``river==0.26.1``) に同梱された
    ``river/datasets/shuttle.csv.gz`` で、インストール済みのファイルを読むだけなので
    ネットワークにはつなぎません (``river.datasets.Shuttle`` も同じファイルを 1 行ずつ読みます)。

    Returns
    -------
    X : pandas.DataFrame
        形が ``(49097, 9)`` の特徴量。列名は ``sensor1`` ... ``sensor9`` (ファイルの
        ``f1`` ... ``f9`` と同じ順)。値は元のファイルどおりの整数 (``int64``)。
        出典は各列の意味や単位を公開していないので、名前は番号だけです。
    y : numpy.ndarray
        形が ``(49097,)`` の整数ラベル。本書 (scikit-learn) の約束どおり
        **-1 = 異常、1 = 正常**。異常かどうかの真偽値が要るときは ``y == -1`` とします。

    Raises
    ------
    ImportError
        ``river`` がインストールされていない、または同梱ファイルがない。
    InvalidDataError
        同梱ファイルの列や行数が想定 (``river==0.26.1`` のもの) と違う。

    Examples
    --------
    >>> X, y = load_shuttle()  # doctest: +SKIP
    >>> X.shape, float((y == -1).mean())  # doctest: +SKIP
    ((49097, 9), 0.0715...)
    """
    resource = _shuttle_resource()
    with resource.open("rb") as buffer:
        return _read_shuttle_csv(buffer, source=f"river の {resource.name}")


def split_normal_train(
    X: pd.DataFrame | np.ndarray,
    y: np.ndarray,
    *,
    train_size: float | int = 0.5,
    seed: int = 0,
) -> tuple[pd.DataFrame | np.ndarray, pd.DataFrame | np.ndarray, np.ndarray]:
    """正常な行だけの学習データと、正常と異常が混ざったテストデータに分ける。

    正常 (``y == 1``) の行からシードで無作為に ``train_size`` 行を選んで学習データにし、
    **残りのすべての行** (選ばれなかった正常の行と、すべての異常の行) をテストデータにします。
    オートエンコーダを「正常データだけで学習する」ための分け方です。どちらも元の行の順番を保ちます。

    ``load_shuttle()`` のデータを既定値 (``train_size=0.5``) で分けると、学習データは正常
    22,793 行、テストデータは正常 22,793 行 + 異常 3,511 行 = 26,304 行 (異常は約 13 %) です。

    Parameters
    ----------
    X : pandas.DataFrame or numpy.ndarray
        特徴量 (行 × 列)。DataFrame ならインデックスはそのまま残る。
    y : array-like of int
        ラベル (-1 = 異常、1 = 正常)。長さは ``X`` の行数と同じ。
    train_size : float or int, default 0.5
        学習データにする正常の行。0 より大きく 1 より小さい小数なら正常の行の割合、
        整数なら行数 (1 以上、正常の行数未満)。テストデータにも正常の行が必ず残る。
    seed : int, default 0
        行を選ぶ乱数のシード。

    Returns
    -------
    X_train : pandas.DataFrame or numpy.ndarray
        学習データ (正常の行だけ)。``X`` と同じ型。
    X_test : pandas.DataFrame or numpy.ndarray
        テストデータ (学習データに選ばれなかったすべての行)。``X`` と同じ型。
    y_test : numpy.ndarray
        テストデータのラベル (-1 = 異常、1 = 正常)。

    Raises
    ------
    InvalidDataError
        ``X`` と ``y`` の行数が違う、``y`` に -1 と 1 以外の値がある、正常の行がない、
        ``train_size`` が範囲外。
    """
    if not isinstance(X, pd.DataFrame | np.ndarray):
        raise InvalidDataError(
            f"X は pandas.DataFrame か numpy.ndarray にしてください (いまは {type(X).__name__})。"
        )
    if X.ndim != 2:
        raise InvalidDataError(
            f"X は 2 次元 (行 × 特徴量) にしてください。いまは {X.ndim} 次元です。"
        )
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != len(X):
        raise InvalidDataError(
            f"y は X の行数と同じ長さの 1 次元配列にしてください "
            f"(X は {len(X)} 行、y の形は {labels.shape})。"
        )
    bad = ~np.isin(labels, (-1, 1))
    if bad.any():
        pos = int(np.argmax(bad))
        raise InvalidDataError(
            f"y は -1 (異常) と 1 (正常) だけにしてください: {pos} 行目 (0 始まり) の値 {labels[pos].item()!r}"
        )
    normal = np.flatnonzero(labels == 1)
    n_normal = len(normal)
    if n_normal < 2:
        raise InvalidDataError(
            f"正常 (y == 1) の行が {n_normal} 行しかなく、学習データとテストデータに分けられません。"
        )

    if isinstance(train_size, bool) or not isinstance(
        train_size, int | float | np.integer | np.floating
    ):
        raise InvalidDataError(f"train_size は小数か整数にしてください (いまは {train_size!r})。")
    if isinstance(train_size, int | np.integer):
        n_train = int(train_size)
        if not 1 <= n_train < n_normal:
            raise InvalidDataError(
                f"train_size を行数で指定するときは 1 以上 {n_normal} 未満にしてください "
                f"(正常の行は {n_normal} 行、いまは {n_train})。"
            )
    else:
        if not 0.0 < float(train_size) < 1.0:
            raise InvalidDataError(
                f"train_size を割合で指定するときは 0 より大きく 1 より小さくしてください "
                f"(いまは {train_size})。"
            )
        n_train = min(max(int(round(n_normal * float(train_size))), 1), n_normal - 1)

    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(normal, size=n_train, replace=False))
    is_train = np.zeros(len(labels), dtype=bool)
    is_train[chosen] = True
    test_rows = np.flatnonzero(~is_train)

    if isinstance(X, pd.DataFrame):
        X_train, X_test = X.iloc[chosen].copy(), X.iloc[test_rows].copy()
    else:
        X_train, X_test = X[chosen].copy(), X[test_rows].copy()
    return X_train, X_test, labels[test_rows].copy()
