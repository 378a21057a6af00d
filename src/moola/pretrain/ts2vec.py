"""TS2Vec self-supervised training of an OHLC encoder (Yue et al., AAAI 2022).

Each step cuts two overlapping crops from every window, masks random timestamps of each view,
encodes both views and applies the hierarchical contrastive loss on the overlap. Works on any
float array (N, T, C), in memory or memory-mapped:

    model = TS2Vec(input_dims=C, encoder="dilated_cnn", seed=0)
    model.fit(X_train)                       # the paper's budget: 200 steps (600 on large data)
    features = model.encode(X_test)          # (N, D) max-pooled over time

As in the official implementation, an equal-weight running average of the encoder's weights
(`torch.optim.swa_utils.AveragedModel`, the initial weights included, updated after every
step) is what encodes and what `encoder_state_dict()` returns; the raw weights only train.
NaN timestamps (padding of variable-length series) are treated as masked, as the paper does.
`fit_svm_protocol` is the paper's classification protocol on top of `encode`.

Under `torchrun` pass a joined `DistributedContext`: the encoder is wrapped in
DistributedDataParallel and every process trains on its own shard of each epoch.

All randomness of an epoch (order, crops, masks, dropout) is re-derived from (seed, epoch, rank)
when the epoch starts, so a run resumed at an epoch boundary from `training_state()` continues
exactly as an uninterrupted one would, without carrying random-generator snapshots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from moola.models.encoders import DilatedCNNEncoder, EncoderConfig, build_encoder
from moola.pretrain.augment import sample_overlapping_crops, sample_timestamp_keep_mask
from moola.pretrain.distributed import DistributedContext
from moola.pretrain.losses import hierarchical_contrastive_loss
from moola.pretrain.windows import WindowBatches, epoch_rows

# The paper's default budget when neither epochs nor iterations are given: 200 steps for a
# training set of at most 100,000 values (N * T * C, as the official code counts), else 600.
DEFAULT_ITERS_SMALL = 200
DEFAULT_ITERS_LARGE = 600
LARGE_DATASET_VALUES = 100_000
# The official encoder (depth 10) has ten hidden residual blocks plus one that maps to the
# output width, so moola's `layers` (every block counted) is 11 for the same network.
PAPER_DILATED_BLOCKS = 11


def default_iterations(n_windows: int, length: int, channels: int) -> int:
    """The paper's step budget for a training set of (N, T, C) values."""
    return DEFAULT_ITERS_LARGE if n_windows * length * channels > LARGE_DATASET_VALUES else DEFAULT_ITERS_SMALL


