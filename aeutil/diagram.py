"""オートエンコーダの構造図をコードで描く。

層ごとのニューロンを円で縦に並べ、隣り合う層のすべてのニューロンを線で結んだ
おなじみの図を描きます。図は ``matplotlib.figure.Figure`` として **返す** だけで、
pyplot の ``show`` は呼びません (:mod:`aeutil.plotting` の関数と同じ約束です)。
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from .plotting import setup_japanese_font

__all__ = ["plot_autoencoder_diagram"]

#: 1 層に描けるニューロンの数の上限 (これより多いと円が重なって読めない)。
MAX_UNITS_PER_LAYER = 32

# 入力と出力は「同じもの」を表すので同じ色にする。
_COLORS = {
    "input": "#8ec5ff",
    "encoder": "#c9d6e8",
    "code": "#ffb347",
    "decoder": "#c9e8d0",
    "output": "#8ec5ff",
}
_X_STEP = 2.2  # 層と層の横の間隔
_Y_STEP = 0.62  # 同じ層のニューロンの縦の間隔
_RADIUS = 0.2  # ニューロンの円の半径


def _check_layer_sizes(layer_sizes: Sequence[int]) -> list[int]:
    """層の大きさを検査して、int のリストにして返す。"""
    if isinstance(layer_sizes, (str, bytes)):
        raise ValueError("layer_sizes には整数の並び (例: (2, 8, 4, 8, 2)) を渡してください。")
    try:
        items = list(layer_sizes)
    except TypeError:
        raise ValueError(
            "layer_sizes には整数の並び (例: (2, 8, 4, 8, 2)) を渡してください。"
        ) from None
    if not items:
        raise ValueError("layer_sizes が空です。各層のニューロンの数を並べて渡してください。")
    if len(items) < 3:
        raise ValueError(
            "オートエンコーダには少なくとも 3 つの層 (入力層・潜在表現・出力層) が必要です "
            f"(いまは {len(items)} 層)。"
        )
    sizes = []
    for position, size in enumerate(items):
        if isinstance(size, bool):
            raise ValueError(f"{position} 番目の層の大きさが整数ではありません: {size!r}")
        try:
            value = operator.index(size)
        except TypeError:
            raise ValueError(f"{position} 番目の層の大きさが整数ではありません: {size!r}") from None
        if value < 1:
            raise ValueError(
                f"{position} 番目の層の大きさは 1 以上にしてください (いまは {value})。"
            )
        if value > MAX_UNITS_PER_LAYER:
            raise ValueError(
                f"{position} 番目の層の大きさ {value} は大きすぎて図が読めなくなります。"
                f"1 層あたり {MAX_UNITS_PER_LAYER} 個までにしてください。"
            )
        sizes.append(value)
    return sizes


def _bottleneck_index(sizes: list[int]) -> int:
    """中間の層のうち最も小さい層の位置 (同じ大きさなら中央に近いほう)。"""
    middle = (len(sizes) - 1) / 2
    interior = range(1, len(sizes) - 1)
    return min(interior, key=lambda i: (sizes[i], abs(i - middle), i))


def _roles(sizes: list[int], code: int) -> list[str]:
    roles = []
    for i in range(len(sizes)):
        if i == 0:
            roles.append("input")
        elif i == len(sizes) - 1:
            roles.append("output")
        elif i == code:
            roles.append("code")
        else:
            roles.append("encoder" if i < code else "decoder")
    return roles


_DEFAULT_LABELS = {
    "input": "入力層",
    "encoder": "エンコーダ",
    "code": "潜在表現\n（ボトルネック）",
    "decoder": "デコーダ",
    "output": "出力層\n（再構成）",
}


def plot_autoencoder_diagram(
    layer_sizes: Sequence[int] = (2, 8, 4, 8, 2),
    labels: Sequence[str] | None = None,
) -> Figure:
    """オートエンコーダのネットワーク図を描く。

    各層のニューロンを円で縦一列に並べ、隣り合う層のニューロンをすべて線で結びます
    (全結合層)。中間の層のうち最も小さい層を潜在表現 (ボトルネック) とみなし、
    色と枠で強調します。その手前の層がエンコーダ、後ろの層がデコーダです。
    入力層と出力層は同じものを表すので同じ色で描きます。

    Parameters
    ----------
    layer_sizes : sequence of int, default (2, 8, 4, 8, 2)
        入力層から出力層までの各層のニューロンの数。少なくとも 3 層、
        各層は 1 以上 32 以下。既定値は本書で使う 8-4-8 構成 (入力は 2 列)。
    labels : sequence of str, optional
        各層の上に書く名前 (``layer_sizes`` と同じ長さ)。省略すると
        「入力層」「エンコーダ」「潜在表現（ボトルネック）」「デコーダ」
        「出力層（再構成）」を層の役割に応じて付ける。

    Returns
    -------
    matplotlib.figure.Figure
        描いた図 (pyplot の ``show`` は呼ばない)。ニューロンは
        ``matplotlib.patches.Circle``、結合は層の組ごとに 1 つの
        ``matplotlib.collections.LineCollection`` として描かれる。

    Raises
    ------
    ValueError
        ``layer_sizes`` が空・3 層未満・整数でない・0 以下・大きすぎるとき、
        または ``labels`` の長さが層の数と合わないとき。

    Examples
    --------
    >>> fig = plot_autoencoder_diagram((3, 6, 2, 6, 3))
    >>> fig.savefig("autoencoder.png")  # doctest: +SKIP
    """
    sizes = _check_layer_sizes(layer_sizes)
    code = _bottleneck_index(sizes)
    roles = _roles(sizes, code)
    if labels is None:
        names = [_DEFAULT_LABELS[role] for role in roles]
    else:
        names = [str(label) for label in labels]
        if len(names) != len(sizes):
            raise ValueError(f"labels の数 ({len(names)}) が層の数 ({len(sizes)}) と合いません。")

    setup_japanese_font()
    n_layers, tallest = len(sizes), max(sizes)
    xs = [i * _X_STEP for i in range(n_layers)]
    half_height = (tallest - 1) / 2 * _Y_STEP
    fig = Figure(figsize=(1.75 * n_layers + 0.8, 0.42 * tallest + 2.6), layout="constrained")
    ax = fig.add_subplot()
    _draw_edges(ax, xs, sizes)
    _draw_bottleneck_box(ax, xs[code], sizes[code])
    label_y = half_height + _RADIUS + 0.45
    _draw_layers(ax, xs, sizes, roles, names, code, label_y, half_height)
    arrow_y = -half_height - 1.05
    _draw_flow(ax, xs, code, arrow_y)
    margin = 0.9
    ax.set_xlim(xs[0] - margin, xs[-1] + margin)
    ax.set_ylim(arrow_y - 0.75, label_y + 0.95)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig


def _ys(size: int) -> list[float]:
    """縦一列に並べた ``size`` 個のニューロンの y 座標 (中央が 0)。"""
    return [(size - 1) / 2 * _Y_STEP - k * _Y_STEP for k in range(size)]


def _draw_edges(ax, xs: list[float], sizes: list[int]) -> None:
    # edges first (below the neurons): one LineCollection per pair of layers
    for i in range(len(sizes) - 1):
        segments = [
            [(xs[i], y0), (xs[i + 1], y1)] for y0 in _ys(sizes[i]) for y1 in _ys(sizes[i + 1])
        ]
        ax.add_collection(
            LineCollection(segments, colors="#7a8799", linewidths=0.7, alpha=0.55, zorder=1)
        )


def _draw_bottleneck_box(ax, x: float, size: int) -> None:
    # highlight the bottleneck with a rounded box behind its neurons
    code_half = (size - 1) / 2 * _Y_STEP + _RADIUS + 0.18
    ax.add_patch(
        FancyBboxPatch(
            (x - _RADIUS - 0.18, -code_half),
            2 * (_RADIUS + 0.18),
            2 * code_half,
            boxstyle="round,pad=0.05,rounding_size=0.25",
            facecolor="#fff1dc",
            edgecolor="#e07b00",
            linewidth=2.0,
            linestyle="--",
            zorder=0.5,
            gid="bottleneck",
        )
    )


def _draw_layers(ax, xs, sizes, roles, names, code: int, label_y: float, half_height: float):
    for i, size in enumerate(sizes):
        for y in _ys(size):
            ax.add_patch(
                Circle(
                    (xs[i], y),
                    _RADIUS,
                    facecolor=_COLORS[roles[i]],
                    edgecolor="#2f3b4c",
                    linewidth=1.1,
                    zorder=2,
                )
            )
        # IPAex Gothic has no bold face (matplotlib would log a warning): use colour instead
        ax.text(
            xs[i], label_y, names[i], ha="center", va="bottom", fontsize=11,
            color="#b35900" if i == code else "black", linespacing=1.2,
        )
        ax.text(
            xs[i], -half_height - 0.45, f"{size} 個", ha="center", va="top", fontsize=9.5,
            color="#44505f",
        )


def _draw_flow(ax, xs: list[float], code: int, arrow_y: float) -> None:
    # the flow: compress on the left half, restore on the right half
    for start, end, text, color in (
        (xs[0], xs[code] - 0.3, "エンコード（圧縮）", "#33507a"),
        (xs[code] + 0.3, xs[-1], "デコード（復元）", "#2f7a45"),
    ):
        ax.annotate(
            "",
            xy=(end, arrow_y),
            xytext=(start, arrow_y),
            arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": 1.6},
        )
        middle = (start + end) / 2  # the arrow's middle
        ax.text(middle, arrow_y - 0.12, text, ha="center", va="top", fontsize=10, color=color)
