"""元の記事と同じ使い心地の ``AutoEncoderUtil`` クラス。"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import engine
from .csvfile import read_csv as _read_csv
from .detector import AutoEncoderDetector
from .validation import (
    InvalidDataError,
    NotFittedError,
    as_column_list,
    to_matrix,
)

__all__ = ["AutoEncoderUtil"]


class AutoEncoderUtil:
    """DataFrame の列を指定して学習・異常判定・保存ができるオートエンコーダ。

    元の記事の ``AutoEncoderUtil`` と同じ名前・同じ引数で使えます。
    そのうえで、記事の実装にあった次の問題を直しています。

    - **閾値は学習時に決める**: 記事の ``predict`` は判定するデータ自身から
      95 パーセンタイルを計算し直すため、まったく正常なデータでも必ず 5% が
      異常になりました。ここでは ``fit`` のときに学習データの再構成誤差から
      閾値を決め、``predict`` はそれを使います (引数で上書きも可能)。
    - **入力を標準化する**: 学習データの平均と標準偏差で標準化し、
      その値はモデルの中に入れて保存します。
    - **保存ファイルは 1 つ**: ``save_model`` は構造・重み・標準化・閾値・列名を
      ``.keras`` ファイル 1 つに、途中で壊れないよう書き込みます。読み込み時に
      ``input_dim`` を手で設定する必要はありません。
    - **再現できる**: ``seed`` が同じなら CPU 上でビット単位で同じ結果になります。
    - **当たり外れを抑える**: モデル 1 個の結果はシード (重みの初期値) 次第で大きく変わる
      ため、既定では初期値の違う 5 個のモデルを学習して再構成誤差を平均します。
    - **呼び出し側のデータを書き換えない**: ``predict(df=...)`` は ``self.df`` を
      置き換えません。進捗バーも出しません。
    - **read_csv を実装**: 記事では説明だけあって実装がありませんでした。

    Parameters
    ----------
    df : pandas.DataFrame, optional
        学習に使うデータ。コピーして持つので、元の DataFrame は変わらない。
    model_path : str or path-like, optional
        保存済みモデルのパス。指定するとすぐに読み込む。
    seed : int, default 0
        乱数のシード (キーワード引数)。
    hidden_units : tuple of int, optional
        エンコーダの中間層のユニット数 (キーワード引数)。省略すると学習データの列数から決める
        (16 列以下なら記事と同じ 8。:func:`aeutil.network.default_architecture`)。
    encoding_dim : int, optional
        ボトルネックの次元数 (キーワード引数)。省略すると列数から決める
        (16 列以下なら記事と同じ 4。記事の 2 列のデータでは 8-4-8 構成)。
    activation : str, default "relu"
        活性化関数 (キーワード引数)。
    threshold_percentile : float, default 95.0
        閾値に使う学習データの再構成誤差のパーセンタイル (キーワード引数)。
    n_models : int, default 5
        アンサンブルの大きさ (キーワード引数)。初期値だけが違うオートエンコーダを
        ``n_models`` 個まとめて学習し、再構成誤差の平均を異常度にする。モデル 1 個では
        シードによる当たり外れが大きいため既定値は 5。記事と同じ 1 個なら ``n_models=1``。

    Attributes
    ----------
    df : pandas.DataFrame or None
        学習用のデータ。
    model : keras.Model or None
        学習済みモデル (入力から再構成誤差までを計算する)。
    threshold : float or None
        学習時に決めた閾値。
    columns : list of str or None
        学習に使った列名。
    history : dict or None
        エポックごとの損失 (``"loss"``、あれば ``"val_loss"``)。
    input_dim : int or None
        入力の列数。モデルから自動で決まる (記事のように手で代入しても害はない)。
    """

    def __init__(
        self,
        df: pd.DataFrame | None = None,
        model_path: str | os.PathLike | None = None,
        *,
        seed: int = 0,
        hidden_units: Sequence[int] | None = None,
        encoding_dim: int | None = None,
        activation: str = "relu",
        threshold_percentile: float = 95.0,
        n_models: int = 5,
    ) -> None:
        if df is not None and not isinstance(df, pd.DataFrame):
            raise InvalidDataError(
                f"df には pandas.DataFrame を渡してください (いまは {type(df).__name__})。"
            )
        self.df = df.copy() if df is not None else None
        self.model_path = model_path
        self.seed = seed
        self.hidden_units = None if hidden_units is None else tuple(hidden_units)
        self.encoding_dim = encoding_dim
        self.activation = activation
        self.threshold_percentile = threshold_percentile
        self.n_models = n_models
        self.input_dim: int | None = None
        self.history: dict[str, list[float]] | None = None
        self._detector: AutoEncoderDetector | None = None
        if model_path is not None:
            self.load_model(model_path)

    # -- read-only views of the fitted detector -------------------------

    @property
    def detector(self) -> AutoEncoderDetector:
        """中身の scikit-learn 互換検出器 (:class:`AutoEncoderDetector`)。"""
        if self._detector is None:
            raise NotFittedError(
                "モデルが学習またはロードされていません。先に fit() か load_model() を呼んでください。"
            )
        return self._detector

    @property
    def model(self):
        """学習済みの Keras モデル (未学習なら ``None``)。"""
        return None if self._detector is None else self._detector.model_

    @property
    def threshold(self) -> float | None:
        """学習時に決めた閾値 (未学習なら ``None``)。"""
        return None if self._detector is None else self._detector.threshold_

    @property
    def columns(self) -> list[str] | None:
        """学習に使った列名 (未学習なら ``None``)。"""
        return None if self._detector is None else list(self._detector.columns_)

    # -- the article's API -------------------------------------------------

    def fit(
        self,
        column: str | Sequence[str],
        epochs: int = 50,
        batch_size: int = 32,
        lr: float = 1e-3,
        *,
        validation_split: float = 0.0,
        patience: int | None = None,
        optimizer: str = "adam",
    ) -> AutoEncoderUtil:
        """指定した列でオートエンコーダを学習し、閾値を決める。

        Parameters
        ----------
        column : str or list of str
            学習に使う列名 (1 つでもリストでもよい。1 列のデータも扱える)。
        epochs : int, default 50
            エポック数。
        batch_size : int, default 32
            ミニバッチの大きさ。
        lr : float, default 1e-3
            学習率。
        validation_split : float, default 0.0
            検証用に取り分ける割合 (キーワード引数)。
        patience : int, optional
            早期終了の我慢エポック数 (キーワード引数)。
        optimizer : str, default "adam"
            最適化手法 (キーワード引数)。

        Returns
        -------
        AutoEncoderUtil
            自分自身 (メソッドをつなげて書ける)。
        """
        if self.df is None:
            raise InvalidDataError(
                "学習用の DataFrame がありません。AutoEncoderUtil(df=...) で渡すか、"
                "read_csv() で読み込んでください。"
            )
        columns = as_column_list(column)
        data = to_matrix(self.df, columns, source="学習データ")
        detector = AutoEncoderDetector(
            hidden_units=self.hidden_units,
            encoding_dim=self.encoding_dim,
            activation=self.activation,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            threshold_percentile=self.threshold_percentile,
            validation_split=validation_split,
            patience=patience,
            seed=self.seed,
            n_models=self.n_models,
        )
        result = detector._fit_matrix(data, [str(c) for c in columns])
        self._detector = detector
        self.history = result.history
        self.input_dim = detector.n_features_in_
        return self

    def _matrix_for(self, column: str | Sequence[str], df: pd.DataFrame | None) -> np.ndarray:
        detector = self.detector
        columns = as_column_list(column)
        if [str(c) for c in columns] != detector.columns_:
            if len(columns) != detector.n_features_in_:
                raise InvalidDataError(
                    f"列の数が合いません: モデルは {detector.n_features_in_} 列 "
                    f"({', '.join(detector.columns_)}) で学習されていますが、"
                    f"{len(columns)} 列 ({', '.join(map(str, columns))}) が指定されました。"
                )
            raise InvalidDataError(
                f"列名が合いません: モデルは {detector.columns_} で学習されていますが、"
                f"{list(columns)} が指定されました。"
            )
        frame = self.df if df is None else df
        if frame is None:
            raise InvalidDataError("判定するデータがありません。predict(..., df=...) で渡してください。")
        return to_matrix(frame, columns, source="データ")

    def predict(
        self,
        column: str | Sequence[str],
        df: pd.DataFrame | None = None,
        threshold: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """再構成誤差を計算し、異常 (-1) か正常 (1) かを判定する。

        Parameters
        ----------
        column : str or list of str
            判定に使う列名。学習したときと同じ列を同じ順で指定する。
        df : pandas.DataFrame, optional
            判定するデータ。省略すると ``self.df`` を使う。どちらも書き換えない。
        threshold : float, optional
            閾値。省略すると学習時に決めた閾値を使う
            (記事と違い、判定するデータから計算し直さない)。

        Returns
        -------
        y_pred : numpy.ndarray
            行ごとのラベル。-1 = 異常、1 = 正常。
        loss : numpy.ndarray
            行ごとの再構成誤差。
        threshold : float
            判定に使った閾値。
        """
        data = self._matrix_for(column, df)
        loss = engine.score(self.detector.network_, data)
        used = self.detector.threshold_ if threshold is None else float(threshold)
        # compared in float64, as AutoEncoderDetector.predict does, so both give the same labels
        y_pred = np.where(loss.astype(np.float64) > used, -1, 1)
        return y_pred, loss, used

    def contributions(
        self, column: str | Sequence[str], df: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """行ごと・列ごとの寄与度を、列名の付いた表で返す。

        寄与度は、その列の再構成の二乗誤差 (標準化した空間、ネットワークについて平均) を
        列の数で割ったものです。すべて 0 以上で、行ごとの和がその行の再構成誤差
        (:meth:`predict` の ``loss``) になります
        (:meth:`AutoEncoderDetector.feature_contributions` と同じ値)。

        Parameters
        ----------
        column : str or list of str
            判定に使う列名。学習したときと同じ列を同じ順で指定する。
        df : pandas.DataFrame, optional
            判定するデータ。省略すると ``self.df`` を使う。

        Returns
        -------
        pandas.DataFrame
            行は ``df`` と同じインデックス、列は学習に使った列名。
        """
        frame = self.df if df is None else df
        data = self._matrix_for(column, df)
        values = engine.contributions(self.detector.network_, data)
        return pd.DataFrame(values, index=frame.index, columns=list(self.detector.columns_))

    def set_threshold(self, threshold: float) -> AutoEncoderUtil:
        """閾値を置き換える。以後の ``predict`` と ``save_model`` に反映される。

        Parameters
        ----------
        threshold : float
            新しい閾値 (0 以上の有限の値)。

        Returns
        -------
        AutoEncoderUtil
            自分自身。
        """
        self.detector.set_threshold(threshold)
        return self

    def reconstruction_error(self, X) -> np.ndarray:
        """配列や DataFrame の行ごとの再構成誤差を返す (グラフ描画などで使う)。

        Parameters
        ----------
        X : array-like or pandas.DataFrame
            学習時と同じ列数のデータ。DataFrame なら学習時の列名で列を選ぶ。

        Returns
        -------
        numpy.ndarray
            行ごとの再構成誤差。
        """
        detector = self.detector
        if isinstance(X, pd.DataFrame):
            return engine.score(detector.network_, to_matrix(X, detector.columns_, source="データ"))
        if np.ndim(X) == 1:
            X = np.reshape(X, (-1, 1))  # the article's 1-D data: one column, one value per row
        # float32, as the article's model.predict gave (the detector's own scores are float64)
        return engine.score(detector.network_, detector._matrix(X))

    def read_csv(self, file_name: str | os.PathLike, encoding: str = "shift-jis") -> pd.DataFrame:
        """CSV を読み込み、学習用のデータ ``self.df`` にする。

        Parameters
        ----------
        file_name : str or path-like
            CSV ファイルのパス。
        encoding : str, default "shift-jis"
            文字コード (Shift-JIS 系は CP932 として読む)。

        Returns
        -------
        pandas.DataFrame
            読み込んだデータ (``self.df`` と同じ内容)。
        """
        self.df = _read_csv(file_name, encoding=encoding)
        return self.df

    def save_model(self, path: str | os.PathLike) -> None:
        """モデル・標準化・閾値・列名を ``.keras`` ファイル 1 つに保存する。

        Parameters
        ----------
        path : str or path-like
            保存先 (拡張子 ``.keras``)。書き込みは一時ファイル経由で行い、
            失敗しても既存のファイルを壊さない。
        """
        self.detector.save(path)

    def load_model(self, path: str | os.PathLike | None = None) -> AutoEncoderUtil:
        """保存したモデルを読み込む。

        Parameters
        ----------
        path : str or path-like, optional
            モデルファイル。省略すると初期化時の ``model_path`` を使う。

        Returns
        -------
        AutoEncoderUtil
            自分自身。
        """
        if path is None:
            path = self.model_path
        if path is None:
            raise InvalidDataError(
                "読み込むモデルファイルが指定されていません。load_model(path) で指定してください。"
            )
        detector = AutoEncoderDetector.load(path)
        self._detector = detector
        self.model_path = path
        self.input_dim = detector.n_features_in_
        self.hidden_units = tuple(detector.hidden_units)
        self.encoding_dim = detector.encoding_dim
        self.activation = detector.activation
        self.n_models = detector.n_models
        self.threshold_percentile = detector.threshold_percentile
        self.history = None
        return self
