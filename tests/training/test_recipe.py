"""The training recipe's options: class weights, the lr schedule, the early-stopping floor, the bar changes the
LSTMs read."""

from __future__ import annotations

import math

import pytest
import torch

from moola.errors import MoolaError
from moola.models.encoders import with_steps
from moola.params import from_mapping
from moola.training import loop
from moola.training.config import TrainConfig, TrainParams


def test_balanced_weights_make_every_present_class_weigh_the_same_in_total():
    y = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2])  # 6 / 2 / 1 of 4 classes; class 3 absent
    weights = loop.class_weights(y, 4, "balanced")
    totals = torch.bincount(y, minlength=4).float() * weights
    assert torch.allclose(totals[:3], torch.full((3,), 9 / 4)) and weights[3] == 0
    assert loop.class_weights(y, 4, "none") is None


def test_weighted_val_loss_is_the_weighted_mean_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(7, 3), torch.tensor([0, 0, 0, 0, 1, 2, 2])
    weight = loop.class_weights(y, 3, "balanced")

    class Fixed(torch.nn.Module):
        def forward(self, ohlc, feats):
            return logits

    loss, accuracy = loop.evaluate_loss(Fixed(), torch.zeros(7, 2, 4), torch.zeros(7, 20), y, weight=weight)
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y, weight=weight)), rel=1e-6)
    assert accuracy == pytest.approx(float((logits.argmax(1) == y).float().mean()))


def test_cosine_schedule_starts_at_lr_and_falls_towards_zero():
    config = TrainConfig(lr=0.01, lr_schedule="cosine")
    rates = [loop.epoch_lr(config, epoch, 10) for epoch in range(1, 11)]
    assert rates[0] == pytest.approx(0.01) and rates[5] == pytest.approx(0.005)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False)) and rates[-1] == pytest.approx(
        0.01 * (1 + math.cos(0.9 * math.pi)) / 2
    )
    assert loop.epoch_lr(TrainConfig(lr=0.01), 7, 10) == 0.01


def test_no_epoch_below_the_floor_is_kept_and_patience_starts_at_it(monkeypatch):
    losses = iter([0.1, 0.2, 0.9, 0.8, 0.85, 0.86, 0.87, 0.88])  # the lowest losses come before the floor
    monkeypatch.setattr(loop, "evaluate_loss", lambda *args, **kwargs: (next(losses), 0.5))
    model = torch.nn.Linear(4, 3)
    model.n_classes = 3
    model.forward = lambda ohlc, feats: torch.nn.Linear.forward(model, ohlc.mean(dim=1))
    data = (torch.randn(8, 5, 4), torch.zeros(8, 20), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    config = TrainConfig(epochs=8, batch_size=4, patience=2, min_epochs=3)
    outcome = loop.train_torch_model(model, data, data, config, 8, log=lambda line: None)
    assert outcome.best_epoch == 4 and outcome.best_val_loss == 0.8
    assert outcome.stopped_early and outcome.epochs_run == 6


@pytest.mark.parametrize(
    "section, key",
    [
        ({"class_weight": "inverse"}, "train.class_weight"),
        ({"lr_schedule": "step"}, "train.lr_schedule"),
        ({"min_epochs": 61}, "train.min_epochs"),
    ],
)
def test_bad_recipe_values_are_refused_with_the_key(section, key):
    with pytest.raises(MoolaError, match=key.replace(".", r"\.")):
        from_mapping(TrainParams, section, "train").validate()


def test_the_lstms_read_each_bar_and_its_change():
    x = torch.tensor([[[1.0, 2.0], [4.0, 3.0], [2.0, 3.5]]])  # (1, T=3, C=2)
    steps = with_steps(x)
    assert steps.shape == (1, 3, 4)
    changes = torch.tensor([[0.0, 0.0], [3.0, 1.0], [-2.0, 0.5]])
    assert torch.equal(steps[..., :2], x)
    assert torch.allclose(steps[0, :, 2:], changes / (changes.std(dim=0) + 1e-6))  # unit scale per window and channel
    flat = with_steps(torch.ones(2, 5, 4))  # no change at all: zeros, not NaN
    assert torch.equal(flat[..., 4:], torch.zeros(2, 5, 4))
