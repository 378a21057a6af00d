"""Stage 4 `moola pretrain-ts2vec`: TS2Vec encoder pretraining on unlabeled windows, leakage-safe.

Reads `data/unlabeled_windows/<version>/` memory-mapped, leaves out every window that meets the
val/test time of the split (see `moola.pretrain.exclusions`), standardises OHLC per channel with
statistics of the kept windows (the classifiers' scheme, fitted on what trains), trains TS2Vec
and writes, from the main process only:

- the encoder checkpoint (`pretrain_ts2vec.output`, format `moola.ts2vec/1`),
- `plots/pretrain/loss.csv` and `loss.png`, and `metrics/pretrain.json` (deterministic on CPU;
  timings are printed, never stored).

After every epoch a resumable state (`.<output name>.state` beside the output) is saved; a rerun
with the same params and data continues from it, and it is deleted once the output is written.
Runs as one process or under `torchrun --nproc_per_node N` (DistributedDataParallel).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import typing
from pathlib import Path
from typing import Any

from moola.errors import MoolaError
from moola.params import require

SECTION = "pretrain_ts2vec"
LOSS_CSV = "plots/pretrain/loss.csv"
LOSS_PNG = "plots/pretrain/loss.png"
METRICS_FILE = "metrics/pretrain.json"
STATE_FORMAT = "moola.ts2vec-state/1"


@dataclasses.dataclass
class PretrainParams:
    """Section `pretrain_ts2vec:`."""

    unlabeled_version: str = "v1"  # data/unlabeled_windows/<version>
    split: str = "fwd_chain_v3"  # windows meeting this split's val/test time (plus embargo) are left out
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
    cnn_blocks: int = 10  # dilated_cnn only: residual blocks (dilation 2**i)
    cnn_output_dim: int = 320  # dilated_cnn only: representation size

    def validate(self) -> None:
        key = f"{SECTION}."
        require(self.epochs >= 1, key + "epochs", f"must be >= 1, got {self.epochs}")
        require(self.batch_size >= 2, key + "batch_size", f"must be >= 2 (contrast needs negatives), got {self.batch_size}")
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--unlabeled",
        metavar="NAME",
        help="unlabeled windows under data/, e.g. unlabeled_windows/v1 (default: pretrain_ts2vec.unlabeled_version)",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="encoder checkpoint, relative to the project (default: pretrain_ts2vec.output)",
    )
    parser.add_argument("--split", metavar="NAME", help="split under data/splits/ (default: pretrain_ts2vec.split)")


def _leakage_exclusion(registry: Any, split_name: str, unlabeled_windows: Any) -> tuple[Any, dict[str, Any]]:
    """Mask of unlabeled windows to leave out (True) and the checkpoint's `exclusions` record.

    The split is read through the registry, so it is checked against its labeled set (fingerprint,
    disjoint parts, time order) before its val/test rows decide anything.
    """
    import numpy as np

    from moola.data.splits import parse_embargo
    from moola.io import read_json
    from moola.paths import relative_to_root
    from moola.pretrain.exclusions import exclusion_record, overlapping_windows, protected_span

    split_file = registry.path_of(split_name, "split")
    if not split_file.is_file():
        raise MoolaError(
            f"split file {relative_to_root(split_file)} not found: run `moola make-splits` "
            f"(dvc repro make_splits) or set {SECTION}.split"
        )
    claimed = read_json(split_file, "split file")
    if not isinstance(claimed, dict) or "labeled_version" not in claimed:
        raise MoolaError(f"{relative_to_root(split_file)} names no labeled_version: rebuild the split (dvc repro make_splits)")
    labeled = registry.read_windows(claimed["labeled_version"], "labeled", mmap=True)
    split, _, _ = registry.read_split(split_name, labeled)
    embargo = parse_embargo(split["embargo"], f"split file {relative_to_root(split_file)}: embargo")
    protected_rows = np.union1d(np.asarray(split["val"], dtype=np.int64), np.asarray(split["test"], dtype=np.int64))
    span = protected_span(labeled.windows, protected_rows, embargo)
    left_out = overlapping_windows(unlabeled_windows, span)
    return left_out, exclusion_record(split["name"], span, left_out)


def _resume_key(identity: dict[str, Any]) -> str:
    """One hash over everything a saved training state must agree with to be continued."""
    import hashlib

    from moola.io import dumps_json

    return hashlib.sha256(dumps_json(identity).encode("utf-8")).hexdigest()


def _read_state(path: Path, resume_key: str) -> dict[str, Any] | None:
    """A saved training state that matches `resume_key`, else None (with the reason printed)."""
    from moola.io import read_torch_file

    if not path.is_file():
        return None
    try:
        state = read_torch_file(path, "training state")
    except MoolaError:  # a state from another torch or a damaged disk: start over, never crash
        print(f"pretrain-ts2vec: ignoring unreadable training state {path.name}; starting over", flush=True)
        return None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or state.get("resume_key") != resume_key:
        print(f"pretrain-ts2vec: training state {path.name} is from other params or data; starting over", flush=True)
        return None
    return state


def _save_torch(path: Path, obj: Any) -> None:
    import torch

    from moola.io import atomic_file

    with atomic_file(path) as handle:
        torch.save(obj, handle)


def _write_training_state(path: Path, state: dict[str, Any]) -> None:
    """Save the resumable state atomically (a kill leaves the previous epoch's state)."""
    _save_torch(path, state)


def _loss_png(loss_history: list[float]) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(5, 3.2), dpi=100)
    epochs = list(range(1, len(loss_history) + 1))
    axes.plot(epochs, loss_history, marker="o")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("hierarchical contrastive loss")
    axes.set_title("TS2Vec pretraining loss")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})  # no version text: same bytes
    plt.close(figure)
    return buffer.getvalue()


