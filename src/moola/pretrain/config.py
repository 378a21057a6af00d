"""The `pretrain_ts2vec:` section of params.yaml."""

from __future__ import annotations

import dataclasses
import typing

from moola.params import require

SECTION = "pretrain_ts2vec"


@dataclasses.dataclass
class PretrainParams:
    """Section `pretrain_ts2vec:`."""

    unlabeled_version: str = "v1"  # data/unlabeled_windows/<version>
    split: str = "fwd_chain_v3"  # one encoder per fold, each without its fold's val/test time (plus embargo)
    output: str = "artifacts/ts2vec/encoder_v1.pt"  # encoder checkpoint, relative to the project
    encoder: typing.Literal["bilstm", "dilated_cnn"] = "bilstm"  # bilstm uses the encoder: section
    epochs: int = 3  # passes over the kept windows (each capped at max_windows)
    batch_size: int = 64  # windows per step on each process
    lr: float = 0.001  # AdamW learning rate
    weight_decay: float = 0.01  # AdamW weight decay
    crop_min: int = 64  # shortest overlap of the two random crops, bars
    max_windows: int = 2000  # windows per epoch over all processes, a fresh seeded draw each epoch (0 = all)
    temporal_unit: int = 0  # first pooled scale that gets the temporal loss (0 = all)
    alpha: float = 0.5  # weight of the instance loss; the temporal loss gets 1 - alpha
    mask_probability: float = 0.5  # chance a timestamp is masked in a view
    bf16: bool = True  # bfloat16 autocast on GPU (CPU always trains in float32)
    log_every_steps: int = 0  # progress line every N steps inside an epoch (0 = one line per epoch)
    cnn_hidden: int = 64  # dilated_cnn only: channel width
    cnn_blocks: int = 11  # dilated_cnn only: residual blocks (dilation 2**i; the official network has 11)
    cnn_output_dim: int = 320  # dilated_cnn only: representation size

    def validate(self) -> None:
        key = f"{SECTION}."
        require(self.epochs >= 1, key + "epochs", f"must be >= 1, got {self.epochs}")
        require(
            self.batch_size >= 2, key + "batch_size", f"must be >= 2 (contrast needs negatives), got {self.batch_size}"
        )
        require(self.lr > 0, key + "lr", f"must be > 0, got {self.lr}")
        require(self.weight_decay >= 0, key + "weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(self.crop_min >= 2, key + "crop_min", f"must be >= 2 bars, got {self.crop_min}")
        require(self.max_windows >= 0, key + "max_windows", f"must be >= 0, got {self.max_windows}")
        require(self.temporal_unit >= 0, key + "temporal_unit", f"must be >= 0, got {self.temporal_unit}")
        require(0.0 <= self.alpha <= 1.0, key + "alpha", f"must be in [0, 1], got {self.alpha}")
        require(
            0.0 <= self.mask_probability < 1.0,
            key + "mask_probability",
            f"must be in [0, 1), got {self.mask_probability}",
        )
        require(self.log_every_steps >= 0, key + "log_every_steps", f"must be >= 0, got {self.log_every_steps}")
        for name in ("cnn_hidden", "cnn_blocks", "cnn_output_dim"):
            value = getattr(self, name)
            require(value >= 1, key + name, f"must be >= 1, got {value}")
