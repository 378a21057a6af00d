"""The training loop proper: epochs, early stopping, freeze schedule, resumable state, prediction.

Determinism: every random draw of epoch e (batch order, dropout) is re-seeded from
(seed, e) when the epoch starts, so a run resumed at an epoch boundary continues exactly as an
uninterrupted one would, without carrying generator snapshots; on CPU two runs with the same
inputs give bitwise-equal weights. The loop writes nothing itself: it hands each epoch's
resumable state to a `save_state` callback (the caller writes it through `moola.io`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from moola.errors import MoolaError
from moola.training.config import TrainConfig

STATE_FORMAT = "moola.train-state/1"
ENCODER_PREFIX = "encoder."
# Dropout and shuffling of epoch e draw from seed * _SEED_STRIDE + e: distinct, reproducible streams.
_SEED_STRIDE = 1_000_003
_PREDICT_BATCH = 512


@dataclass
class EpochRecord:
    """One line of the training history."""

    epoch: int  # 1-based
    train_loss: float  # mean cross-entropy over the epoch's train batches (train mode)
    val_loss: float  # cross-entropy on val (eval mode)
    val_acc: float
    grad_norm_encoder: float | None  # mean per-step L2 norm of the encoder's gradients (None: no encoder)
    grad_norm_head: float  # the same for every other parameter
    phase: str  # the freeze-schedule phase that was active

    def line(self, total_epochs: int) -> str:
        """One line, e.g. `epoch 12/60 | train_loss 0.9812 | val_loss 1.0234 | val_acc 0.450 |
        grad_norm enc 0.123 head 0.456 | phase ...`."""
        encoder = "-" if self.grad_norm_encoder is None else f"{self.grad_norm_encoder:.3f}"
        return (
            f"epoch {self.epoch}/{total_epochs} | train_loss {self.train_loss:.4f} | val_loss {self.val_loss:.4f} | "
            f"val_acc {self.val_acc:.3f} | grad_norm enc {encoder} head {self.grad_norm_head:.3f} | phase "
            f"{self.phase.removeprefix('phase ')}"
        )


@dataclass
class LoopOutcome:
    """What the loop returns: the history and the early-stopping verdict (weights are in the model)."""

    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    epochs_run: int = 0
    stopped_early: bool = False
    resumed_from_epoch: int = 0  # 0 = started fresh (printed, never stored: a resumed run equals a fresh one)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch` (1-based) of a run seeded with `seed`."""
    return (seed * _SEED_STRIDE + epoch) % (2**63 - 1)


def seed_everything(seed: int) -> None:
    """Seed torch and numpy's global generators (call before building a model for a repeatable init)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def is_torch_model(model: Any) -> bool:
    """True for a MoolaModule (trained by epochs); False for an estimator such as MiniRocket."""
    return isinstance(model, nn.Module)


def _batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    batches = list(torch.split(order, batch_size))
    # A last batch of one row breaks batch statistics and gives a noisy step: fold it into the one before.
    if len(batches) > 1 and batches[-1].numel() == 1:
        batches[-2] = torch.cat([batches[-2], batches.pop()])
    return batches


def _parameter_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    encoder, head = [], []
    for name, parameter in model.named_parameters():
        (encoder if name.startswith(ENCODER_PREFIX) else head).append(parameter)
    return encoder, head


def _grad_norm(parameters: list[nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads).detach()


def class_weights(y: torch.Tensor, n_classes: int, kind: str) -> torch.Tensor | None:
    """Cross-entropy weights (K,): "balanced" = n / (K * count) per class present in `y`, 0 for absent ones;
    "none" = None."""
    if kind == "none":
        return None
    counts = torch.bincount(y, minlength=n_classes).double()
    weights = torch.where(counts > 0, y.numel() / (n_classes * counts.clamp(min=1)), torch.zeros_like(counts))
    return weights.float().to(y.device)


def epoch_lr(config: TrainConfig, epoch: int, epochs: int) -> float:
    """The learning rate of epoch `epoch` (1-based) of `epochs`: constant, or cosine from lr towards 0."""
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))
    return config.lr


def evaluate_loss(
    model: nn.Module, ohlc: torch.Tensor, feats: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of a torch model in eval mode on prepared tensors.

    With `weight` (K,), the loss is the weighted mean, as `nn.functional.cross_entropy` takes it.
    """
    model.eval()
    total_loss, total_weight, correct = 0.0, 0.0, 0
    with torch.no_grad():
        for start in range(0, y.shape[0], _PREDICT_BATCH):
            stop = start + _PREDICT_BATCH
            logits = model(ohlc[start:stop], feats[start:stop])  # (b, T, 4), (b, 20) -> (b, K)
            labels = y[start:stop]
            total_loss += float(nn.functional.cross_entropy(logits, labels, weight=weight, reduction="sum"))
            total_weight += float(weight[labels].sum()) if weight is not None else labels.numel()
            correct += int((logits.argmax(dim=1) == labels).sum())
    if total_weight == 0:  # no rows, or only classes that carry no weight
        return 0.0, correct / max(int(y.shape[0]), 1)
    return total_loss / total_weight, correct / int(y.shape[0])


