"""`torchrun --nproc_per_node 2` runs the stage with DistributedDataParallel on CPU (gloo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from moola.models.encoders import BiLSTMEncoder, EncoderConfig
from moola.pretrain.checkpoint import load_encoder_checkpoint
from moola.pretrain.run import fold_seed
from moola.pretrain.ts2vec import TS2Vec


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_process_gloo_run_writes_one_loadable_encoder(pretrain_project):
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "MOOLA_THREADS": "1"}
    result = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "--master_port",
            env["MASTER_PORT"],
            "-m",
            "moola.cli",
            "pretrain-ts2vec",
        ],
        cwd=pretrain_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Only rank 0 reports and writes.
    assert result.stdout.count("2 process(es)") == 1 and result.stdout.count("wrote artifacts") == 1
    written = sorted(p.relative_to(pretrain_project).as_posix() for p in (pretrain_project / "artifacts").rglob("*"))
    assert written == ["artifacts/ts2vec", "artifacts/ts2vec/encoder_v1.pt"]

    checkpoint = load_encoder_checkpoint(pretrain_project / "artifacts/ts2vec/encoder_v1.pt")
    assert checkpoint["train_params"]["world_size"] == 2
    config = EncoderConfig(**checkpoint["encoder_config"])
    encoder = BiLSTMEncoder(config)
    trained = checkpoint["folds"][0]["state_dict"]
    encoder.load_state_dict(trained, strict=True)
    initial = TS2Vec(input_dims=4, encoder=config, seed=fold_seed(1337, 0)).encoder_state_dict()
    assert not torch.equal(initial["lstm.weight_hh_l0"], trained["lstm.weight_hh_l0"])  # it trained

    metrics = json.loads((pretrain_project / "metrics/pretrain.json").read_text())
    assert metrics["fold_0"]["windows"]["per_epoch"] == 64  # max_windows over both ranks, 32 each
    assert metrics["fold_0"]["steps"] == 2  # per rank: 32 windows in batches of 16
