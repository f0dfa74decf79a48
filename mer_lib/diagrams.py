"""Diagrams the book draws with code (never images copied from the paper)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["pipeline_diagram"]


def _box(ax, x, y, w, h, text, color):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="0.25", lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=9.5, wrap=True)


def _arrow(ax, x0, y0, x1, y1):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, lw=1.3, color="0.2"))


def pipeline_diagram(ax=None):
    """Draw the paper's pipeline: clip -> magnify -> optical flow -> two-stream 3D CNN.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new 12x4.2 inch figure when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the diagram.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(12, 4.2))
    else:
        fig = ax.figure
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 4.2)
    ax.axis("off")
    _box(ax, 1.0, 2.1, 1.6, 1.3, "micro-expression\nclip\n(onset to offset)", "#f2e6d9")
    _box(ax, 3.2, 3.1, 1.9, 1.0, "phase-based\nmagnification\n(alpha = 20)", "#d9e8f5")
    _box(ax, 5.5, 3.1, 1.7, 1.0, "TV-L1\noptical flow", "#d9e8f5")
    _box(ax, 5.5, 1.1, 1.7, 0.9, "8 frames\n64 x 64", "#eeeeee")
    _box(ax, 7.6, 3.1, 1.6, 1.0, "8 u + 8 v maps\n64 x 64", "#eeeeee")
    _box(ax, 9.6, 3.1, 1.6, 1.0, "3D CNN\nflow stream", "#dff0d8")
    _box(ax, 9.6, 1.1, 1.6, 0.9, "3D CNN\nframe stream", "#dff0d8")
    _box(ax, 11.3, 2.1, 1.1, 1.2, "softmax\nnegative\npositive\nsurprise", "#f9e0e0")
    _arrow(ax, 1.8, 2.4, 2.25, 3.0)
    _arrow(ax, 4.15, 3.1, 4.65, 3.1)
    _arrow(ax, 6.35, 3.1, 6.8, 3.1)
    _arrow(ax, 8.4, 3.1, 8.8, 3.1)
    _arrow(ax, 1.8, 1.8, 4.65, 1.15)
    _arrow(ax, 6.35, 1.1, 8.8, 1.1)
    _arrow(ax, 10.4, 3.0, 10.75, 2.5)
    _arrow(ax, 10.4, 1.2, 10.75, 1.7)
    ax.text(3.2, 3.85, "pre-processing", ha="center", fontsize=9, color="0.35", style="italic")
    ax.text(9.6, 3.85, "two-stream 3D CNN (Table 1)", ha="center", fontsize=9, color="0.35", style="italic")
    return fig


def two_stream_diagram(model, ax=None):
    """Draw both streams of a two-stream model, each layer with its output shape.

    The shapes are read from the model, so the diagram always matches it.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`mer_lib.models.two_stream`.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(12, 4.6))
    else:
        fig = ax.figure
    ax.axis("off")
    names = ["{}", "conv3d_{}", "max_pooling3d_{}", "dropout_{}", "flatten_{}", "dense_{}"]
    inputs = {1: "frames", 2: "flow"}
    colors = ["#eeeeee", "#d9e8f5", "#dff0d8", "#f2e6d9", "#fdf5d6", "#f9e0e0"]
    n = len(names)
    ax.set_xlim(-0.2, n + 1.6)
    ax.set_ylim(-0.4, 3.0)
    for row, stream in ((2.2, 1), (0.4, 2)):
        for col, pattern in enumerate(names):
            name = inputs[stream] if col == 0 else pattern.format(stream)
            shape = tuple(model.get_layer(name).output.shape[1:])
            label = f"{name}\n{'x'.join(str(s) for s in shape)}"
            _box(ax, col + 0.5, row, 0.9, 0.7, label, colors[col])
            if col:
                _arrow(ax, col - 0.05, row, col + 0.05, row)
    merge = tuple(model.get_layer("merge").output.shape[1:])
    out = tuple(model.get_layer("softmax").output.shape[1:])
    _box(ax, n + 0.45, 1.3, 0.8, 0.7, f"merge\n{merge[0]}", "#e6e0f5")
    _box(ax, n + 1.25, 1.3, 0.6, 0.7, f"softmax\n{out[0]}", "#f9e0e0")
    _arrow(ax, n - 0.05, 2.0, n + 0.2, 1.6)
    _arrow(ax, n - 0.05, 0.6, n + 0.2, 1.0)
    _arrow(ax, n + 0.85, 1.3, n + 0.95, 1.3)
    ax.set_title(f"{model.name}: {model.count_params():,} parameters", fontsize=11)
    return fig
