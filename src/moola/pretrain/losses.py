"""TS2Vec's hierarchical contrastive loss (Yue et al., AAAI 2022, section 3.3).

Two views of the same windows are encoded; on their overlapping timestamps the representations
of one view are pulled towards the other's and pushed away from everything else. The loss is
summed over a pyramid of time scales obtained by max-pooling along time with kernel 2, so the
top of the pyramid (one timestamp) contrasts whole windows.

- Instance-wise contrast: at a given timestamp, the same window in the other view is the
  positive; the other windows of the batch (both views) are negatives.
- Temporal contrast: within one window, the same timestamp in the other view is the positive;
  the window's other timestamps (both views) are negatives.

Similarities are plain dot products, as in the paper.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def paired_contrastive_loss(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Contrast N paired items inside each of G groups: item n of `first` matches item n of `second`.

    Args:
        first: (G, N, D) representations of view 1.
        second: (G, N, D) representations of view 2.

    Returns:
        Scalar: mean over groups and over the 2N anchors of -log softmax(positive), where each
        anchor's candidates are the other 2N - 1 items of its group. Zero when N == 1 (an
        item with no negative teaches nothing).
    """
    groups, items, _ = first.shape
    if items == 1:
        return first.new_zeros(())
    both = torch.cat([first, second], dim=1)  # (G, 2N, D)
    similarity = torch.matmul(both, both.transpose(1, 2))  # (G, 2N, 2N)
    self_pairs = torch.eye(2 * items, dtype=torch.bool, device=both.device)
    # An anchor must not count itself as a candidate.
    similarity = similarity.masked_fill(self_pairs, float("-inf"))
    log_probability = F.log_softmax(similarity, dim=-1)  # (G, 2N, 2N)
    anchors = torch.arange(2 * items, device=both.device)
    positives = (anchors + items) % (2 * items)  # item n <-> item n + N
    return -log_probability[:, anchors, positives].mean()


def instance_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Instance-wise contrast at every timestamp: (B, T, D), (B, T, D) -> scalar."""
    return paired_contrastive_loss(z1.transpose(0, 1), z2.transpose(0, 1))  # groups = timestamps


def temporal_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Temporal contrast inside every window: (B, T, D), (B, T, D) -> scalar."""
    return paired_contrastive_loss(z1, z2)  # groups = windows, items = timestamps


def _halve_time(z: torch.Tensor) -> torch.Tensor:
    # (B, T, D) -> (B, T // 2, D): max over neighbouring timestamps; an odd last step is dropped.
    return F.max_pool1d(z.transpose(1, 2), kernel_size=2).transpose(1, 2)


def hierarchical_contrastive_loss(
    z1: torch.Tensor, z2: torch.Tensor, alpha: float = 0.5, temporal_unit: int = 0
) -> torch.Tensor:
    """TS2Vec loss over all time scales of the overlap.

    Args:
        z1: (B, T, D) view-1 representations of the overlapping timestamps.
        z2: (B, T, D) view-2 representations of the same timestamps.
        alpha: weight of the instance-wise term; the temporal term gets 1 - alpha.
        temporal_unit: the temporal term is used from this scale on (0 = every scale), which
            saves memory on long series where fine-scale temporal contrast is costly.

    Returns:
        Scalar loss averaged over the scales.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"views must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    total = z1.new_zeros(())
    scale = 0
    while True:
        if alpha != 0:
            total = total + alpha * instance_contrastive_loss(z1, z2)
        if scale >= temporal_unit and z1.size(1) > 1 and alpha != 1:
            total = total + (1 - alpha) * temporal_contrastive_loss(z1, z2)
        scale += 1
        if z1.size(1) <= 1:
            break
        z1, z2 = _halve_time(z1), _halve_time(z2)
    return total / scale
