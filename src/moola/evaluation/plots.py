"""Plot data (CSV text for `dvc plots`) and PNG figures (bytes) for training and evaluation.

Nothing here writes a file: the stages write what these functions return through `moola.io`.
Figures are drawn on a private Agg canvas (no pyplot global state) and saved without the
"Software" metadata, so the same data gives the same PNG bytes with the same matplotlib.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

from moola.evaluation.metrics import ReliabilityBin

_PNG_METADATA = {"Software": None}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata=_PNG_METADATA)
    return buffer.getvalue()


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(_csv_cell(value) for value in row))
    return "\n".join(lines) + "\n"


def _csv_cell(value: object) -> str:
    if isinstance(value, float):
        return repr(round(value, 10))
    return str(value)


def curves_csv(history: Sequence[dict]) -> str:
    """`epoch,train_loss,val_loss[,fold]` rows, one per epoch (and fold): the training-curves plot data."""
    if history and "fold" in history[0]:
        return _csv(
            ["epoch", "train_loss", "val_loss", "fold"],
            [(int(h["epoch"]), float(h["train_loss"]), float(h["val_loss"]), int(h["fold"])) for h in history],
        )
    return _csv(
        ["epoch", "train_loss", "val_loss"],
        [(int(h["epoch"]), float(h["train_loss"]), float(h["val_loss"])) for h in history],
    )


def confusion_csv(actual: Sequence[int], predicted: Sequence[int], class_names: Sequence[str]) -> str:
    """`actual,predicted` rows with class names, one per window (DVC's `confusion` template)."""
    return _csv(
        ["actual", "predicted"],
        [(class_names[int(a)], class_names[int(p)]) for a, p in zip(actual, predicted, strict=False)],
    )


def reliability_csv(bins: Sequence[ReliabilityBin]) -> str:
    """`bin_lower,bin_upper,confidence,accuracy,count` rows, one per non-empty bin."""
    return _csv(
        ["bin_lower", "bin_upper", "confidence", "accuracy", "count"],
        [(b.lower, b.upper, b.confidence, b.accuracy, b.count) for b in bins],
    )


def curves_png(history: Sequence[dict], title: str = "Training curves") -> bytes:
    """Train and val loss per epoch; a vertical line marks the best (lowest val loss) epoch."""
    figure = _figure(6.0, 4.0)
    axes = figure.add_subplot()
    folds = sorted({int(h.get("fold", 0)) for h in history})
    for fold in folds:
        rows = [h for h in history if int(h.get("fold", 0)) == fold]
        epochs = [int(h["epoch"]) for h in rows]
        suffix = f" (fold {fold})" if len(folds) > 1 else ""
        axes.plot(epochs, [float(h["train_loss"]) for h in rows], marker="o", markersize=3, label=f"train loss{suffix}")
        axes.plot(epochs, [float(h["val_loss"]) for h in rows], marker="o", markersize=3, label=f"val loss{suffix}")
    if history and len(folds) == 1:
        best = min(history, key=lambda h: (float(h["val_loss"]), int(h["epoch"])))
        axes.axvline(int(best["epoch"]), color="grey", linestyle="--", linewidth=1, label=f"best epoch {best['epoch']}")
    axes.set_xlabel("epoch")
    axes.set_ylabel("cross-entropy")
    axes.set_title(title)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _png_bytes(figure)


def confusion_png(actual: Sequence[int], predicted: Sequence[int], class_names: Sequence[str], title: str) -> bytes:
    """Confusion matrix with counts in the cells (rows actual, columns predicted)."""
    import numpy as np

    n_classes = len(class_names)
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    for a, p in zip(actual, predicted, strict=False):
        counts[int(a), int(p)] += 1
    figure = _figure(4.5, 4.0)
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(n_classes), labels=list(class_names))
    axes.set_yticks(range(n_classes), labels=list(class_names))
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title(title)
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(n_classes):
        for j in range(n_classes):
            colour = "white" if counts[i, j] > threshold else "black"
            axes.text(j, i, str(counts[i, j]), ha="center", va="center", color=colour)
    figure.tight_layout()
    return _png_bytes(figure)


def reliability_png(bins: Sequence[ReliabilityBin], n_bins: int, ece: float, title: str) -> bytes:
    """Reliability diagram: accuracy per confidence bin against the diagonal, bar width = bin."""
    figure = _figure(4.5, 4.5)
    axes = figure.add_subplot()
    width = 1.0 / n_bins
    axes.bar(
        [b.lower for b in bins],
        [b.accuracy for b in bins],
        width=width,
        align="edge",
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    axes.plot(
        [b.confidence for b in bins],
        [b.accuracy for b in bins],
        "o",
        color="tab:red",
        label="(mean confidence, accuracy)",
    )
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for b in bins:
        axes.text(b.lower + width / 2, min(b.accuracy + 0.02, 0.97), str(b.count), ha="center", fontsize=7)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("top-label confidence")
    axes.set_ylabel("accuracy")
    axes.set_title(f"{title} (ECE {ece:.3f})")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return _png_bytes(figure)


def loss_csv(histories: Mapping[int, Sequence[float]]) -> str:
    """`fold,epoch,loss` rows of a pretraining run, one per fold's encoder and epoch."""
    lines = ["fold,epoch,loss"] + [
        f"{fold},{epoch},{loss:.6f}"
        for fold, history in histories.items()
        for epoch, loss in enumerate(history, start=1)
    ]
    return "\n".join(lines) + "\n"


def loss_png(histories: Mapping[int, Sequence[float]], title: str = "TS2Vec pretraining loss") -> bytes:
    """Mean pretraining loss per epoch, one line per fold's encoder."""
    from matplotlib.ticker import MaxNLocator

    figure = _figure(5.0, 3.2)
    axes = figure.add_subplot()
    for fold, history in histories.items():
        axes.plot(list(range(1, len(history) + 1)), list(history), marker="o", label=f"fold {fold}")
    if len(histories) > 1:
        axes.legend(fontsize="small")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("hierarchical contrastive loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _png_bytes(figure)