def observed_timestamps(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L, C) with NaN padding -> the input with NaN set to 0 (B, L, C), observed (B, L) float."""
    missing = torch.isnan(x).any(dim=-1)  # (B, L): a timestamp with any NaN channel is missing
    return torch.nan_to_num(x, nan=0.0), (~missing).float()


class TwoViewMaskedEncoder(nn.Module):
    """Encodes both masked views in one forward call, so DistributedDataParallel sees one pass.

    Timestamp masking follows the paper where the encoder has an input projection (dilated CNN:
    the projected vectors are zeroed). The BiLSTM has no projection of its own, and its keys
    must stay the classifiers' keys, so its masked bars are zeroed at the input instead; inputs
    are standardised, so zero is the channel mean.
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def encode_masked(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """(B, L, C), keep (B, L) in {0, 1} -> (B, L, D); NaN timestamps count as masked."""
        return encode_with_keep(self.encoder, x, keep)

    def forward(
        self, view1: torch.Tensor, keep1: torch.Tensor, view2: torch.Tensor, keep2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_masked(view1, keep1), self.encode_masked(view2, keep2)


def encode_with_keep(encoder: nn.Module, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Per-timestamp representations with masked (keep 0) and NaN timestamps zeroed.

    Args:
        encoder: a moola encoder (dilated CNN: zeroed after its input projection, as the paper;
            BiLSTM: zeroed at the input).
        x: (B, L, C) inputs, NaN where a timestamp is missing.
        keep: (B, L) in {0, 1}; None keeps every observed timestamp.

    Returns:
        (B, L, D) representations.
    """
    x, observed = observed_timestamps(x)
    keep = observed if keep is None else keep * observed
    if isinstance(encoder, DilatedCNNEncoder):
        projected = encoder.input_fc(x) * keep.unsqueeze(-1)  # (B, L, C) -> (B, L, H)
        hidden = encoder.blocks(projected.transpose(1, 2))  # (B, H, L) -> (B, D, L)
        return encoder.dropout(hidden.transpose(1, 2))  # (B, L, D)
    return encoder(x * keep.unsqueeze(-1))


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A 63-bit seed for one (seed, epoch, rank); SeedSequence mixes the three well."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class TS2Vec:
    """TS2Vec trainer around a moola encoder (`bilstm` or the paper's `dilated_cnn`).

    Hyperparameters are set here only; fitted state ends in `_`.
    """

    def __init__(
        self,
        input_dims: int,
        encoder: str | EncoderConfig = "bilstm",
        *,
        hidden: int = 64,
        layers: int | None = None,
        output_dims: int = 320,
        dropout: float = 0.1,
        batch_size: int = 16,
        lr: float = 0.001,
        weight_decay: float = 0.01,
        min_overlap: int | None = None,
        temporal_unit: int = 0,
        alpha: float = 0.5,
        mask_probability: float = 0.5,
        drop_last: bool = True,
        device: str | torch.device = "cpu",
        bf16: bool = True,
        seed: int = 0,
        distributed: DistributedContext | None = None,
    ):
        """
        Args:
            input_dims: channels per timestamp (C).
            encoder: "bilstm", "dilated_cnn", or a full EncoderConfig (then hidden, layers,
                output_dims and dropout are ignored).
            hidden: LSTM hidden size per direction / CNN channel width.
            layers: LSTM layers / dilated blocks; None = 2 for bilstm, 11 for dilated_cnn (the
                official depth 10: ten hidden blocks and the output block).
            output_dims: representation size of dilated_cnn (paper: 320); bilstm gives 2 * hidden.
            dropout: encoder dropout.
            batch_size: windows per step on each process.
            lr: AdamW learning rate (paper: 0.001).
            weight_decay: AdamW weight decay.
            min_overlap: shortest overlap of the two crops; None = 2 ** (temporal_unit + 1), the
                least that leaves two timestamps at the first temporally contrasted scale.
            temporal_unit: first scale of the pyramid that gets the temporal loss.
            alpha: instance-loss weight (temporal gets 1 - alpha).
            mask_probability: chance that a timestamp of a view is masked (paper: 0.5).
            drop_last: skip an epoch's last, incomplete batch (the official loader does); a
                batch is never larger than the epoch, so a small epoch still takes one step.
            device: where to train; bf16 autocast is used on CUDA when `bf16` is true.
            bf16: use bfloat16 autocast on CUDA (ignored on CPU, which trains in float32).
            seed: fixes initial weights and every random draw of training.
            distributed: a joined context under torchrun, else None (one process).
        """
        if isinstance(encoder, EncoderConfig):
            config = EncoderConfig(**encoder.to_dict())
            config.input_dim = input_dims
        else:
            default_layers = PAPER_DILATED_BLOCKS if encoder == "dilated_cnn" else 2
            config = EncoderConfig(
                kind=encoder,
                input_dim=input_dims,
                hidden=hidden,
                layers=default_layers if layers is None else layers,
                dropout=dropout,
                output_dim=output_dims,
            )
        self.config = config
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.min_overlap = 2 ** (temporal_unit + 1) if min_overlap is None else min_overlap
        self.temporal_unit = temporal_unit
        self.alpha = alpha
        self.mask_probability = mask_probability
        self.drop_last = drop_last
        self.seed = seed
        self.distributed = distributed or DistributedContext()
        self.device = self.distributed.device(torch.device(device))
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.use_bf16 = bool(bf16 and self.device.type == "cuda")

        # Initial weights depend on the seed only, and the caller's global RNG is left alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder_ = build_encoder(config).to(self.device)
        # The average starts from the initial weights and takes every step's weights after it.
        self.averaged_encoder_ = AveragedModel(self.encoder_)
        self.averaged_encoder_.update_parameters(self.encoder_)
        self._train_module: nn.Module = TwoViewMaskedEncoder(self.encoder_)
        if self.distributed.is_distributed:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self._train_module = DistributedDataParallel(self._train_module, device_ids=device_ids)
        self.optimizer_ = torch.optim.AdamW(self.encoder_.parameters(), lr=lr, weight_decay=weight_decay)
        self.loss_history_: list[float] = []
        self.epochs_done_ = 0
        self.steps_done_ = 0  # on each process
        self.windows_seen_ = 0  # over all processes

    @property
    def output_dims(self) -> int:
        """Size D of a representation."""
        return int(self.encoder_.output_dim)

    def _autocast(self):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.use_bf16)

    def _train_step(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One optimisation step on a batch (B, T, C); returns the detached loss."""
        batch, length, _ = x.shape
        if length < 2 ** (self.temporal_unit + 1):
            raise ValueError(f"windows of {length} timestamps are too short for temporal_unit {self.temporal_unit}")
        crops = sample_overlapping_crops(batch, length, min(self.min_overlap, length), generator)
        view1, view2 = crops.cut(x)  # (B, L1, C), (B, L2, C)
        keep1 = sample_timestamp_keep_mask(batch, view1.size(1), self.mask_probability, generator)
        keep2 = sample_timestamp_keep_mask(batch, view2.size(1), self.mask_probability, generator)
        with self._autocast():
            z1, z2 = self._train_module(view1, keep1.to(self.device), view2, keep2.to(self.device))
        z1, z2 = crops.overlap_of(z1.float(), z2.float())  # 2 x (B, overlap, D)
        loss = hierarchical_contrastive_loss(z1, z2, alpha=self.alpha, temporal_unit=self.temporal_unit)
        self.optimizer_.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_.step()
        self.averaged_encoder_.update_parameters(self.encoder_)
        return loss.detach()

    def train_epoch(
        self,
        batches: WindowBatches,
        rows: np.ndarray | None = None,
        max_windows: int = 0,
        max_steps: int | None = None,
        log_every: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> float:
        """Train one epoch (number `epochs_done_`) and append its mean loss to `loss_history_`.

        Args:
            batches: where windows are gathered from (standardised if it holds a scaler).
            rows: the candidate rows (default: all); the epoch visits a seeded permutation of them.
            max_windows: cap on windows this epoch over all processes (0 = all).
            max_steps: stop the epoch after this many steps (None = full pass).
            log_every: call `log` with the running loss every this many steps (0 = never).
            log: where progress lines go (only used on the main process).

        Returns:
            Mean loss of the epoch's steps, averaged over all processes.
        """
        epoch = self.epochs_done_
        if rows is None:
            rows = np.arange(len(batches))
        visiting = self.distributed.shard(epoch_rows(rows, self.seed, epoch, max_windows))
        batch_size = min(self.batch_size, len(visiting))
        last_start = len(visiting) - batch_size if self.drop_last else len(visiting) - 1
        starts = list(range(0, last_start + 1, batch_size)) if len(visiting) else []
        if max_steps is not None:
            starts = starts[:max_steps]
        if not starts:
            raise ValueError("an epoch needs at least one window on every process")
        seed = _epoch_seed(self.seed, epoch, self.distributed.rank)
        generator = torch.Generator().manual_seed(seed)
        loss_sum = torch.zeros((), device=self.device)
        self._train_module.train()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # dropout draws, without touching the caller's RNG
            torch.manual_seed(seed)
            for step, start in enumerate(starts, start=1):
                x = torch.from_numpy(batches.gather(visiting[start : start + batch_size])).to(self.device)
                loss_sum += self._train_step(x, generator)
                if log_every and log is not None and step % log_every == 0 and self.distributed.is_main:
                    log(f"  step {step}/{len(starts)}  loss {loss_sum.item() / step:.4f}")
        windows = min(len(visiting), len(starts) * batch_size)
        local = torch.stack([loss_sum.float().cpu(), torch.tensor(float(len(starts))), torch.tensor(float(windows))])
        loss_total, step_total, window_total = self.distributed.sum(local).tolist()
        mean_loss = loss_total / step_total
        self.loss_history_.append(mean_loss)
        self.epochs_done_ += 1
        self.steps_done_ += len(starts)
        self.windows_seen_ += int(window_total)
        return mean_loss

    def fit(
        self, X: Any, n_epochs: int | None = None, n_iters: int | None = None, verbose: bool = False
    ) -> list[float]:
        """Train on windows X (N, T, C), as in the paper's protocol.

        Args:
            X: float array (N, T, C) (memory-mapped is fine) or a `WindowBatches`.
            n_epochs: passes over X in this call.
            n_iters: optimisation steps in this call. When both are None, the paper's budget:
                200 steps, or 600 when X holds more than 100,000 values (N * T * C). When both
                are given, whichever ends first.
            verbose: print one line per epoch.

        Returns:
            Mean loss of every epoch trained so far (this call's epochs at the end).
        """
        batches = X if isinstance(X, WindowBatches) else WindowBatches(X)
        if n_epochs is None and n_iters is None:
            n_iters = default_iterations(len(batches), batches.length, batches.channels)
        epochs_run = 0
        steps_at_start = self.steps_done_
        while n_epochs is None or epochs_run < n_epochs:
            remaining = None if n_iters is None else n_iters - (self.steps_done_ - steps_at_start)
            if remaining is not None and remaining <= 0:
                break
            loss = self.train_epoch(batches, max_steps=remaining)
            epochs_run += 1
            if verbose and self.distributed.is_main:
                print(f"epoch {self.epochs_done_}  loss {loss:.4f}", flush=True)
        return list(self.loss_history_)

    @property
    def averaged_steps(self) -> int:
        """Weight sets in the running average: the initial weights plus one per step taken."""
        return int(self.averaged_encoder_.n_averaged.item())

    def encoding_module(self, averaged: bool = True) -> nn.Module:
        """The bare encoder that encodes: the weight average (default, as the paper) or the raw weights."""
        return self.averaged_encoder_.module if averaged else self.encoder_

    @torch.no_grad()
    def encode_timestamps(self, X: Any, batch_size: int = 256, averaged: bool = True) -> np.ndarray:
        """Per-timestamp representations of whole windows, NaN timestamps treated as masked.

        Args:
            X: float array (N, T, C) or a `WindowBatches` (its scaler is applied).
            batch_size: windows per forward pass.
            averaged: encode with the weight average (the paper) or the raw weights.

        Returns:
            float32 array (N, T, D).
        """
        return self._encode(X, batch_size, averaged, pool=False)

    @torch.no_grad()
    def encode(self, X: Any, batch_size: int = 256, averaged: bool = True) -> np.ndarray:
        """Instance representations: the encoder over whole windows, max-pooled over time.

        Args:
            X: float array (N, T, C) or a `WindowBatches` (its scaler is applied).
            batch_size: windows per forward pass.
            averaged: encode with the weight average (the paper) or the raw weights.

        Returns:
            float32 array (N, D).
        """
        return self._encode(X, batch_size, averaged, pool=True)

    def _encode(self, X: Any, batch_size: int, averaged: bool, pool: bool) -> np.ndarray:
        batches = X if isinstance(X, WindowBatches) else WindowBatches(X)
        module = self.encoding_module(averaged)
        was_training = module.training
        module.eval()
        parts = []
        for start in range(0, len(batches), batch_size):
            rows = np.arange(start, min(start + batch_size, len(batches)))
            x = torch.from_numpy(batches.gather(rows)).to(self.device)
            with self._autocast():
                z = encode_with_keep(module, x).float()  # (B, T, C) -> (B, T, D)
            parts.append((z.amax(dim=1) if pool else z).cpu())  # (B, D) max over time, or (B, T, D)
        module.train(was_training)
        if not parts:
            shape = (0, self.output_dims) if pool else (0, batches.length, self.output_dims)
            return np.zeros(shape, dtype=np.float32)
        return torch.cat(parts).numpy()

    def encoder_state_dict(self, averaged: bool = True) -> dict[str, torch.Tensor]:
        """The bare encoder's tensors on CPU, under the encoder's own keys (`lstm.weight_ih_l0`, ...).

        Args:
            averaged: the weight average (default: the encoder the paper evaluates, and the one
                to save as the pretrained encoder) or the raw weights of the last step.
        """
        module = self.encoding_module(averaged)
        return {name: tensor.detach().cpu().clone() for name, tensor in module.state_dict().items()}

    def training_state(self) -> dict[str, Any]:
        """Everything needed to continue training exactly where it stopped (weights-only loadable)."""
        return {
            "encoder": self.encoder_state_dict(averaged=False),
            "averaged_encoder": self.encoder_state_dict(averaged=True),
            "averaged_steps": self.averaged_steps,
            "optimizer": self.optimizer_.state_dict(),
            "epochs_done": self.epochs_done_,
            "steps_done": self.steps_done_,
            "windows_seen": self.windows_seen_,
            "loss_history": list(self.loss_history_),
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore a `training_state()`; the next `train_epoch` continues with the next epoch."""
        if "averaged_encoder" not in state:
            raise ValueError("this training state has no averaged encoder (it predates it): start the run afresh")
        self.encoder_.load_state_dict(state["encoder"], strict=True)
        self.averaged_encoder_.module.load_state_dict(state["averaged_encoder"], strict=True)
        self.averaged_encoder_.n_averaged.fill_(int(state["averaged_steps"]))
        self.optimizer_.load_state_dict(state["optimizer"])
        self.epochs_done_ = int(state["epochs_done"])
        self.steps_done_ = int(state["steps_done"])
        self.windows_seen_ = int(state["windows_seen"])
        self.loss_history_ = [float(v) for v in state["loss_history"]]


# The paper's grid for the SVM's C (its classification protocol), infinity (a hard margin) included.
SVM_C_GRID = (0.0001, 0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000, np.inf)


def fit_svm_protocol(features: np.ndarray, labels: np.ndarray, folds: int = 5) -> Any:
    """The paper's classifier on instance representations: an RBF SVC, C chosen by grid search.

    C is picked by `folds`-fold stratified cross-validation over `SVM_C_GRID` (gamma "scale");
    when the training set is too small for that (fewer than 5 windows per class on average, or
    fewer than 50 windows) C is infinite, as in the official code.

    Args:
        features: (N, D) instance representations of the training windows.
        labels: (N,) class labels.
        folds: cross-validation folds of the grid search.

    Returns:
        The fitted scikit-learn SVC.
    """
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    n_classes = np.unique(labels).size
    svm = SVC(C=np.inf, kernel="rbf", gamma="scale")
    if len(labels) // n_classes < 5 or len(labels) < 50:
        return svm.fit(features, labels)
    search = GridSearchCV(svm, {"C": list(SVM_C_GRID)}, cv=folds, n_jobs=1)
    return search.fit(features, labels).best_estimator_
