"""ファイルを途中で壊さずに書くための部品 (モデルの保存と CLI の出力で共通)。

同じフォルダーの一時ファイルに書き終え、ディスクに書き出してから名前を付け替える
(アトミックな置き換え) ので、失敗しても、途中でプロセスが止められても、元のファイルは
そのまま残ります。上書きするときは元のファイルの権限を引き継ぎます。
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

__all__ = ["create_temp", "fsync", "replace_atomically"]


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
