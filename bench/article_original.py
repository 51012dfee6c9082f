"""The seed article's ``AutoEncoderUtil``, kept as a baseline for the benchmarks.

This is a faithful copy of the article's class (build_model / fit / predict), with two
changes only, both in the article's favour for timing:

- ``import keras`` instead of ``from tensorflow import keras`` (in TensorFlow 2.21 the two are
  the same Keras 3 package; the project does not use the ``tensorflow.keras`` spelling);
- ``verbose`` is a parameter of ``fit`` (the article hard-codes ``verbose=1``); the benchmark
  passes 0 so that printing progress bars is not counted against it, and the final
  ``print`` is dropped.

Everything else - the 8-4-8 network, ``model.fit``, ``model.predict`` with its default
batch size, and the threshold recomputed on the data being scored - is the article's.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402


class ArticleAutoEncoderUtil:
    def __init__(self, df=None, model_path=None):
        self.df = df.copy() if df is not None else None
        self.model = None
        self.input_dim = None
        if model_path:
            self.load_model(model_path)

    def build_model(self, input_dim):
        input_layer = keras.Input(shape=(input_dim,))
        encoded = layers.Dense(8, activation="relu")(input_layer)
        encoded = layers.Dense(4, activation="relu")(encoded)
        decoded = layers.Dense(8, activation="relu")(encoded)
        output_layer = layers.Dense(input_dim)(decoded)
        model = keras.Model(inputs=input_layer, outputs=output_layer)
        model.compile(optimizer="adam", loss="mse")
        return model

    def fit(self, column, epochs=50, batch_size=32, lr=1e-3, verbose=1):
        if self.df is None:
            raise ValueError("DataFrameがセットされていません。")
        X = self.df[column].values.astype(np.float32)
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        self.input_dim = X.shape[1]
        self.model = self.build_model(self.input_dim)
        optimizer = keras.optimizers.Adam(learning_rate=lr)
        self.model.compile(optimizer=optimizer, loss="mse")
        return self.model.fit(X, X, epochs=epochs, batch_size=batch_size, verbose=verbose)

    def predict(self, column, df=None, threshold=None):
        if self.model is None:
            raise RuntimeError("モデルが学習またはロードされていません。")
        if df is not None:
            self.df = df
        X = self.df[column].values.astype(np.float32)
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        reconstructed = self.model.predict(X, verbose=0)
        loss = np.mean(np.square(X - reconstructed), axis=1)
        if threshold is None:
            threshold = np.percentile(loss, 95)
        y_pred = np.where(loss > threshold, -1, 1)
        return y_pred, loss, threshold