def _write_reports(root: Path, loss_history: list[float], metrics: dict[str, Any]) -> None:
    from moola.io import write_bytes, write_json, write_text

    lines = ["epoch,loss"] + [f"{epoch},{loss:.6f}" for epoch, loss in enumerate(loss_history, start=1)]
    write_text(root / LOSS_CSV, "\n".join(lines) + "\n")
    write_bytes(root / LOSS_PNG, _loss_png(loss_history))
    write_json(root / METRICS_FILE, metrics)


@dataclasses.dataclass
class PretrainInputs:
    """What training reads, checked: the memory-mapped windows and what is kept of them."""

    ohlc: Any  # (N, T, C) float32 memory map
    kept_rows: Any  # (K,) int64 rows outside the protected span
    scaler: Any  # ChannelScaler fitted on the kept rows
    unlabeled: dict[str, Any]  # {version, fingerprint}
    exclusions: dict[str, Any]  # the checkpoint's exclusions record


def _read_params(args: argparse.Namespace) -> tuple[PretrainParams, Any, Any]:
    """(section with command-line overrides, base section, the EncoderConfig to pretrain)."""
    from moola.data.registry import DataRegistry
    from moola.models.base import resolve_encoder_config
    from moola.models.encoders import EncoderConfig
    from moola.params import load_base, load_params, load_section

    all_params = load_params()
    base = load_base(all_params)
    params = load_section(PretrainParams, SECTION, all_params)
    # The `encoder:` section read exactly as the classifiers read it, so the shapes agree.
    shared_encoder = resolve_encoder_config(all_params.get("encoder"))
    # Overrides are stored as bare names, so `unlabeled_windows/v1` and `v1` give the same record.
    registry = DataRegistry()
    overrides: dict[str, Any] = {}
    if args.unlabeled:
        overrides["unlabeled_version"] = registry.clean_name(args.unlabeled, "unlabeled")
    if args.output:
        overrides["output"] = args.output
    if args.split:
        overrides["split"] = registry.clean_name(args.split, "split")
    params = dataclasses.replace(params, **overrides)
    if params.encoder == "bilstm":
        encoder_config = shared_encoder
    else:
        encoder_config = EncoderConfig(
            kind="dilated_cnn",
            input_dim=shared_encoder.input_dim,
            hidden=params.cnn_hidden,
            layers=params.cnn_blocks,
            dropout=shared_encoder.dropout,
            output_dim=params.cnn_output_dim,
        )
    return params, base, encoder_config


