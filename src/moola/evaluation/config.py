"""The `evaluate:` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field

from moola.params import require

# What an ablation removes from the trained model (docs/METRICS.md, "Ablations").
ABLATIONS = ("pretraining", "augmentation")


@dataclass
class EvaluateParams:
    """The `evaluate:` section of params.yaml."""

    ece_bins: int = 10  # equal-width confidence bins for ECE and the reliability diagram / 1..100
    alpha: float = 0.05  # a "beats" verdict needs its McNemar p and the no-skill p below this / (0, 0.5]
    collapse_threshold: float = 0.9  # share of one predicted class that counts as collapse / (0.5, 1]
    n_resamples: int = 1000  # bootstrap, permutation and no-skill draws / 100..100000
    logistic_C: float = 1.0  # inverse L2 strength of the logistic baseline on the 20 features / > 0
    # the same folds refitted without the encoder / without synthetic rows (train reads it too) / [] = none
    ablations: list[str] = field(default_factory=lambda: list(ABLATIONS))

    def validate(self) -> None:
        require(1 <= self.ece_bins <= 100, "evaluate.ece_bins", f"must be in 1..100, got {self.ece_bins}")
        require(0 < self.alpha <= 0.5, "evaluate.alpha", f"must be in (0, 0.5], got {self.alpha}")
        require(
            0.5 < self.collapse_threshold <= 1,
            "evaluate.collapse_threshold",
            f"must be in (0.5, 1], got {self.collapse_threshold}",
        )
        require(
            100 <= self.n_resamples <= 100_000,
            "evaluate.n_resamples",
            f"must be in 100..100000, got {self.n_resamples}",
        )
        require(self.logistic_C > 0, "evaluate.logistic_C", f"must be > 0, got {self.logistic_C}")
        unknown = [name for name in self.ablations if name not in ABLATIONS]
        require(
            not unknown,
            "evaluate.ablations",
            f"unknown ablation {unknown[0]!r} (known: {', '.join(ABLATIONS)}; [] = none)" if unknown else "",
        )
        require(
            len(set(self.ablations)) == len(self.ablations),
            "evaluate.ablations",
            f"names an ablation twice: {self.ablations}",
        )
