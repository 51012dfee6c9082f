"""ファイルの読み書き: CSV の読み込みとモデルの保存・読み込み (第5章で導入)。"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import pandas as pd

from ._keras import keras
from .model import FORMAT_VERSION, ReconstructionError, metadata_layer
from .validation import InvalidDataError, ModelFileError

__all__ = ["read_csv", "save_keras_model", "load_keras_model", "normalize_encoding"]

_SHIFT_JIS_ALIASES = {"shift-jis", "shift_jis", "shiftjis", "sjis", "s-jis", "s_jis", "x-sjis"}


def normalize_encoding(encoding: str) -> str:
    """文字コード名を、実際に使うコーデック名にそろえる (第5章で導入)。

    Excel が「Shift-JIS」として保存する CSV には、①・㈱・髙 のような
    Windows 独自の文字 (CP932 にだけある文字) が入ることがあります。
    純粋な Shift_JIS のコーデックではこれらを読めないため、Shift-JIS 系の名前は
    上位互換の ``cp932`` に読み替えます。``utf-8`` は BOM 付きも読めるよう
    ``utf-8-sig`` に読み替えます。

    Parameters
    ----------
    encoding : str
        利用者が指定した文字コード名。

    Returns
    -------
    str
        Python のコーデック名。
    """
    key = encoding.strip().lower()
    if key in _SHIFT_JIS_ALIASES:
        return "cp932"
    if key in {"utf-8", "utf8", "utf_8"}:
        return "utf-8-sig"
    return encoding


def _suggest_encoding(raw: bytes, tried: str) -> str:
    for candidate, label in (("utf-8-sig", "utf-8"), ("cp932", "shift-jis"), ("euc-jp", "euc-jp")):
        if candidate == tried:
            continue
        try:
            raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        return label
    return "utf-8"


def read_csv(file_name: str | os.PathLike, encoding: str = "shift-jis", **kwargs) -> pd.DataFrame:
    """CSV ファイルを読み込む (第5章で導入。元の記事では説明だけあって未実装だった関数)。

    Parameters
    ----------
    file_name : str or path-like
        CSV ファイルのパス。
    encoding : str, default "shift-jis"
        文字コード。Shift-JIS 系の名前は CP932 として読む (①・㈱・髙 なども読める)。
    **kwargs
        :func:`pandas.read_csv` にそのまま渡す引数。

    Returns
    -------
    pandas.DataFrame
        読み込んだデータ。

    Raises
    ------
    FileNotFoundError
        ファイルがない。
    InvalidDataError
        指定した文字コードで読めない (ファイル名と、読めそうな ``encoding=`` の候補を示す)。
    """
    path = Path(file_name)
    if not path.is_file():
        raise FileNotFoundError(f"CSV ファイルが見つかりません: {path}")
    codec = normalize_encoding(encoding)
    try:
        return pd.read_csv(path, encoding=codec, **kwargs)
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        suggestion = _suggest_encoding(raw, codec)
        line = raw[: exc.start].count(b"\n") + 1 if exc.object == raw else None
        where = f" ({line} 行目付近)" if line is not None else ""
        raise InvalidDataError(
            f"{path} を文字コード {encoding!r} で読めませんでした{where}。"
            f"encoding={suggestion!r} を指定して読み直してください。"
        ) from None


def save_keras_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """モデルを ``.keras`` ファイル 1 つに、途中で壊れないよう保存する (第5章で導入)。

    同じフォルダーの一時ファイルに書き終えてから名前を付け替える (アトミックな置き換え)
    ので、保存に失敗しても元のファイルはそのまま残り、書きかけのファイルも残りません。

    Parameters
    ----------
    model : keras.Model
        保存するモデル。
    path : str or path-like
        保存先。拡張子は ``.keras``。

    Returns
    -------
    pathlib.Path
        保存先のパス。
    """
    target = Path(path)
    if target.suffix != ".keras":
        raise InvalidDataError(
            f"モデルの保存先は拡張子 .keras にしてください: {target}"
        )
    if not target.parent.is_dir():
        raise FileNotFoundError(f"保存先のフォルダーがありません: {target.parent}")
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp.keras"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings():
            # Keras 3.15 converts its variables with np.array(x, copy=False), which
            # NumPy 2 reports as deprecated; harmless and outside our control.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def load_keras_model(path: str | os.PathLike) -> keras.Model:
    """aeutil で保存した ``.keras`` ファイルを安全モードで読み込む (第5章で導入)。

    Keras の ``safe_mode=True`` で読み込むので、ファイルに埋め込まれた任意のコード
    (Lambda 層など) は実行されません。

    Parameters
    ----------
    path : str or path-like
        モデルファイルのパス。

    Returns
    -------
    keras.Model
        読み込んだモデル。

    Raises
    ------
    FileNotFoundError
        ファイルがない。
    ModelFileError
        aeutil のモデルファイルではない、または壊れている。
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"モデルファイルが見つかりません: {source}")
    if not zipfile.is_zipfile(source):
        raise ModelFileError(
            f"{source} は Keras のモデルファイル (.keras) ではありません。"
        )
    try:
        model = keras.models.load_model(source, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many different types here
        raise ModelFileError(
            f"{source} を aeutil のモデルとして読み込めませんでした: {exc}"
        ) from exc
    try:
        meta = metadata_layer(model)
    except ValueError:
        meta = None
    if not isinstance(meta, ReconstructionError):
        raise ModelFileError(
            f"{source} は aeutil で保存したモデルではありません "
            "(再構成誤差の層 'anomaly_score' がありません)。"
        )
    if meta.format_version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} は新しい版の aeutil (形式 {meta.format_version}) で保存されています。"
            "aeutil を更新してください。"
        )
    return model
