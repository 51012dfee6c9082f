"""The autoencoder diagram: one circle per neuron, one segment per connection, clear errors."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from aeutil.diagram import plot_autoencoder_diagram  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

SHAPES = [(2, 8, 4, 8, 2), (3, 6, 2, 6, 3), (4, 8, 6, 2, 6, 8, 4), (1, 3, 1), (5, 2, 4)]


def _circles(fig: Figure) -> list[Circle]:
    return [p for p in fig.axes[0].patches if isinstance(p, Circle)]


def _n_edges(fig: Figure) -> int:
    collections = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    return sum(len(c.get_segments()) for c in collections)


def _texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.axes[0].texts)


def test_default_returns_figure_without_pyplot():
    before = plt.get_fignums()
    fig = plot_autoencoder_diagram()
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == before  # nothing registered with pyplot
    fig.savefig(io.BytesIO(), format="png")  # renders with Agg


@pytest.mark.parametrize("sizes", SHAPES)
def test_one_circle_per_neuron(sizes):
    assert len(_circles(plot_autoencoder_diagram(sizes))) == sum(sizes)


@pytest.mark.parametrize("sizes", SHAPES)
def test_one_edge_per_connection(sizes):
    expected = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert _n_edges(plot_autoencoder_diagram(sizes)) == expected


def test_default_labels():
    text = _texts(plot_autoencoder_diagram())
    words = ("入力層", "エンコーダ", "潜在表現", "ボトルネック", "デコーダ", "出力層", "再構成")
    assert all(word in text for word in words)


def test_bottleneck_is_highlighted_around_the_smallest_layer():
    fig = plot_autoencoder_diagram((4, 8, 6, 2, 6, 8, 4))
    (box,) = [p for p in fig.axes[0].patches if p.get_gid() == "bottleneck"]
    inside = [
        c
        for c in _circles(fig)
        if box.get_path().contains_point(c.center, transform=box.get_patch_transform())
    ]
    assert len(inside) == 2


def test_custom_labels():
    labels = ["x", "h", "code", "h'", "x_hat"]
    text = _texts(plot_autoencoder_diagram((2, 8, 4, 8, 2), labels=labels))
    assert all(label in text for label in labels)
    assert "入力層" not in text


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ((), "空"),
        ([], "空"),
        ((2,), "3 つの層"),
        ((2, 2), "3 つの層"),
        ((2, 0, 2), "1 以上"),
        ((2, -3, 2), "1 以上"),
        ((2, 2.5, 2), "整数ではありません"),
        ((2, True, 2), "整数ではありません"),
        ((2, "4", 2), "整数ではありません"),
        ("282", "整数の並び"),
        (5, "整数の並び"),
        ((2, 100, 2), "大きすぎ"),
    ],
)
def test_bad_layer_sizes(sizes, message):
    with pytest.raises(ValueError, match=message):
        plot_autoencoder_diagram(sizes)


def test_labels_of_wrong_length():
    with pytest.raises(ValueError, match="labels の数"):
        plot_autoencoder_diagram((2, 4, 2), labels=["入力", "出力"])
