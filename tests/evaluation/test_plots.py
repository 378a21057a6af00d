"""Plot data is valid CSV for DVC templates; PNGs are real and byte-stable."""

from __future__ import annotations

import csv
import io

import numpy as np

from moola.evaluation import metrics, plots

CLASSES = ["down", "neutral", "up"]


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_confusion_csv_has_one_named_row_per_window():
    rows = _rows(plots.confusion_csv([0, 2, 1], [0, 1, 1], CLASSES))
    assert rows == [
        {"actual": "down", "predicted": "down"},
        {"actual": "up", "predicted": "neutral"},
        {"actual": "neutral", "predicted": "neutral"},
    ]


def test_reliability_csv_counts_every_row():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=50)
    labels = rng.integers(0, 3, 50)
    rows = _rows(plots.reliability_csv(metrics.reliability_bins(labels, proba, bins=10)))
    assert sum(int(r["count"]) for r in rows) == 50
    assert all(0.0 <= float(r["confidence"]) <= 1.0 and 0.0 <= float(r["accuracy"]) <= 1.0 for r in rows)


def test_curves_csv_columns():
    history = [{"epoch": 1, "train_loss": 1.1, "val_loss": 1.2}, {"epoch": 2, "train_loss": 0.9, "val_loss": 1.0}]
    rows = _rows(plots.curves_csv(history))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[1]["val_loss"]) == 1.0


def test_pngs_are_png_and_deterministic():
    history = [{"epoch": 1, "train_loss": 1.1, "val_loss": 1.2}]
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    bins = metrics.reliability_bins([0, 1], proba, bins=10)
    figures = [
        lambda: plots.curves_png(history),
        lambda: plots.confusion_png([0, 1], [0, 2], CLASSES, "test"),
        lambda: plots.reliability_png(bins, 10, 0.1, "test"),
    ]
    for draw in figures:
        first, second = draw(), draw()
        assert first[:8] == b"\x89PNG\r\n\x1a\n"
        assert first == second