def _prepare_inputs(params: PretrainParams) -> PretrainInputs:
    """Open the unlabeled windows, apply the leakage exclusion, fit the scaler; check everything."""
    import numpy as np

    from moola.data.registry import DataRegistry
    from moola.paths import relative_to_root
    from moola.pretrain.windows import NonFiniteWindowError, fit_channel_scaler

    registry = DataRegistry()
    # Memory-mapped: batches are gathered by index, so a corpus larger than RAM trains as is.
    unlabeled = registry.load_unlabeled(params.unlabeled_version, mmap=True)
    ohlc, unlabeled_windows, unlabeled_folder = unlabeled.ohlc, unlabeled.windows, unlabeled.path
    left_out, exclusions = _leakage_exclusion(registry, params.split, unlabeled_windows)
    kept_rows = np.flatnonzero(~left_out)
    n_windows, window_length, _ = ohlc.shape
    if kept_rows.size < 2:
        raise MoolaError(
            f"only {kept_rows.size} of {n_windows} unlabeled windows lie outside the val/test time of split "
            f"{params.split}: build more unlabeled history (earlier raw bars) or use another split"
        )
    if params.crop_min > window_length:
        raise MoolaError(
            f"params key {SECTION}.crop_min = {params.crop_min} exceeds the window length {window_length} "
            f"of {relative_to_root(unlabeled_folder)}: set it to at most {window_length}"
        )
    if window_length < 2 ** (params.temporal_unit + 1):
        raise MoolaError(
            f"params key {SECTION}.temporal_unit = {params.temporal_unit} needs windows of at least "
            f"{2 ** (params.temporal_unit + 1)} bars, but they have {window_length}: lower it"
        )
    try:
        scaler = fit_channel_scaler(ohlc, kept_rows, per_window=True)  # the classifiers' view of OHLC
    except NonFiniteWindowError as exc:
        raise MoolaError(
            f"{relative_to_root(unlabeled_folder / 'X_ohlc.npy')}: window {unlabeled_windows['id'].iloc[exc.row]} "
            f"(row {exc.row}) holds NaN or infinite prices: fix the raw data and rebuild the windows"
        ) from None
    return PretrainInputs(
        ohlc=ohlc,
        kept_rows=kept_rows,
        scaler=scaler,
        unlabeled={"version": unlabeled_folder.name, "fingerprint": unlabeled.meta["fingerprint"]},
        exclusions=exclusions,
    )


def run(args: argparse.Namespace) -> int:
    from moola.device import resolve_device, set_threads
    from moola.paths import project_root, resolve_inside
    from moola.pretrain.distributed import DistributedContext

    params, base, encoder_config = _read_params(args)
    output = resolve_inside(project_root(), params.output, "encoder output")
    set_threads(base.threads)
    device = resolve_device(base.device, base.require_gpu)
    # Every process reads and checks the same inputs, so a bad input fails on all of them alike,
    # before any of them waits for the others.
    inputs = _prepare_inputs(params)  # the registry guarantees 4 OHLC channels, as the encoder takes
    context = DistributedContext.from_environment(device.type)
    try:
        _train_and_write(params, base.seed, encoder_config, inputs, context, device, output)
    finally:
        context.close()
    return 0


