"""Benchmark: TS2Vec seconds per epoch on 10,000 unlabeled windows (T=256, C=4), both encoders.

Synthetic random-walk OHLC windows (each divided by its first close, as in X_ohlc.npy) are
standardised per channel and trained with the stage's defaults (batch 64, crops from 64 bars).
A full epoch is long on CPU, so each case runs `--iters` timed steps after `--warmup` untimed
ones and the epoch time is extrapolated: wall seconds per step x ceil(windows / batch). The
figures say so in their label. Process CPU time per step is printed beside the wall time: on a
shared machine it moves less with the load than the wall time does.

Baseline: the bilstm encoder on CPU (the stage's default); every other case prints its ratio to
it. Cases: bilstm (encoder: section defaults, 2 x 64) and dilated_cnn (the paper's 10 blocks,
64 wide, 320 out), on CPU and, when present, on CUDA with bf16 autocast.

Usage: python benchmarks/bench_ts2vec.py [--windows 10000] [--iters 5] [--warmup 1] [--threads 0]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from moola.models.encoders import EncoderConfig
from moola.pretrain.ts2vec import TS2Vec
from moola.pretrain.windows import WindowBatches, fit_channel_scaler

LENGTH = 256
CHANNELS = 4
BATCH = 64
MIN_OVERLAP = 64
ENCODERS = {
    "bilstm": EncoderConfig(kind="bilstm", input_dim=CHANNELS, hidden=64, layers=2, dropout=0.1),
    "dilated_cnn": EncoderConfig(kind="dilated_cnn", input_dim=CHANNELS, hidden=64, layers=10, dropout=0.1, output_dim=320),
}


def random_walk_windows(n_windows: int, seed: int = 0) -> np.ndarray:
    """(N, T, 4) float32 OHLC random walks divided by the first close."""
    rng = np.random.default_rng(seed)
    close = np.exp(np.cumsum(rng.normal(0.0, 0.01, (n_windows, LENGTH)), axis=1))
    open_ = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, close.shape)))
    ohlc = np.stack([open_, high, low, close], axis=-1)
    return (ohlc / ohlc[:, :1, 3:4]).astype(np.float32)


def seconds_per_step(batches: WindowBatches, config: EncoderConfig, device: str, iters: int, warmup: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) per step; CPU time is the steadier figure on a shared machine."""
    model = TS2Vec(input_dims=CHANNELS, encoder=config, batch_size=BATCH, min_overlap=MIN_OVERLAP, device=device, seed=0)
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
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

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
