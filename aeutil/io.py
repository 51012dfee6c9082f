"""ファイルの読み書き: CSV の読み込みとモデルの保存・読み込み。"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import secrets
import stat
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ._keras import keras
from .model import (
    ACTIVATIONS,
    FORMAT_VERSION,
    ReconstructionError,
    Standardize,
    activation_name,
    dense_chains,
    metadata_layer,
)
from .validation import InvalidDataError, ModelFileError

__all__ = [
    "read_csv",
    "save_keras_model",
    "load_keras_model",
    "check_table_model",
    "normalize_encoding",
]

_SHIFT_JIS_ALIASES = {"shift-jis", "shift_jis", "shiftjis", "sjis", "s-jis", "s_jis", "x-sjis"}
_READ_BLOCK = 1 << 20
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # also the start of UTF-32 LE/BE BOMs
_ENCODING_CANDIDATES = (("utf-8-sig", "utf-8"), ("cp932", "shift-jis"), ("euc-jp", "euc-jp"))


def normalize_encoding(encoding: str) -> str:
    """文字コード名を、実際に使うコーデック名にそろえる。

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


# --- CSV ----------------------------------------------------------------------


def _first_undecodable_line(path: Path, codec: str) -> int | None:
    """ファイルを ``codec`` で先頭から読み、最初に読めない場所の行番号を返す (読めれば None)。"""
    decoder = codecs.getincrementaldecoder(codec)()
    line = 1
    with path.open("rb") as handle:
        while block := handle.read(_READ_BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return line + block[: max(exc.start, 0)].count(b"\n")
            except UnicodeError:  # UTF-16/32 without a BOM
                return line
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeError:
            return line
    return None


def _bom_encoding(head: bytes) -> str | None:
    """先頭の BOM から分かる文字コード (``encoding=`` に書く値) を返す。"""
    if head.startswith(_UTF8_BOM):
        return "utf-8"
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    return None


def _suggest_encoding(path: Path, tried: str) -> str:
    with path.open("rb") as handle:
        by_bom = _bom_encoding(handle.read(4))
    if by_bom is not None:
        return by_bom
    for candidate, label in _ENCODING_CANDIDATES:
        if candidate != tried and _first_undecodable_line(path, candidate) is None:
            return label
    return "utf-8"


def _check_csv_bytes(path: Path, encoding: str, codec_name: str) -> None:
    """文字コードの取り違え (BOM) と NUL 文字を、pandas に渡す前に見つける。

    pandas は UTF-16 のファイルを Shift-JIS として「読めてしまう」ことがあり (列名が化けた
    DataFrame が黙って返る)、NUL 文字 (0x00) もそのまま値に入れてしまうので、ここで止めます。
    """
    utf16_or_32 = codec_name.startswith(("utf-16", "utf-32"))
    with path.open("rb") as handle:
        head = handle.read(4)
        by_bom = _bom_encoding(head)
        wrong_bom = (by_bom == "utf-8" and not codec_name.startswith("utf-8")) or (
            by_bom == "utf-16" and not utf16_or_32
        )
        if wrong_bom:
            raise InvalidDataError(
                f"{path} は {by_bom.upper()} のファイルです (先頭に {by_bom.upper()} の BOM があります)。"
                f"文字コード {encoding!r} では読めません。encoding={by_bom!r} を指定して読み直してください。"
            )
        if head and by_bom is None and codec_name in ("utf-16", "utf-32"):
            # Python reads "utf-16" only with a BOM that tells the byte order
            raise InvalidDataError(
                f"{path} の先頭に、{encoding!r} のバイト順を示す BOM がありません。"
                f"encoding='{codec_name}-le' か '{codec_name}-be' を指定してください"
                "(Windows で作ったファイルなら多くは -le)。"
            )
        handle.seek(0)
        # in UTF-16/32 every ASCII character holds a NUL byte: look for NUL characters instead
        decoder = codecs.getincrementaldecoder(codec_name)(errors="replace") if utf16_or_32 else None
        nul, newline = ("\x00", "\n") if utf16_or_32 else (b"\x00", b"\n")
        line = 1
        while block := handle.read(_READ_BLOCK):
            if decoder is not None:
                block = decoder.decode(block)
            at = block.find(nul)
            if at >= 0:
                line += block[:at].count(newline)
                reason = (
                    "テキストの CSV ファイルではありません。" if utf16_or_32 else
                    "テキストの CSV ファイルではないか、UTF-16 で保存されたファイルです。"
                    "UTF-16 なら encoding='utf-16' を指定してください。"
                )
                raise InvalidDataError(f"{path} の {line} 行目に NUL 文字 (0x00) があります。{reason}")
            line += block.count(newline)


def _parser_error_message(path: Path, exc: Exception) -> str:
    text = str(exc).strip()
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if found:
        expected, line, saw = found.groups()
        return (
            f"{path} の {line} 行目: 値が {saw} 個あり、見出しの列の数 ({expected}) と合いません。"
            "区切りのコンマ (,) の数を確かめてください。"
        )
    found = re.search(r"EOF inside string starting at row (\d+)", text)
    if found:
        line = int(found.group(1)) + 1  # pandas counts the header as row 0
        return (
            f"{path} の {line} 行目付近で始まる引用符 (\") が閉じないまま、ファイルが終わっています。"
        )
    return f"{path} を CSV として読めませんでした: {text}"


def read_csv(file_name: str | os.PathLike, encoding: str = "shift-jis", **kwargs) -> pd.DataFrame:
    """CSV ファイルを読み込む (。元の記事では説明だけあって未実装だった関数)。

    Parameters
    ----------
    file_name : str or path-like
        CSV ファイルのパス。
    encoding : str, default "shift-jis"
        文字コード。Shift-JIS 系の名前は CP932 として読む (①・㈱・髙 なども読める)。
        UTF-16 のファイルは ``"utf-16"`` を指定する。
    **kwargs
        :func:`pandas.read_csv` にそのまま渡す引数。``low_memory`` の既定値は ``False``
        (列の型を、ファイルを分けずに列全体から決める)。

    Returns
    -------
    pandas.DataFrame
        読み込んだデータ。

    Raises
    ------
    FileNotFoundError
        ファイルがない。
    InvalidDataError
        読めないファイル。メッセージはファイル名と問題の場所 (行番号) を示す。
        指定した文字コードで読めない (読めそうな ``encoding=`` の候補を示す)、
        BOM が示す文字コードと違う、NUL 文字がある (テキストのファイルでない)、
        空のファイル、値の数が見出しの列の数と合わない行がある、引用符が閉じていない、
        ``encoding`` が知らない文字コード名、パスがフォルダー。
    """
    path = Path(file_name)
    if path.is_dir():
        raise InvalidDataError(f"{path} はフォルダーです。CSV ファイルを指定してください。")
    if not path.is_file():
        raise FileNotFoundError(f"CSV ファイルが見つかりません: {path}")
    codec = normalize_encoding(encoding)
    try:
        codec_name = codecs.lookup(codec).name
    except LookupError:
        raise InvalidDataError(
            f"{path} を読む文字コード {encoding!r} は知りません。"
            "'shift-jis' か 'utf-8' (UTF-16 のファイルなら 'utf-16') を指定してください。"
        ) from None
    _check_csv_bytes(path, encoding, codec_name)
    kwargs.setdefault("low_memory", False)
    # pandas would silently turn the first column into the index when the first data row has
    # one value more than the header (a trailing comma, say), shifting every value one column
    # left; index_col=False keeps the columns and only warns, and the warning becomes our error
    implicit_index = "index_col" not in kwargs
    kwargs.setdefault("index_col", False)
    try:
        with warnings.catch_warnings():
            if implicit_index:
                warnings.filterwarnings(
                    "error", "Length of header or names does not match", pd.errors.ParserWarning
                )
            frame = pd.read_csv(path, encoding=codec, **kwargs)
    except pd.errors.ParserWarning:
        raise InvalidDataError(
            f"{path} の最初のデータの行 (2 行目付近) の値の数が、見出しの列の数より多くなっています。"
            "行末に余分なコンマ (,) がないか、見出しの列が足りないかを確かめてください。"
        ) from None
    except UnicodeError:  # UnicodeDecodeError, or UTF-16/32 without a BOM
        line = _first_undecodable_line(path, codec)
        where = f" ({line} 行目付近)" if line is not None else ""
        raise InvalidDataError(
            f"{path} を文字コード {encoding!r} で読めませんでした{where}。"
            f"encoding={_suggest_encoding(path, codec)!r} を指定して読み直してください。"
        ) from None
    except pd.errors.EmptyDataError:
        raise InvalidDataError(
            f"{path} は空のファイルです (見出しの行もありません)。"
        ) from None
    except pd.errors.ParserError as exc:
        raise InvalidDataError(_parser_error_message(path, exc)) from None
    return frame


# --- saving ---------------------------------------------------------------------


def _create_temp(folder: Path, stem: str) -> Path:
    """保存先と同じフォルダーに、新しい一時ファイルを作る (権限は普通のファイルと同じ)。"""
    while True:
        tmp = folder / f".{stem}.{secrets.token_hex(4)}.tmp.keras"
        try:
            # mode 0o666 minus the umask, as for any new file (mkstemp would give 0o600)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


def _fsync(path: Path, *, directory: bool = False) -> None:
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if directory else os.O_RDWR
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # not every platform can open a folder
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def save_keras_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """モデルを ``.keras`` ファイル 1 つに、途中で壊れないよう保存する。

    同じフォルダーの一時ファイルに書き終え、ディスクに書き出してから名前を付け替える
    (アトミックな置き換え) ので、保存に失敗しても、途中でプロセスが止められても、
    元のファイルはそのまま残ります。失敗したときは書きかけのファイルも残りません。
    上書きするときは、元のファイルの権限をそのまま引き継ぎます。

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
    if target.is_dir():
        raise InvalidDataError(f"モデルの保存先 {target} はフォルダーです。ファイル名を指定してください。")
    tmp = _create_temp(target.parent, target.stem)
    try:
        with warnings.catch_warnings():
            # Keras 3.15 converts its variables with np.array(x, copy=False), which
            # NumPy 2 reports as deprecated; harmless and outside our control.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save(tmp)
        if target.exists():
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))  # keep the owner's choice
        _fsync(tmp)  # the data is on disk before the new name points at it
        os.replace(tmp, target)
        _fsync(target.parent, directory=True)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


# --- loading --------------------------------------------------------------------

#: The entries of a .keras file that aeutil writes (Keras writes exactly these three).
_ARCHIVE_ENTRIES = ("metadata.json", "config.json", "model.weights.h5")
_MAX_CONFIG_BYTES = 64 << 20
#: Declared weights may take at most this many times the file's size in memory: a file that
#: Keras wrote holds every weight uncompressed, so an honest file never comes near it, and a
#: forged config cannot make loading allocate gigabytes from a few kilobytes.
_MAX_WEIGHT_EXPANSION = 16
#: Layers found in models that aeutil builds (aeutil.model, aeutil.sequence). Lambda is let
#: through to Keras, whose safe mode refuses it with a message that says why.
_BUILTIN_LAYERS = {
    "InputLayer", "Dense", "Flatten", "Reshape", "RepeatVector", "LSTM", "TimeDistributed",
    "Conv1D", "Conv1DTranspose", "Lambda",
}
_AEUTIL_LAYERS = {"Standardize", "ReconstructionError"}


def _short(exc: BaseException, limit: int = 600) -> str:
    """例外のメッセージの最初の行 (Keras のメッセージは設定全体を含むことがあるので切り詰める)。"""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    text = lines[0]
    return text if len(text) <= limit else text[:limit] + "…"


def _broken(source: Path, detail: str) -> ModelFileError:
    return ModelFileError(
        f"{source} はモデルファイルとして壊れています ({detail})。"
        "保存し直すか、バックアップから戻してください。"
    )


def _not_ours(source: Path, detail: str) -> ModelFileError:
    return ModelFileError(f"{source} は aeutil で保存したモデルではありません ({detail})。")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _declared_weights(source: Path, layer: dict) -> int:
    """層の設定から、作られる重みの数を求める (読み込む前に大きさを確かめるため)。"""
    cls = layer.get("class_name")
    config = layer.get("config")
    if not isinstance(config, dict):
        raise _broken(source, f"層 {cls} の設定がありません")
    name = config.get("name", cls)
    if cls == "TimeDistributed":
        inner = config.get("layer")
        if not isinstance(inner, dict) or inner.get("class_name") != "Dense":
            raise _not_ours(source, f"層 {name!r} の中身が aeutil の使う層ではありません")
        return _declared_weights(source, inner)
    size_key = {"Dense": "units", "LSTM": "units", "Conv1D": "filters", "Conv1DTranspose": "filters"}
    if cls not in size_key:
        return 0
    size = config.get(size_key[cls])
    build = layer.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    fan_in = shape[-1] if isinstance(shape, list) and shape else None
    kernel = config.get("kernel_size", [1]) if cls.startswith("Conv1D") else [1]
    if isinstance(kernel, int):
        kernel = [kernel]
    if not (
        _positive_int(size)
        and _positive_int(fan_in)
        and isinstance(kernel, list)
        and len(kernel) == 1
        and _positive_int(kernel[0])
    ):
        raise _broken(source, f"層 {name!r} の大きさの設定が正しくありません")
    if cls == "LSTM":
        return 4 * size * (fan_in + size + 1)
    return kernel[0] * fan_in * size + size


def _check_layers(source: Path, layers: list, budget_bytes: int) -> None:
    total = 0
    for layer in layers:
        if not isinstance(layer, dict):
            raise _broken(source, "層の設定が正しくありません")
        cls = layer.get("class_name")
        registered = layer.get("registered_name")
        module = layer.get("module")
        if not isinstance(cls, str):
            known = False
        elif cls in _AEUTIL_LAYERS:
            known = registered == f"aeutil>{cls}"
        else:
            known = (
                cls in _BUILTIN_LAYERS
                and registered in (None, cls)
                and (module is None or (isinstance(module, str) and module.startswith("keras")))
            )
        if not known:
            raise _not_ours(
                source,
                f"aeutil のモデルにない層 {cls!r} (モジュール {module!r}) があります",
            )
        total += _declared_weights(source, layer)
    if 4 * total > budget_bytes:
        raise _broken(
            source,
            f"設定では重みが {total:,} 個ありますが、ファイルの大きさ "
            f"({budget_bytes // _MAX_WEIGHT_EXPANSION:,} バイト) ではとても入りきりません",
        )


def _future_version_error(source: Path, version: int) -> ModelFileError:
    return ModelFileError(
        f"{source} は新しいバージョンの aeutil で保存されたモデルです (ファイルの形式はバージョン {version})。"
        f"いま使っている aeutil が読めるのは形式のバージョン {FORMAT_VERSION} までです。"
        "aeutil を更新してから読み込んでください。"
    )


def _check_archive(source: Path) -> None:
    """Keras に渡す前に、zip の中身と config.json を確かめる (Keras のコードは使わない)。"""
    size = source.stat().st_size
    if size == 0:
        raise ModelFileError(f"{source} は空のファイル (0 バイト) です。モデルファイルではありません。")
    if not zipfile.is_zipfile(source):
        with source.open("rb") as handle:
            if handle.read(4) == b"PK\x03\x04":
                # a zip's table of contents is at its end: this one was cut short
                raise _broken(source, "zip の終わりがありません。ファイルが途中で切れています")
        raise ModelFileError(
            f"{source} は Keras のモデルファイル (.keras) ではありません (zip 形式ではありません)。"
        )
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
            if len(names) != len(set(names)):
                raise _broken(source, "同じ名前の項目が zip の中に 2 つ以上あります")
            if "config.json" not in names:
                if not names:
                    raise ModelFileError(
                        f"{source} は空の zip ファイルです。モデルファイルではありません。"
                    )
                raise _broken(source, "モデルの構造 config.json がありません")
            if "model.weights.h5" not in names:
                raise _broken(source, "重み model.weights.h5 がありません")
            extra = [name for name in names if name not in _ARCHIVE_ENTRIES]
            if extra:
                raise _not_ours(source, f"aeutil が書かない項目 {extra[0]!r} が入っています")
            if archive.getinfo("config.json").file_size > _MAX_CONFIG_BYTES:
                raise _broken(source, "config.json が大きすぎます")
            if archive.getinfo("model.weights.h5").file_size > _MAX_WEIGHT_EXPANSION * size:
                raise _broken(source, "model.weights.h5 の大きさがファイルの大きさと合いません")
            raw = archive.read("config.json")  # checks the CRC-32 as well
            weights = archive.read("model.weights.h5")
    except ModelFileError:
        raise
    except Exception as exc:  # zipfile raises BadZipFile, EOFError, zlib.error, ...
        found = re.search(r"Bad CRC-32 for file '(.+)'", str(exc))
        if found:
            raise _broken(
                source, f"{found.group(1)} の中身がチェックサム (CRC-32) と合いません"
            ) from None
        raise _broken(source, f"zip として読めません: {_short(exc)}") from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _broken(source, f"config.json が JSON として読めません: {type(exc).__name__}") from None
    if not isinstance(config, dict):
        raise _broken(source, "config.json の中身が JSON のオブジェクトではありません")
    body = config.get("config")
    layers = body.get("layers") if isinstance(body, dict) else None
    if config.get("class_name") not in ("Functional", "Sequential") or not isinstance(layers, list):
        kind = config.get("class_name")
        raise _not_ours(source, f"モデルの種類 {kind!r} は aeutil のモデルの形ではありません")
    metas = [
        layer for layer in layers
        if isinstance(layer, dict) and layer.get("class_name") == "ReconstructionError"
    ]
    if len(metas) > 1:
        raise _not_ours(source, "再構成誤差の層が 2 つ以上あります")
    if metas:
        meta_config = metas[0].get("config")
        version = meta_config.get("format_version", 1) if isinstance(meta_config, dict) else None
        if not _positive_int(version):
            raise _broken(source, f"ファイル形式のバージョン {version!r} が正しくありません")
        if version > FORMAT_VERSION:
            raise _future_version_error(source, version)
    # models without the metadata layer go on to Keras: it refuses unsafe ones with its own
    # message, and the check after loading names what is missing
    _check_layers(source, layers, _MAX_WEIGHT_EXPANSION * size)
    _check_weights(source, weights, _MAX_WEIGHT_EXPANSION * size)


def _check_weights(source: Path, data: bytes, budget_bytes: int) -> None:
    """重みの HDF5 が、Keras の書く形 (圧縮なしの数値の配列だけ) かを確かめる。

    圧縮した配列は、小さなファイルから巨大な配列を作らせることができる (読み込みで
    メモリーを使い果たす) ので、Keras が書かない形のものは読みません。
    """
    import h5py  # a dependency of Keras

    problems: list[str] = []
    total = 0

    def visit(name: str, item) -> None:
        nonlocal total
        if not isinstance(item, h5py.Dataset):
            return
        if item.external or item.is_virtual or item.chunks is not None or item.dtype.kind not in "fiu":
            problems.append(name)
            return
        total += int(np.prod(item.shape, dtype=object)) * item.dtype.itemsize

    try:
        with h5py.File(io.BytesIO(data), "r") as weights:
            weights.visititems(visit)
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError, ... on broken files
        raise _broken(source, f"重み model.weights.h5 が読めません: {_short(exc)}") from None
    if problems:
        raise _broken(source, f"重み model.weights.h5 の {problems[0]!r} が Keras の書く形ではありません")
    if total > budget_bytes:
        raise _broken(source, "重み model.weights.h5 の配列の大きさがファイルの大きさと合いません")


def _check_metadata(model: keras.Model, source: Path) -> None:
    """読み込んだ aeutil のモデルの付帯情報 (列名・閾値・標準化・重み) を確かめる。"""
    try:
        meta = metadata_layer(model)
    except ValueError:
        meta = None
    if not isinstance(meta, ReconstructionError):
        raise _not_ours(source, "再構成誤差の層 'anomaly_score' がありません")
    if meta.format_version > FORMAT_VERSION:
        raise _future_version_error(source, meta.format_version)
    n_inputs = model.input_shape[-1] if isinstance(model.input_shape, tuple) else None
    columns = meta.columns
    if not columns or len(columns) != n_inputs or len(set(columns)) != len(columns):
        raise _broken(
            source, f"列名 {columns!r} が入力の列の数 ({n_inputs}) と合わないか、重複しています"
        )
    threshold = meta.threshold
    if threshold is None or not np.isfinite(threshold) or threshold < 0:
        raise _broken(source, f"閾値 {threshold!r} が 0 以上の有限の値ではありません")
    if not 0.0 < meta.threshold_percentile <= 100.0:
        raise _broken(source, f"閾値のパーセンタイル {meta.threshold_percentile!r} が正しくありません")
    try:
        std = model.get_layer("standardize")
    except ValueError:
        std = None
    if not isinstance(std, Standardize):
        raise _not_ours(source, "標準化の層 'standardize' がありません")
    for label, values in (("平均", std.mean), ("標準偏差", std.scale)):
        if values.shape != (n_inputs,) or not np.isfinite(values).all():
            raise _broken(source, f"標準化の{label}の値が正しくありません")
    if not (std.scale > 0).all():
        raise _broken(source, "標準化の標準偏差に 0 以下の値があります")
    for weight in model.weights:
        if not np.isfinite(np.asarray(weight.numpy(), dtype=np.float64)).all():
            raise _broken(source, f"重み {weight.path} に NaN か無限大があります")


def load_keras_model(path: str | os.PathLike) -> keras.Model:
    """aeutil で保存した ``.keras`` ファイルを安全モードで読み込む。

    Keras の ``safe_mode=True`` で読み込むので、ファイルに埋め込まれた任意のコード
    (Lambda 層など) は実行されません。Keras に渡す前に、zip の中身・ファイル形式のバージョン・
    層の種類と重みの大きさを確かめ、読み込んだ後に列名・閾値・標準化の値・重みを確かめます。
    壊れたファイルや細工されたファイルは、どれも :class:`ModelFileError` になります。

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
        aeutil のモデルファイルではない、壊れている、新しいバージョンの aeutil で保存された、
        またはパスがフォルダー。メッセージはファイル名と理由を示す。
    """
    source = Path(path)
    if source.is_dir():
        raise ModelFileError(f"{source} はフォルダーです。モデルファイル (.keras) を指定してください。")
    if not source.is_file():
        raise FileNotFoundError(f"モデルファイルが見つかりません: {source}")
    _check_archive(source)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            # Keras warns, e.g., when it leaves weights freshly initialized: that file is broken
            warnings.filterwarnings("error", category=UserWarning, module=r"keras\.")
            model = keras.models.load_model(source, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many different types here
        raise ModelFileError(
            f"{source} を aeutil のモデルとして読み込めませんでした: {_short(exc)}"
        ) from exc
    _check_metadata(model, source)
    return model


def check_table_model(model: keras.Model, source: str | os.PathLike) -> None:
    """表形式のオートエンコーダ (:func:`aeutil.model.build_autoencoder` の形) かを確かめる。

    ``AutoEncoderDetector.load`` が使います。入力 → 標準化 → Dense 層の鎖 → 再構成誤差、
    という形で、Dense 層の活性化関数が aeutil の計算できるものであることを確かめます。

    Raises
    ------
    ModelFileError
        形が違う (窓のモデル・細工されたモデルなど)。
    """
    source = Path(source)
    layers = model.layers
    dense = layers[2:-1]
    shaped = (
        len(layers) >= 5
        and isinstance(layers[0], keras.layers.InputLayer)
        and isinstance(layers[1], Standardize)
        and layers[1].name == "standardize"
        and isinstance(layers[-1], ReconstructionError)
        and layers[-1].name == "anomaly_score"
        and len(dense) % 2 == 0
        and all(type(layer) is keras.layers.Dense for layer in dense)
        and len(model.input_shape) == 2
    )
    if not shaped:
        kinds = ", ".join(type(layer).__name__ for layer in layers)
        raise ModelFileError(
            f"{source} は表形式のオートエンコーダ (AutoEncoderUtil・AutoEncoderDetector) の"
            f"モデルではありません (層: {kinds})。窓のモデルは WindowAutoEncoder.load で読み込みます。"
        )
    # one chain of Dense layers per member of an ensemble (usually one), all the same length
    chains = dense_chains(model)
    ends = []
    for chain in chains:
        previous = layers[1]
        for layer in chain:
            if layer.input is not previous.output or not layer.use_bias:
                raise ModelFileError(
                    f"{source} の層 {layer.name!r} のつながりが aeutil のモデルと違います。"
                    "ファイルが壊れているか、aeutil で保存したモデルではありません。"
                )
            if activation_name(layer) not in ACTIVATIONS:
                raise ModelFileError(
                    f"{source} の層 {layer.name!r} の活性化関数 {activation_name(layer)!r} には"
                    f"対応していません。使えるもの: {', '.join(ACTIVATIONS)}"
                )
            previous = layer
        ends.append(previous)
    meta_inputs = layers[-1].input
    if (
        not isinstance(meta_inputs, (list, tuple))
        or len(meta_inputs) != 1 + len(chains)
        or len({len(chain) for chain in chains}) != 1
        or meta_inputs[0] is not layers[1].output
        or any(meta is not end.output for meta, end in zip(meta_inputs[1:], ends, strict=True))
        or any(end.units != model.input_shape[-1] for end in ends)
    ):
        raise ModelFileError(
            f"{source} の再構成誤差の層のつながりが aeutil のモデルと違います。"
            "ファイルが壊れているか、aeutil で保存したモデルではありません。"
        )
