"""Benchmark: TS2Vec's training step against a plain one of the paper, and seconds per epoch.

Part 1, per-step parity: on GunPoint-sized data (50 univariate series of 150 steps, batch 8,
the paper's dilated CNN, 1 thread by default) moola's `TS2Vec` step is timed against a plain
reimplementation of the paper's step written here (numpy-drawn crops, two forward passes,
the hierarchical loss as cross-entropy, AdamW, the weight-average update) on the same network
and, with `--official DIR` (a checkout of the official code, never part of this repository),
against the official trainer. The cases alternate over `--rounds` rounds of `--steps` steps
each; the figure is the median seconds per step over rounds, and the ratio is moola's median
over the other's, all measured in this one run.

Part 2, epoch time (skipped with `--parity-only`):

Synthetic random-walk OHLC windows (each divided by its first close, as in X_ohlc.npy) are
standardised per channel and trained with the stage's defaults (batch 64, crops from 64 bars).
A full epoch is long on CPU, so each case runs `--iters` timed steps after `--warmup` untimed
ones and the epoch time is extrapolated: wall seconds per step x ceil(windows / batch). The
figures say so in their label. Process CPU time per step is printed beside the wall time: on a
shared machine it moves less with the load than the wall time does.

Baseline: the bilstm encoder on CPU (the stage's default); every other case prints its ratio to
it. Cases: bilstm (encoder: section defaults, 2 x 64) and dilated_cnn (the paper's network:
11 blocks, 64 wide, 320 out), on CPU and, when present, on CUDA with bf16 autocast.

Usage: python benchmarks/bench_ts2vec.py [--rounds 7] [--steps 10] [--official DIR] [--parity-only]
           [--windows 10000] [--iters 5] [--warmup 1] [--threads 0]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F

from moola.models.encoders import DilatedCNNEncoder, EncoderConfig, build_encoder
from moola.pretrain.ts2vec import PAPER_DILATED_BLOCKS, TS2Vec
from moola.pretrain.windows import WindowBatches, fit_channel_scaler

LENGTH = 256
CHANNELS = 4
BATCH = 64
MIN_OVERLAP = 64
ENCODERS = {
    "bilstm": EncoderConfig(kind="bilstm", input_dim=CHANNELS, hidden=64, layers=2, dropout=0.1),
    "dilated_cnn": EncoderConfig(
        kind="dilated_cnn", input_dim=CHANNELS, hidden=64, layers=PAPER_DILATED_BLOCKS, dropout=0.1, output_dim=320
    ),
}
PARITY_SHAPE = (50, 150, 1)  # GunPoint's training split
PARITY_BATCH = 8


def paper_encoder_config(channels: int) -> EncoderConfig:
    return EncoderConfig(kind="dilated_cnn", input_dim=channels, hidden=64, layers=PAPER_DILATED_BLOCKS, output_dim=320)


def _pair_loss(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """(G, N, D) x 2 -> scalar: each of the 2N items must pick its partner among the other 2N - 1."""
    items = first.size(1)
    if items == 1:
        return first.new_zeros(())
    both = torch.cat([first, second], dim=1)  # (G, 2N, D)
    logits = both @ both.transpose(1, 2)  # (G, 2N, 2N)
    logits = logits - torch.eye(2 * items) * 1e9  # no item is its own candidate
    partner = (torch.arange(2 * items) + items) % (2 * items)  # (2N,)
    return F.cross_entropy(logits.flatten(0, 1), partner.repeat(first.size(0)))


def _plain_hierarchical_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """(B, T, D) x 2 -> scalar: instance and temporal contrast, halving time until one step is left."""
    total, scales = z1.new_zeros(()), 0
    while True:
        total = total + 0.5 * _pair_loss(z1.transpose(0, 1), z2.transpose(0, 1))  # instances at each time
        if z1.size(1) > 1:
            total = total + 0.5 * _pair_loss(z1, z2)  # timestamps within each series
        scales += 1
        if z1.size(1) == 1:
            return total / scales
        z1 = F.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)


class PlainPaperStep:
    """The paper's training step written plainly, on moola's dilated CNN: the reference for parity."""

    def __init__(self, data: np.ndarray, seed: int = 0):
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.data = torch.from_numpy(data)
        self.encoder = build_encoder(paper_encoder_config(data.shape[2]))
        self.average = torch.optim.swa_utils.AveragedModel(self.encoder)
        self.optimizer = torch.optim.AdamW(self.encoder.parameters(), lr=0.001)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C) -> (B, L, D), half the timestamps masked
        encoder: DilatedCNNEncoder = self.encoder
        keep = torch.from_numpy(self.rng.random(x.shape[:2]) >= 0.5).float()  # (B, L)
        hidden = encoder.input_fc(x) * keep.unsqueeze(-1)  # (B, L, H)
        return encoder.dropout(encoder.blocks(hidden.transpose(1, 2)).transpose(1, 2))

    def step(self) -> None:
        n, length, _ = self.data.shape
        x = self.data[self.rng.choice(n, PARITY_BATCH, replace=False)]  # (B, T, C)
        overlap = self.rng.integers(2, length + 1)
        start = self.rng.integers(0, length - overlap + 1)
        left, right = self.rng.integers(0, start + 1), self.rng.integers(start + overlap, length + 1)
        shift = self.rng.integers(-left, length - right + 1, size=PARITY_BATCH)
        rows = torch.arange(PARITY_BATCH).unsqueeze(1)
        view1 = x[rows, torch.from_numpy(shift[:, None] + np.arange(left, start + overlap))]
        view2 = x[rows, torch.from_numpy(shift[:, None] + np.arange(start, right))]
        z1 = self._encode(view1)[:, -overlap:]
        z2 = self._encode(view2)[:, :overlap]
        loss = _plain_hierarchical_loss(z1, z2)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.average.update_parameters(self.encoder)


def parity(rounds: int, steps: int, official_dir: str | None) -> None:
    """Part 1: median seconds per step of moola, the plain step and (optionally) the official code."""
    rng = np.random.default_rng(0)
    data = np.cumsum(rng.normal(size=PARITY_SHAPE), axis=1).astype(np.float32)  # (N, T, C) random walks
    data = (data - data.mean()) / data.std()
    moola = TS2Vec(
        input_dims=PARITY_SHAPE[2], encoder=paper_encoder_config(PARITY_SHAPE[2]), batch_size=PARITY_BATCH, seed=0
    )
    plain = PlainPaperStep(data)
    cases = {
        "moola TS2Vec": lambda: moola.fit(data, n_iters=steps),
        "plain paper step": lambda: [plain.step() for _ in range(steps)],
    }
    if official_dir:
        sys.path.insert(0, official_dir)
        from ts2vec import TS2Vec as OfficialTS2Vec  # noqa: N813  (the official trainer, not part of moola)

        torch.manual_seed(0)
        np.random.seed(0)
        official = OfficialTS2Vec(input_dims=PARITY_SHAPE[2], device="cpu", batch_size=PARITY_BATCH, output_dims=320)
        cases["official code"] = lambda: official.fit(data, n_iters=official.n_iters + steps)
    for run in cases.values():  # warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            started = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - started) / steps)
    n, length, channels = PARITY_SHAPE
    print(
        f"Per-step parity: {n} series x {length} steps x {channels} channel, batch {PARITY_BATCH}, paper's dilated "
        "CNN; "
        f"median over {rounds} alternating rounds of {steps} steps, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    reference = statistics.median(times["moola TS2Vec"])
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:<17} {median * 1000:7.1f} ms/step (rounds {min(values) * 1000:.1f}..{max(values) * 1000:.1f})  "
            f"moola / this x{reference / median:5.2f}"
        )


def random_walk_windows(n_windows: int, seed: int = 0) -> np.ndarray:
    """(N, T, 4) float32 OHLC random walks divided by the first close."""
    rng = np.random.default_rng(seed)
    close = np.exp(np.cumsum(rng.normal(0.0, 0.01, (n_windows, LENGTH)), axis=1))
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, close.shape)))
    ohlc = np.stack([open_, high, low, close], axis=-1)
    return (ohlc / ohlc[:, :1, 3:4]).astype(np.float32)


def seconds_per_step(
    batches: WindowBatches, config: EncoderConfig, device: str, iters: int, warmup: int
) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) per step; CPU time is the steadier figure on a shared machine."""
    model = TS2Vec(
        input_dims=CHANNELS, encoder=config, batch_size=BATCH, min_overlap=MIN_OVERLAP, device=device, seed=0
    )
    if warmup:
        model.fit(batches, n_iters=warmup)
    if device == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(batches, n_iters=iters)  # train_epoch reads the loss back, which waits for the GPU
    return (time.perf_counter() - wall) / iters, (time.process_time() - cpu) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10_000, help="unlabeled windows in the corpus")
    parser.add_argument("--iters", type=int, default=5, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0 = 1 for parity, torch default for epochs)"
    )
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds of the per-step parity")
    parser.add_argument("--steps", type=int, default=10, help="steps per case and round of the per-step parity")
    parser.add_argument("--official", help="a checkout of the official TS2Vec code to time beside moola")
    parser.add_argument("--parity-only", action="store_true", help="skip the epoch-time part")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or 1)
    parity(args.rounds, args.steps, args.official)
    if args.parity_only:
        return
    torch.set_num_threads(args.threads or default_threads)

    windows = random_walk_windows(args.windows)
    batches = WindowBatches(windows, fit_channel_scaler(windows, np.arange(len(windows))))
    steps_per_epoch = math.ceil(args.windows / BATCH)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(
        f"TS2Vec epoch on {args.windows} windows (T={LENGTH}, C={CHANNELS}, batch {BATCH}, "
        f"{steps_per_epoch} steps); torch {torch.__version__}, CPU threads {torch.get_num_threads()}, GPU {gpu}"
    )
    print(f"extrapolated from {args.iters} timed steps per case after {args.warmup} warm-up step(s)")
    baseline = None
    for device in devices:
        for name, config in ENCODERS.items():
            wall, cpu = seconds_per_step(batches, config, device, args.iters, args.warmup)
            epoch = wall * steps_per_epoch
            baseline = baseline or epoch
            precision = "bf16 autocast" if device == "cuda" else "float32"
            print(
                f"  {name:<12} {device:<5} {precision:<13} wall {wall * 1000:7.0f} ms/step (CPU {cpu * 1000:7.0f} ms)  "
                f"{epoch:7.1f} s/epoch (extrapolated)  speed-up x{baseline / epoch:5.2f} vs bilstm-cpu"
            )


if __name__ == "__main__":
    main()
