"""Training settings: `TrainConfig` (the Trainer's hyperparameters) and `TrainParams` (`train:`).

Both are plain dataclasses with commented defaults; `TrainParams` is read from params.yaml with
`moola.params.load_section`, so unknown keys and wrong types fail with the key's dotted name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from moola.params import require, require_choice

ClassWeight = Literal["balanced", "none"]
LrSchedule = Literal["constant", "cosine"]


@dataclass
class TrainConfig:
    """Hyperparameters of one Trainer run (the Python API's `config=`)."""

    seed: int = 1337  # every random draw of the run derives from it (init, order, dropout)
    epochs: int = 60  # maximum epochs (MiniRocket: ignored, it fits once)
    batch_size: int = 32  # windows per optimiser step
    lr: float = 3e-3  # AdamW learning rate (weak-signal benchmark: 5e-4 left the LSTMs undertrained)
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    patience: int = 20  # stop after this many epochs without a lower val loss
    class_weight: ClassWeight = "none"  # cross-entropy weights: balanced = n / (K * class count) on train
    lr_schedule: LrSchedule = "constant"  # cosine: lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2
    min_epochs: int = 0  # no epoch before this one is kept as the best (early-stopping floor)
    device: Literal["auto", "cpu", "cuda"] = "cpu"  # where the model trains
    min_ks_pval: float = 0.1  # guard: lowest synthetic-cache KS summary p-value
    min_pretrained_match: float = 0.8  # guard: lowest share of encoder tensors a pretrained file must fill
    ece_bins: int = 10  # equal-width bins of the ECE in the run's metrics

    def validate(self) -> None:
        require(self.epochs >= 1, "train.epochs", f"must be >= 1, got {self.epochs}")
        require(self.batch_size >= 2, "train.batch_size", f"must be >= 2, got {self.batch_size}")
        require(self.lr > 0, "train.lr", f"must be > 0, got {self.lr}")
        require(self.weight_decay >= 0, "train.weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(self.patience >= 1, "train.patience", f"must be >= 1, got {self.patience}")
        require_choice(self.class_weight, ClassWeight, "train.class_weight")
        require_choice(self.lr_schedule, LrSchedule, "train.lr_schedule")
        require(
            0 <= self.min_epochs <= self.epochs,
            "train.min_epochs",
            f"must lie in [0, train.epochs], got {self.min_epochs}",
        )
        require(self.seed >= 0, "base.seed", f"must be >= 0, got {self.seed}")
        require(0 <= self.min_ks_pval <= 1, "train.min_ks_pval", f"must lie in [0, 1], got {self.min_ks_pval}")
        require(
            0 <= self.min_pretrained_match <= 1,
            "train.min_pretrained_match",
            f"must lie in [0, 1], got {self.min_pretrained_match}",
        )
        require(self.ece_bins >= 1, "evaluate.ece_bins", f"must be >= 1, got {self.ece_bins}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainParams:
    """The `train:` section of params.yaml (stages `train` and `evaluate`)."""

    dataset: str = "v1"  # labeled version under data/labeled_windows/
    split: str = "fwd_chain_v3"  # split name under data/splits/
    epochs: int = 60  # maximum epochs
    batch_size: int = 32  # windows per step
    lr: float = 3e-3  # AdamW learning rate (weak-signal benchmark: 5e-4 left the LSTMs undertrained)
    weight_decay: float = 1e-4  # AdamW weight decay
    patience: int = 20  # early stopping on val loss, epochs
    class_weight: ClassWeight = "none"  # balanced: cross-entropy weights from the train part's class counts
    lr_schedule: LrSchedule = "constant"  # cosine: from train.lr towards 0 at train.epochs
    min_epochs: int = 0  # early-stopping floor: the best epoch is chosen among epochs >= this
    augment: bool = True  # add the synthetic cache's rows to train
    synthetic: str = "v1_temporal_q0.9_r0.5"  # cache name under data/synthetic_cache/
    pretrained_encoder: str = "artifacts/ts2vec/encoder_v1.pt"  # '' = none; used by models that take one
    min_ks_pval: float = 0.1  # guard: refuse a synthetic cache below this combined KS p-value (synth_cache, train)
    min_pretrained_match: float = 0.8  # guard: refuse an encoder that fills fewer of the model's tensors

    def validate(self) -> None:
        self.trainer_config(seed=0, device="cpu", ece_bins=1).validate()

    def trainer_config(self, seed: int, device: str, ece_bins: int) -> TrainConfig:
        """The Trainer's hyperparameters from this section plus base.seed, the device and evaluate.ece_bins."""
        return TrainConfig(
            seed=seed,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            class_weight=self.class_weight,  # type: ignore[arg-type]
            lr_schedule=self.lr_schedule,  # type: ignore[arg-type]
            min_epochs=self.min_epochs,
            device=device,  # type: ignore[arg-type]
            min_ks_pval=self.min_ks_pval,
            min_pretrained_match=self.min_pretrained_match,
            ece_bins=ece_bins,
        )
