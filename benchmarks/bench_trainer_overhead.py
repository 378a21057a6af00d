"""Benchmark: the Trainer's training loop against a bare PyTorch loop on the same model and batches.

Baseline: a bare loop written inline below, with exactly the work any loop must do: per epoch a
shuffled pass of AdamW steps over the train rows (forward, cross-entropy, backward, step) and
one no-grad pass over val. The measured loop is `moola.training.loop.train_torch_model`, which
adds what moola needs for proof and repeatability: per-epoch reseeding, per-step encoder/head
gradient norms, the history, early-stopping bookkeeping (best-state copies) and the progress
line. Both start from the same initial weights and see the same data; each case runs `--repeats`
times and the median is compared. Target: overhead <= 10%.

Model: enhanced_simple_lstm with the default encoder (BiLSTM 64 x 2) on T=256 windows, batch 32,
as in the default pipeline (about 100 train and 20 val windows).

Usage: python benchmarks/bench_trainer_overhead.py [--train 100] [--val 20] [--epochs 5] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
from torch import nn

from moola.models.registry import ModelRegistry
from moola.training.config import TrainConfig
from moola.training.loop import train_torch_model

LENGTH = 256


def make_data(n_rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Standardised random OHLC (n, T, 4), features (n, 20) and labels (n,)."""
    rng = np.random.default_rng(seed)
    ohlc = torch.from_numpy(rng.normal(size=(n_rows, LENGTH, 4)).astype(np.float32))
    feats = torch.from_numpy(rng.normal(size=(n_rows, 20)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 3, n_rows).astype(np.int64))
    return ohlc, feats, labels


def bare_loop(model: nn.Module, train, val, epochs: int, batch_size: int, lr: float, weight_decay: float) -> None:
    """The baseline: shuffled AdamW steps per epoch plus one val pass, nothing else."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    ohlc, feats, labels = train
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        for rows in torch.split(torch.randperm(labels.shape[0], generator=generator), batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(ohlc[rows], feats[rows]), labels[rows])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            nn.functional.cross_entropy(model(val[0], val[1]), val[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100)
    parser.add_argument("--val", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train, val = make_data(args.train, seed=0), make_data(args.val, seed=1)
    template = ModelRegistry.create("enhanced_simple_lstm", None, seed=0)
    config = TrainConfig(epochs=args.epochs, batch_size=32, patience=args.epochs + 1)
    timings: dict[str, list[float]] = {"bare PyTorch loop (baseline)": [], "moola train_torch_model": []}
    for _ in range(args.repeats):
        for label in timings:  # interleaved, so drift in machine load hits both alike
            model = copy.deepcopy(template)
            start = time.perf_counter()
            if label.startswith("bare"):
                bare_loop(model, train, val, args.epochs, config.batch_size, config.lr, config.weight_decay)
            else:
                train_torch_model(model, train, val, config, args.epochs, log=lambda line: None)
            timings[label].append(time.perf_counter() - start)

    baseline = statistics.median(timings["bare PyTorch loop (baseline)"])
    print(
        f"enhanced_simple_lstm, {args.train} train / {args.val} val windows, T={LENGTH}, batch 32, "
        f"{args.epochs} epochs, {args.threads} threads, median of {args.repeats}"
    )
    for label, values in timings.items():
        median = statistics.median(values)
        print(f"  {label:<32} {median:7.3f} s  ({median / args.epochs:.3f} s/epoch)  ratio {median / baseline:.3f}")
    overhead = statistics.median(timings["moola train_torch_model"]) / baseline - 1
    print(f"  overhead of the moola loop: {overhead:+.1%} (target <= +10%)")


if __name__ == "__main__":
    main()
