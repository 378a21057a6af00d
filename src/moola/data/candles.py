"""Candlestick figure of a few example windows per class, drawn by hand (rectangles and lines).

Returns PNG bytes; the stage writes them. Uses matplotlib's object API with the Agg canvas, so
no global pyplot state or display is involved, and the PNG carries no software or date stamp:
equal inputs give equal bytes on one machine.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

UP_COLOUR = "#2e7d32"
DOWN_COLOUR = "#c62828"
SPAN_COLOUR = "#1565c0"


def pick_examples(labels: np.ndarray, n_classes: int, per_class: int, seed: int) -> list[np.ndarray]:
    """Choose up to `per_class` rows of each class, reproducibly.

    Args:
        labels: (N,) int64 class of each window.
        n_classes: number of classes.
        per_class: examples wanted per class.
        seed: base.seed; each class draws from its own generator seeded by (seed, class).

    Returns:
        One sorted (k,) int64 array of rows per class (k <= per_class).
    """
    chosen = []
    for cls in range(n_classes):
        rows = np.flatnonzero(labels == cls)
        if rows.size > per_class:
            rng = np.random.default_rng([seed, cls])
            rows = np.sort(rng.choice(rows, size=per_class, replace=False))
        chosen.append(rows.astype(np.int64))
    return chosen


def draw_candles(ax, ohlc: np.ndarray) -> None:
    """Draw one window as candlesticks on a matplotlib Axes.

    Args:
        ax: the Axes.
        ohlc: (T, 4) open, high, low, close.
    """
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.patches import Rectangle

    open_, high, low, close = (ohlc[:, i].astype(np.float64) for i in range(4))
    bar_index = np.arange(len(close), dtype=np.float64)
    rising = close >= open_
    colours = np.where(rising, UP_COLOUR, DOWN_COLOUR)
    wicks = np.stack([np.stack([bar_index, low], axis=1), np.stack([bar_index, high], axis=1)], axis=1)  # (T, 2, 2)
    ax.add_collection(LineCollection(wicks, colors=colours, linewidths=0.6))
    body_low = np.minimum(open_, close)
    # A doji still gets a visible sliver of body.
    body_height = np.maximum(np.abs(close - open_), (high.max() - low.min()) * 2e-3)
    bodies = [Rectangle((x - 0.35, y), 0.7, h) for x, y, h in zip(bar_index, body_low, body_height, strict=False)]
    ax.add_collection(PatchCollection(bodies, facecolors=colours, edgecolors=colours, linewidths=0.3))
    span = high.max() - low.min()
    ax.set_xlim(-1, len(close))
    ax.set_ylim(low.min() - 0.05 * span, high.max() + 0.05 * span)


def class_examples_png(
    ohlc: np.ndarray,
    labels: np.ndarray,
    ids: Sequence[str],
    class_names: Sequence[str],
    per_class: int,
    seed: int,
    title: str,
    spans: tuple[np.ndarray, np.ndarray] | None = None,
) -> bytes:
    """Render up to `per_class` example windows of each class as a grid of candlestick charts.

    Args:
        ohlc: (N, T, 4) windows.
        labels: (N,) class of each window.
        ids: (N,) window ids, shown above each chart.
        class_names: name of each class (one grid row per class).
        per_class: charts per class (grid columns), >= 1.
        seed: seed of the example choice.
        title: figure title.
        spans: optional ((N,), (N,)) int bar indices of each window's marked pattern (first and last
            bar, inclusive; -1 = none), shaded on its chart.

    Returns:
        The PNG file's bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    chosen = pick_examples(labels, len(class_names), per_class, seed)
    figure = Figure(figsize=(3.2 * per_class, 2.4 * len(class_names)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(class_names), per_class, squeeze=False)
    for cls, name in enumerate(class_names):
        for col in range(per_class):
            ax = axes[cls, col]
            ax.tick_params(labelsize=6)
            if col < len(chosen[cls]):
                row = int(chosen[cls][col])
                draw_candles(ax, ohlc[row])
                if spans is not None and int(spans[0][row]) >= 0:
                    first, last = int(spans[0][row]), int(spans[1][row])
                    ax.axvspan(first - 0.5, last + 0.5, color=SPAN_COLOUR, alpha=0.15, linewidth=0)
                ax.set_title(f"{name}: {ids[row]}", fontsize=7)
            else:
                ax.set_axis_off()
                shown = len(chosen[cls])
                note = f"only {shown} {name} window" + ("" if shown == 1 else "s")
                ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=8, transform=ax.transAxes)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