def _train_and_write(
    params: PretrainParams, seed: int, encoder_config: Any, inputs: PretrainInputs, context: Any, device: Any, output: Path
) -> None:
    """Train (resuming a matching saved state) and, on the main process, write every output."""
    from moola.device import describe_device
    from moola.paths import project_root, relative_to_root
    from moola.pretrain.checkpoint import make_encoder_checkpoint
    from moola.pretrain.ts2vec import TS2Vec
    from moola.pretrain.windows import WindowBatches

    model = TS2Vec(
        input_dims=encoder_config.input_dim,
        encoder=encoder_config,
        batch_size=params.batch_size,
        lr=params.lr,
        weight_decay=params.weight_decay,
        min_overlap=params.crop_min,
        temporal_unit=params.temporal_unit,
        alpha=params.alpha,
        mask_probability=params.mask_probability,
        device=device,
        bf16=params.bf16,
        seed=seed,
        distributed=context,
    )
    train_params = {
        **dataclasses.asdict(params),
        "seed": seed,
        "world_size": context.world_size,
        "precision": "bf16-autocast" if model.use_bf16 else "float32",
    }
    scaler_record = inputs.scaler.to_dict()
    identity = {
        "train_params": train_params,
        "encoder_config": encoder_config.to_dict(),
        "unlabeled": inputs.unlabeled,
        "exclusions": inputs.exclusions,
        "scaler": scaler_record,
    }
    resume_key = _resume_key(identity)
    state_file = output.parent / f".{output.name}.state"

    def say(text: str) -> None:
        if context.is_main:
            print(text, flush=True)

    n_windows = int(inputs.ohlc.shape[0])
    device_facts = describe_device(model.device)
    say(
        f"pretrain-ts2vec: {n_windows} unlabeled windows ({params.unlabeled_version}), "
        f"{inputs.exclusions['n_left_out']} left out for split {params.split} val/test time, "
        f"{inputs.kept_rows.size} kept; encoder {encoder_config.kind} "
        f"({encoder_config.layers} x {encoder_config.hidden}); device {device_facts['gpu_name'] or device_facts['type']}, "
        f"{context.world_size} process(es), {train_params['precision']}"
    )
    state = _read_state(state_file, resume_key)
    if state is not None:
        model.load_training_state(state["training"])
        say(f"pretrain-ts2vec: resuming from {state_file.name} after epoch {model.epochs_done_}/{params.epochs}")

    batches = WindowBatches(inputs.ohlc, inputs.scaler)
    while model.epochs_done_ < params.epochs:
        started = time.perf_counter()
        loss = model.train_epoch(
            batches, rows=inputs.kept_rows, max_windows=params.max_windows, log_every=params.log_every_steps, log=say
        )
        if context.is_main:  # saved before the epoch is reported, so a reported epoch is never lost
            _write_training_state(
                state_file, {"format": STATE_FORMAT, "resume_key": resume_key, "training": model.training_state()}
            )
        say(f"epoch {model.epochs_done_}/{params.epochs}  loss {loss:.4f}  ({time.perf_counter() - started:.1f} s)")

    if context.is_main:
        history = model.loss_history_
        metrics = {
            "loss": {"final": round(history[-1], 6), "first_epoch": round(history[0], 6)},
            "windows": {
                "available": n_windows,
                "kept": int(inputs.kept_rows.size),
                "left_out": int(inputs.exclusions["n_left_out"]),
                "per_epoch": model.windows_seen_ // max(model.epochs_done_, 1),
            },
            "epochs": model.epochs_done_,
            "steps": model.steps_done_,
        }
        root = project_root()
        _write_reports(root, history, metrics)
        checkpoint = make_encoder_checkpoint(
            state_dict=model.encoder_state_dict(),
            encoder_config=encoder_config,
            train_params=train_params,
            scaler=scaler_record,
            unlabeled=inputs.unlabeled,
            exclusions=inputs.exclusions,
            loss_history=history,
        )
        _save_torch(output, checkpoint)
        state_file.unlink(missing_ok=True)
        say(f"pretrain-ts2vec: wrote {relative_to_root(output)}, {LOSS_CSV}, {LOSS_PNG}, {METRICS_FILE}")
    context.barrier()
