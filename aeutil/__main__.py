"""``python -m aeutil`` で ``aeutil.cli`` のコマンドを実行する。"""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
