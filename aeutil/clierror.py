"""コマンド ``aeutil`` の利用者に伝えるエラー (:class:`CommandError`)。

CSV の読み込み (:mod:`aeutil.csvstream`)、文字コードの指定 (:mod:`aeutil.charset`)、
コマンドの実行 (:mod:`aeutil.commands`) が使います。
"""

from __future__ import annotations

from .validation import AEUtilError

__all__ = ["CommandError"]


class CommandError(AEUtilError):
    """コマンドの利用者に伝えるエラー (メッセージをそのまま表示して終了コード 2 で終わる)。"""
