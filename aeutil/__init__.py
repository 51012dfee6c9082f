"""aeutil: 『オートエンコーダによる異常検知』の補助パッケージ。

元の記事の ``AutoEncoderUtil`` と描画関数を、閾値の扱い・入力の標準化・保存・
再現性を直したうえで提供します。``import aeutil`` しても matplotlib の設定は
変わりません (日本語フォントは :func:`setup_japanese_font` で設定します)。

``import aeutil`` は公開の名前を使うときに初めてそのモジュールを読み込むので、すぐに終わります
(scikit-learn や TensorFlow は、それを使う関数やクラスを使ったときに読み込まれます)。
するのは、TensorFlow のログを抑える環境変数 ``TF_CPP_MIN_LOG_LEVEL=3`` と
``TF_ENABLE_ONEDNN_OPTS=0`` を、未設定のときだけ設定することだけです。
"""

from __future__ import annotations

import os

# TensorFlow prints C++ log lines (oneDNN notices) when it is imported: keep them out of the
# notebooks even when a chapter imports keras itself after ``import aeutil``. Only unset
# variables are set (a user's own values win); aeutil._keras sets the same ones.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"

# Every public name is imported from its module on first use (PEP 562), so ``import aeutil``
# itself loads nothing heavy: the command line (``aeutil fit`` / ``aeutil score``) pays neither
# for scikit-learn nor for TensorFlow, and a notebook pays only for what it uses.
_EXPORTS = {
    "read_csv": "csvfile",
    "make_1d_data": "data", "make_three_clusters": "data", "make_uniform_points": "data",
    "load_shuttle": "datasets", "split_normal_train": "datasets",
    "AutoEncoderDetector": "detector", "BaseDetector": "base",
    "HotellingT2": "classical", "MahalanobisTaguchi": "classical", "PCAMonitor": "pcamonitor",
    "ControlChart": "charts", "cusum_chart": "charts", "detection_delay": "charts",
    "ewma_chart": "charts", "plot_control_chart": "charts", "threshold_chart": "charts",
    "plot_autoencoder_diagram": "diagram",
    "Evaluation": "evaluation", "evaluate": "evaluation", "plot_roc_pr": "evaluation",
    "plot_ae_results": "plotting", "plot_ae_results_1d": "plotting",
    "setup_japanese_font": "plotting",
    "WindowAutoEncoder": "sequence",
    "threshold_best_f1": "thresholds", "threshold_fixed_fpr": "thresholds",
    "threshold_mean_std": "thresholds", "threshold_percentile": "thresholds",
    "AnomalyInterval": "timeseries", "AnomalySpec": "timeseries", "EventReport": "events",
    "evaluate_events": "events", "intervals_to_frame": "timeseries",
    "point_adjust": "events", "point_metrics": "events",
    "make_windows": "windows", "plot_sensor_data": "sensorplot",
    "contributions_to_points": "windows",
    "plot_contributions": "contribplot", "plot_contribution_heatmap": "contribplot",
    "simulate_machine": "timeseries", "window_coverage": "windows",
    "window_scores_to_points": "windows",
    "AutoEncoderUtil": "util",
    "fit_on_sample": "sampling", "read_parquet_files": "distributed",
    "sample_normal_rows": "sampling", "score_dataframe": "distributed",
    "score_parquet": "distributed",
    "AEUtilError": "validation", "ColumnNotFoundError": "validation",
    "InvalidDataError": "validation", "InvalidTypeError": "validation",
    "ModelFileError": "validation",
    "NotFittedError": "validation",
}


def __getattr__(name: str):
    import importlib

    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    try:
        return importlib.import_module(f".{name}", __name__)  # a submodule: aeutil.model, ...
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module 'aeutil' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "AnomalyInterval",
    "AnomalySpec",
    "EventReport",
    "WindowAutoEncoder",
    "contributions_to_points",
    "plot_contribution_heatmap",
    "plot_contributions",
    "evaluate_events",
    "point_adjust",
    "point_metrics",
    "intervals_to_frame",
    "make_windows",
    "plot_sensor_data",
    "simulate_machine",
    "window_coverage",
    "window_scores_to_points",
    "AEUtilError",
    "AutoEncoderDetector",
    "BaseDetector",
    "AutoEncoderUtil",
    "ControlChart",
    "HotellingT2",
    "MahalanobisTaguchi",
    "PCAMonitor",
    "cusum_chart",
    "detection_delay",
    "ewma_chart",
    "plot_control_chart",
    "threshold_chart",
    "ColumnNotFoundError",
    "Evaluation",
    "InvalidDataError",
    "InvalidTypeError",
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
    "fit_on_sample",
    "read_parquet_files",
    "sample_normal_rows",
    "score_dataframe",
    "score_parquet",
]
