"""EnhancedSimpleLSTM, the main model: pretrained-ready BiLSTM over OHLC + MLP over 20 features, fused.

Size with the default params (encoder hidden 64 x 2 layers x 2 directions, feature_hidden 32,
fusion_hidden 32, 3 classes): 149,283 parameters, of which 135,168 are the encoder. The often
quoted "~16-17k" cannot hold for a two-layer bidirectional LSTM of useful width (hidden 128
alone would be 528,384 encoder parameters); the encoder is sized for what TS2Vec learns from the
large unlabeled corpus, and the supervised part trained from ~100 labels is the 14,115-parameter
feature MLP and head. `freeze_encoder_epochs` keeps a pretrained encoder fixed while that head
settles, so early noisy gradients do not wash out the pretrained weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from moola.models.base import MoolaModule, pool_bidirectional, resolve_encoder_config
from moola.models.encoders import BiLSTMEncoder, EncoderConfig
from moola.params import require

NUM_ENGINEERED_FEATURES = 20


@dataclass
class EnhancedSimpleLSTMConfig:
    """Params section `enhanced_simple_lstm:` (the encoder's size comes from `encoder:`)."""

    feature_hidden: int = 32  # MLP width for the 20 engineered features, 4..512
    fusion_hidden: int = 32  # hidden width of the fusion head, 4..512
    dropout: float = 0.2  # in the feature MLP and the fusion head, 0..0.9
    use_pretrained: bool = True  # load the TS2Vec encoder when it exists (read by the trainer)
    freeze_encoder_epochs: int = 5  # epochs a loaded encoder stays frozen, then fine-tuned; >= 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        section = "enhanced_simple_lstm"
        for key in ("feature_hidden", "fusion_hidden"):
            width = getattr(self, key)
            require(4 <= width <= 512, f"{section}.{key}", f"must be in 4..512, got {width}")
        require(0.0 <= self.dropout < 0.9, f"{section}.dropout", f"must be in [0, 0.9), got {self.dropout}")
        require(
            self.freeze_encoder_epochs >= 0,
            f"{section}.freeze_encoder_epochs",
            f"must be >= 0, got {self.freeze_encoder_epochs}",
        )


class EnhancedSimpleLSTM(MoolaModule):
    """OHLC -> BiLSTM encoder -> pooled summary; 20 features -> MLP; both -> fusion head -> logits."""

    def __init__(
        self,
        config: EnhancedSimpleLSTMConfig,
        encoder_config: EncoderConfig | dict | None = None,
        n_classes: int = 3,
        feats_dim: int = NUM_ENGINEERED_FEATURES,
    ):
        super().__init__()
        self.config = config
        self.encoder_config = resolve_encoder_config(encoder_config)
        self.n_classes = n_classes
        self.encoder = BiLSTMEncoder(self.encoder_config)
        pooled_dim = 3 * self.encoder.output_dim  # end states + mean + max, see pool_bidirectional
        self.feature_mlp = nn.Sequential(
            nn.Linear(feats_dim, config.feature_hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
        )
        self.head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(pooled_dim + config.feature_hidden, config.fusion_hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.fusion_hidden, n_classes),
        )

    def forward(self, ohlc: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        sequence = self.encoder(ohlc)  # (B, T, 4) -> (B, T, 2H)
        summary = pool_bidirectional(sequence, self.encoder_config.hidden)  # (B, 6H)
        engineered = self.feature_mlp(feats)  # (B, 20) -> (B, F)
        return self.head(torch.cat([summary, engineered], dim=1))  # (B, 6H + F) -> (B, n_classes)

    def apply_freeze_schedule(self, epoch: int) -> str:
        """A pretrained encoder stays frozen for `freeze_encoder_epochs` epochs; a random one never is."""
        super().apply_freeze_schedule(epoch)
        if self.encoder_is_pretrained and epoch < self.config.freeze_encoder_epochs:
            self.set_encoder_trainable(False)
            return "pretrained encoder frozen, features and head train"
        return "all trainable"
