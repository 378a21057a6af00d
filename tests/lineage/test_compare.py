"""`moola compare`'s accuracy verdict carries the detectable effect of the two-sided test."""

from __future__ import annotations

import numpy as np

from moola.evaluation import power, significance
from moola.lineage.compare import accuracy_verdict


def test_accuracy_verdict_says_the_p_value_and_what_these_windows_could_show():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 45)
    runs = [
        significance.OutOfFold(
            [f"w{i}" for i in range(45)],
            np.repeat([0, 1, 2], 15),
            labels,
            np.eye(3)[rng.integers(0, 3, 45)],
            ("down", "neutral", "up"),
        )
        for _ in range(2)
    ]
    _, compared = significance.compare_runs(*runs, n_resamples=20)
    c = compared["accuracy"]
    said = accuracy_verdict(c, 0.05)
    expected = power.detectability_text(power.detectability(45, c.model_only, c.other_only, 0.025))
    assert said.startswith(f"not distinguishable (p = {c.p_value:.3g}); with 45 windows only a gain of ")
    assert said.endswith(expected)
