"""aeutil: 『オートエンコーダによる異常検知』の補助パッケージ。

元の記事の ``AutoEncoderUtil`` と描画関数を、閾値の扱い・入力の標準化・保存・
再現性を直したうえで提供します。``import aeutil`` しても matplotlib の設定は
変わりません (日本語フォントは :func:`setup_japanese_font` で設定します)。
"""

from __future__ import annotations

from .csvfile import read_csv
from .data import make_1d_data, make_three_clusters, make_uniform_points
from .datasets import load_shuttle, split_normal_train
from .detector import AutoEncoderDetector
from .diagram import plot_autoencoder_diagram
from .evaluation import Evaluation, evaluate, plot_roc_pr
from .plotting import plot_ae_results, plot_ae_results_1d, setup_japanese_font
from .sequence import WindowAutoEncoder
from .thresholds import (
    threshold_best_f1,
    threshold_fixed_fpr,
    threshold_mean_std,
    threshold_percentile,
)
from .timeseries import (
    AnomalyInterval,
    AnomalySpec,
    EventReport,
    evaluate_events,
    intervals_to_frame,
    make_windows,
    plot_sensor_data,
    simulate_machine,
    window_coverage,
    window_scores_to_points,
)
from .util import AutoEncoderUtil
from .validation import (
    AEUtilError,
    ColumnNotFoundError,
    InvalidDataError,
    ModelFileError,
    NotFittedError,
)

__version__ = "0.1.0"

# Submodules that ``import aeutil`` does not load (some of them import TensorFlow): they are
# imported on first attribute access, so ``aeutil.model.default_architecture`` works after a
# plain ``import aeutil`` without making every ``import aeutil`` pay for TensorFlow.
_LAZY_SUBMODULES = frozenset({
    "cli", "engine", "kerasfile", "model", "modelfile", "network", "window_model",
})


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'aeutil' has no attribute {name!r}")

__all__ = [
    "AnomalyInterval",
    "AnomalySpec",
    "EventReport",
    "WindowAutoEncoder",
    "evaluate_events",
    "intervals_to_frame",
    "make_windows",
    "plot_sensor_data",
    "simulate_machine",
    "window_coverage",
    "window_scores_to_points",
    "AEUtilError",
    "AutoEncoderDetector",
    "AutoEncoderUtil",
    "ColumnNotFoundError",
    "Evaluation",
    "InvalidDataError",
    "ModelFileError",
    "NotFittedError",
    "evaluate",
    "load_shuttle",
    "make_1d_data",
    "make_three_clusters",
    "make_uniform_points",
    "plot_ae_results",
    "plot_ae_results_1d",
    "plot_autoencoder_diagram",
    "plot_roc_pr",
    "read_csv",
    "setup_japanese_font",
    "split_normal_train",
    "threshold_best_f1",
    "threshold_fixed_fpr",
    "threshold_mean_std",
    "threshold_percentile",
]
