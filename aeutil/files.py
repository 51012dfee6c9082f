"""ファイルを途中で壊さずに書く :class:`AtomicFile` (モデルの保存とコマンドの出力で共通)。

同じフォルダーの一時ファイルに書き終え、ディスクに書き出してから名前を付け替える
(アトミックな置き換え) ので、失敗しても、途中でプロセスが止められても、元のファイルは
そのまま残ります。上書きするときは元のファイルの権限を引き継ぎます。

使う場所: :func:`aeutil.modelfile.save_network` (Dense のモデル)、
:func:`aeutil.kerasfile.save_keras_model` (Keras のモデル)、``aeutil score --output``。
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["AtomicFile", "create_temp", "fsync", "replace_atomically"]


def create_temp(folder: Path, stem: str, suffix: str = ".tmp") -> Path:
    """保存先と同じフォルダーに、新しい一時ファイルを作る (権限は普通のファイルと同じ)。"""
    while True:
        tmp = folder / f".{stem}.{secrets.token_hex(4)}{suffix}"
        try:
            # mode 0o666 minus the umask, as for any new file (mkstemp would give 0o600)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


def fsync(path: Path, *, directory: bool = False) -> None:
    """ファイル (またはフォルダー) の中身をディスクに書き出す。"""
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


def replace_atomically(tmp: Path, target: Path) -> None:
    """書き終えた一時ファイル ``tmp`` を ``target`` に付け替える (権限は元のファイルのまま)。"""
    if target.exists():
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))  # keep the owner's choice
    fsync(tmp)  # the data is on disk before the new name points at it
    os.replace(tmp, target)
    fsync(target.parent, directory=True)


class AtomicFile:
    """``target`` の中身を一時ファイルに書き、:meth:`commit` で ``target`` に付け替える。

    ``with`` の中で :meth:`commit` まで進まなかったとき (例外・中断) は一時ファイルを消すので、
    ``target`` は元のまま (なければ、ないまま) です。

    Parameters
    ----------
    target : path-like
        書き上げたいファイル。
    suffix : str, default ".tmp"
        一時ファイルの名前の終わり (Keras は ``.keras`` で終わる名前にしか保存しない)。

    Attributes
    ----------
    path : pathlib.Path
        一時ファイル (``target`` と同じフォルダーの ``.<名前>.<乱数><suffix>``)。

    Examples
    --------
    >>> with AtomicFile(target) as out:  # doctest: +SKIP
    ...     out.open().write(data)
    ...     out.commit()
    """

    def __init__(self, target: str | os.PathLike, suffix: str = ".tmp") -> None:
        self.target = Path(target)
        self.path = create_temp(self.target.parent, self.target.name, suffix)
        self._handle: BinaryIO | None = None
        self._done = False

    def open(self) -> BinaryIO:
        """一時ファイルを書き込み用に開いたもの (閉じるのは :meth:`commit` か :meth:`discard`)。"""
        fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC)
        self._handle = os.fdopen(fd, "wb")
        return self._handle

    def commit(self) -> Path:
        """書き終えた一時ファイルをディスクに書き出し、``target`` に付け替える。"""
        if self._handle is not None:
            self._handle.close()  # flushes; replace_atomically syncs the data to the disk
        replace_atomically(self.path, self.target)
        self._done = True
        return self.target

    def discard(self) -> None:
        """一時ファイルを消す (``target`` には触れない)。"""
        self._done = True
        try:
            if self._handle is not None:
                self._handle.close()  # may fail again to flush (disk full): removed anyway
        except OSError:
            pass
        finally:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._done:
            self.discard()
