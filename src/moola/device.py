"""One place that decides the torch device: `base.device` (auto|cpu|cuda) and `base.require_gpu`.

On a RunPod pod (`RUNPOD_POD_ID` set) a GPU is always required: a pod without one is a
mis-rented machine, and failing at start-up costs seconds instead of a billed hour.
"""

from __future__ import annotations

import os
from typing import Any

from moola.errors import MoolaError

POD_ENV = "RUNPOD_POD_ID"


def on_pod() -> bool:
    """True when running on a RunPod pod."""
    return bool(os.environ.get(POD_ENV))


def resolve_device(device: str = "auto", require_gpu: bool = False) -> "Any":
    """Return the torch.device to use, failing early when a required GPU is missing.

    Args:
        device: "auto" (CUDA when present, else CPU), "cpu" or "cuda".
        require_gpu: raise unless CUDA is usable (forced on when `RUNPOD_POD_ID` is set).

    Returns:
        A `torch.device`.
    """
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise MoolaError(f"params key base.device = {device!r} is not allowed: choose auto, cpu or cuda")
    has_cuda = torch.cuda.is_available()
    must_have_gpu = require_gpu or on_pod()
    if must_have_gpu and not has_cuda:
        why = f"{POD_ENV} is set (this is a pod)" if on_pod() else "base.require_gpu is true"
        raise MoolaError(
            f"no CUDA GPU is visible but {why}: check the pod's GPU and its CUDA torch "
            "(python -c 'import torch; print(torch.cuda.is_available())'), "
            "or set base.require_gpu: false to run on CPU"
        )
    if must_have_gpu and device == "cpu":
        raise MoolaError("base.device is cpu but a GPU is required: set base.device to auto or cuda")
    if device == "cuda" and not has_cuda:
        raise MoolaError("base.device is cuda but no CUDA GPU is visible: set base.device to auto or cpu")
    if device == "cpu" or not has_cuda:
        return torch.device("cpu")
    return torch.device("cuda")


def describe_device(dev: "Any") -> dict[str, Any]:
    """Return device facts for the status report and the manifest (type, GPU model, CUDA)."""
    import torch

    info: dict[str, Any] = {
        "type": dev.type,
        "torch": torch.__version__,
        "cuda_version": torch.version.cuda,
        "gpu_name": None,
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "on_pod": on_pod(),
    }
    if dev.type == "cuda":
        info["gpu_name"] = torch.cuda.get_device_name(dev)
    return info


def set_threads(threads: int) -> None:
    """Set torch's intra-op threads when `threads` > 0 (MOOLA_THREADS overrides)."""
    import torch

    override = os.environ.get("MOOLA_THREADS")
    count = int(override) if override else threads
    if count > 0:
        torch.set_num_threads(count)
