"""Keras を静かに読み込むための内部モジュール。

TensorFlow は import 時に C++ のログ (oneDNN の案内など) を標準エラーへ出すため、
ノートブックの出力が汚れます。ここでは環境変数を **未設定のときだけ** 設定してから
Keras を読み込みます。利用者が自分で値を設定していれば、それを尊重します。

- ``TF_CPP_MIN_LOG_LEVEL=3``: C++ 側の情報・警告ログを抑える。
- ``TF_ENABLE_ONEDNN_OPTS=0``: oneDNN の最適化を切り、CPU での計算順序を固定する
  (同じシードで同じ結果を得るため。案内メッセージも出なくなる)。
- ``KERAS_BACKEND=tensorflow``: 学習ループは TensorFlow の機能を使う。
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# The environment variable decides Keras' backend (it wins over ~/.keras/keras.json), so the
# check needs no Keras, and a wrong setting fails before TensorFlow's slow import.
if os.environ["KERAS_BACKEND"] != "tensorflow":
    raise ImportError(
        "aeutil は Keras の TensorFlow バックエンドで動きます。"
        f"環境変数 KERAS_BACKEND が {os.environ['KERAS_BACKEND']!r} になっています。"
        "KERAS_BACKEND=tensorflow を設定してください。"
    )

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

# Keras loaded earlier (before the variable above was set) keeps the backend it started with.
if keras.backend.backend() != "tensorflow":  # pragma: no cover - depends on the user's env
    raise ImportError(
        "aeutil は Keras の TensorFlow バックエンドで動きます。"
        f"先に読み込まれた Keras のバックエンドが {keras.backend.backend()!r} です。"
        "KERAS_BACKEND=tensorflow を設定してから Python を起動し直してください。"
    )

__all__ = ["keras", "tf"]