def train_torch_model(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    config: TrainConfig,
    epochs: int,
    *,
    resume_state: dict | None = None,
    save_state: Callable[[dict], None] | None = None,
    log: Callable[[str], None] = print,
) -> LoopOutcome:
    """Train with AdamW and early stopping on val loss; leave the best epoch's weights in `model`.

    Args:
        model: a MoolaModule on the target device (pretrained weights already loaded).
        train: (ohlc (n, T, 4), feats (n, 20), y (n,)) standardised tensors on the device.
        val: the same for val.
        config: the hyperparameters (seed, batch size, lr, weight decay, patience).
        epochs: the maximum number of epochs.
        resume_state: a state from an earlier, interrupted run of the same inputs, or None.
        save_state: called with the resumable state after every epoch.
        log: receives one progress line per epoch.

    Returns:
        The LoopOutcome.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    encoder_params, head_params = _parameter_groups(model)
    outcome = LoopOutcome()
    best_state = copy.deepcopy(model.state_dict())
    bad_epochs = 0
    first_epoch = 1
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        best_state = resume_state["best_state"]
        bad_epochs = int(resume_state["bad_epochs"])
        outcome.history = [EpochRecord(**record) for record in resume_state["history"]]
        outcome.best_epoch = int(resume_state["best_epoch"])
        outcome.best_val_loss = float(resume_state["best_val_loss"])
        outcome.resumed_from_epoch = int(resume_state["epoch"])
        first_epoch = outcome.resumed_from_epoch + 1
        if resume_state.get("stopped_early"):
            first_epoch = epochs + 1  # it had already stopped; only the final steps remain
            outcome.stopped_early = True
        if outcome.resumed_from_epoch > 0 and hasattr(model, "apply_freeze_schedule"):
            # Put the model back in the freeze phase of the last finished epoch, as an
            # uninterrupted run would leave it, even when no epoch remains to be run.
            model.apply_freeze_schedule(outcome.resumed_from_epoch - 1)
    train_ohlc, train_feats, train_y = train
    n_train = int(train_y.shape[0])
    weight = class_weights(train_y, int(getattr(model, "n_classes", int(train_y.max()) + 1)), config.class_weight)
    for epoch in range(first_epoch, epochs + 1):
        phase = model.apply_freeze_schedule(epoch - 1) if hasattr(model, "apply_freeze_schedule") else "all trainable"
        for group in optimizer.param_groups:
            group["lr"] = epoch_lr(config, epoch, epochs)
        seed = epoch_seed(config.seed, epoch)
        torch.manual_seed(seed)  # dropout of this epoch
        order = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed)).to(train_y.device)
        model.train()
        loss_sum = torch.zeros((), device=train_y.device)
        encoder_norm_sum = torch.zeros(())
        head_norm_sum = torch.zeros(())
        batches = _batches(order, config.batch_size)
        for rows in batches:
            optimizer.zero_grad(set_to_none=True)
            logits = model(train_ohlc[rows], train_feats[rows])  # (b, T, 4), (b, 20) -> (b, K)
            loss = nn.functional.cross_entropy(logits, train_y[rows], weight=weight)
            loss.backward()
            encoder_norm_sum += _grad_norm(encoder_params).cpu()
            head_norm_sum += _grad_norm(head_params).cpu()
            optimizer.step()
            loss_sum += loss.detach() * rows.numel()
        val_loss, val_acc = evaluate_loss(model, *val, weight=weight)
        if not math.isfinite(val_loss):
            raise MoolaError(f"val loss is {val_loss} at epoch {epoch}: training diverged; lower train.lr")
        record = EpochRecord(
            epoch=epoch,
            train_loss=float(loss_sum) / n_train,
            val_loss=val_loss,
            val_acc=val_acc,
            grad_norm_encoder=float(encoder_norm_sum) / len(batches) if encoder_params else None,
            grad_norm_head=float(head_norm_sum) / len(batches),
            phase=phase,
        )
        outcome.history.append(record)
        if epoch < config.min_epochs:
            pass  # below the floor: neither a best epoch nor one that counts towards patience
        elif val_loss < outcome.best_val_loss:
            outcome.best_val_loss, outcome.best_epoch, bad_epochs = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        outcome.stopped_early = bad_epochs >= config.patience and epoch < epochs
        if save_state is not None:
            save_state(
                {
                    "format": STATE_FORMAT,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "best_state": best_state,
                    "bad_epochs": bad_epochs,
                    "best_epoch": outcome.best_epoch,
                    "best_val_loss": outcome.best_val_loss,
                    "stopped_early": outcome.stopped_early,
                    "history": [asdict(r) for r in outcome.history],
                }
            )
        log(record.line(epochs))
        if outcome.stopped_early:
            log(f"early stop: val loss has not improved for {config.patience} epochs (best epoch {outcome.best_epoch})")
            break
    outcome.epochs_run = len(outcome.history)
    model.load_state_dict(best_state)
    model.eval()
    return outcome


def fit_estimator(
    model: Any,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    log: Callable[[str], None] = print,
) -> LoopOutcome:
    """Fit an estimator (MiniRocket) once on the train rows; the history has a single row.

    Args:
        model: has fit(X (n, T, C), y) and predict_proba(X) -> (n, K).
        train, val: (ohlc, feats, y) standardised numpy arrays; the estimator sees ohlc only.
        log: receives the progress line.
    """
    ohlc, _feats, y = train
    model.fit(ohlc, y)
    train_loss = log_loss(y, model.predict_proba(ohlc))
    val_proba = model.predict_proba(val[0])
    record = EpochRecord(
        epoch=1,
        train_loss=train_loss,
        val_loss=log_loss(val[2], val_proba),
        val_acc=float(np.mean(val_proba.argmax(axis=1) == val[2])),
        grad_norm_encoder=None,
        grad_norm_head=0.0,
        phase="fit (no epochs)",
    )
    log(record.line(1))
    return LoopOutcome(history=[record], best_epoch=1, best_val_loss=record.val_loss, epochs_run=1)


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean cross-entropy of probabilities (clipped away from 0 so a confident miss stays finite)."""
    picked = np.clip(np.asarray(proba, dtype=np.float64)[np.arange(len(y)), np.asarray(y)], 1e-12, 1.0)
    return float(-np.mean(np.log(picked))) if len(y) else 0.0


def predict_proba(model: Any, ohlc: np.ndarray, feats: np.ndarray, device: Any = "cpu") -> np.ndarray:
    """Class probabilities for standardised windows: (n, T, 4), (n, 20) -> (n, K) float64, rows sum to 1."""
    if not is_torch_model(model):
        return np.asarray(model.predict_proba(np.asarray(ohlc, dtype=np.float32)), dtype=np.float64)
    model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(ohlc), _PREDICT_BATCH):
            batch_ohlc = torch.as_tensor(ohlc[start : start + _PREDICT_BATCH], device=device)
            batch_feats = torch.as_tensor(feats[start : start + _PREDICT_BATCH], device=device)
            logits = model(batch_ohlc, batch_feats)  # (b, T, 4), (b, 20) -> (b, K)
            chunks.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
    if not chunks:
        return np.zeros((0, 0))
    return np.concatenate(chunks)
