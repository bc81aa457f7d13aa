"""Training plots as PNG files: loss and accuracy curves, and the confusion matrix.

Needs matplotlib (``pip install "chainrule[plot]"``); uses its Agg canvas
directly, so it never opens a window nor changes the user's backend. Files
are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._files import atomic_write


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib "
                          "(or pip install \"chainrule[plot]\")") from None
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: str | os.PathLike) -> Path:
    with atomic_write(path, "wb") as stream:
        figure.savefig(stream, format="png", bbox_inches="tight")
    return Path(path)


def _history_dict(history: Any) -> dict:
    return history.history if hasattr(history, "history") else dict(history)


def plot_history(history: Any, path: str | os.PathLike, title: str | None = None) -> Path:
    """Loss (left) and accuracy (right) per epoch, training and validation, to a PNG."""
    data = _history_dict(history)
    panels = [key for key in ("loss", "accuracy") if key in data]
    if not panels:
        raise ValueError("plot_history: the history has neither 'loss' nor 'accuracy'")
    figure = _figure(5.0 * len(panels), 3.8)
    for i, key in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), i + 1)
        epochs = np.arange(1, len(data[key]) + 1)
        axes.plot(epochs, data[key], label="train", marker="." if len(epochs) < 40 else None)
        if f"val_{key}" in data:
            axes.plot(epochs, data[f"val_{key}"], label="validation",
                      marker="." if len(epochs) < 40 else None)
        axes.set_xlabel("epoch")
        axes.set_ylabel(key)
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_confusion_matrix(cm: Any, path: str | os.PathLike, labels: Sequence[str] | None = None,
                          title: str | None = None, normalize: bool = False) -> Path:
    """A heat map of a confusion matrix (rows: true class, columns: predicted), with counts."""
    counts = np.asarray(cm, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got {counts.shape}")
    k = counts.shape[0]
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    labels = [str(i) for i in range(k)] if labels is None else [str(name) for name in labels]
    size = max(4.0, 0.5 * k + 2)
    figure = _figure(size + 1, size)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(values, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(k), labels, rotation=45 if max(map(len, labels)) > 2 else 0,
                    ha="right" if max(map(len, labels)) > 2 else "center")
    axes.set_yticks(range(k), labels)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    threshold = values.max() / 2 if values.size else 0
    for row in range(k):
        for column in range(k):
            value = values[row, column]
            text = f"{value:.2f}" if normalize else f"{int(counts[row, column])}"
            axes.text(column, row, text, ha="center", va="center", fontsize=8,
                      color="white" if value > threshold else "black")
    axes.set_title(title or "confusion matrix")
    return _save(figure, path)
