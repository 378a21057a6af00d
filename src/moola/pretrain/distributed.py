"""Data-parallel context for `torchrun --nproc_per_node N`: process group, shards, reductions.

Under torchrun (WORLD_SIZE > 1 in the environment) every process joins one process group, NCCL
on GPU and gloo on CPU; without it the context is a single process and every method is a no-op,
so the same training code runs either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    """Where this process sits among the data-parallel workers."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None when there is a single process

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes outputs and prints progress."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, device_type: str) -> DistributedContext:
        """Join torchrun's process group when WORLD_SIZE > 1, else return a single-process context.

        Args:
            device_type: "cuda" (NCCL, one GPU per local rank) or "cpu" (gloo).
        """
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)

    def device(self, device: torch.device) -> torch.device:
        """The device of this process: cuda:<local rank> on GPU, else `device` unchanged."""
        if device.type == "cuda" and self.is_distributed:
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, rows: np.ndarray) -> np.ndarray:
        """This process's disjoint share of `rows`: every world_size-th row from its rank.

        The tail that would leave ranks unequal is dropped, so every rank runs the same number
        of steps (DistributedDataParallel needs all ranks in every gradient exchange).
        """
        usable = len(rows) - len(rows) % self.world_size
        return rows[self.rank : usable : self.world_size]

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over all processes (identity for one process); same device as `values`."""
        if not self.is_distributed:
            return values
        # NCCL reduces CUDA tensors only; gloo takes CPU tensors.
        where = torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")
        reduced = values.to(where, copy=True)
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced.to(values.device)

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group (no-op for one process)."""
        if self.is_distributed and dist.is_initialized():
            dist.destroy_process_group()
