"""TS2Vec's two augmentations: random overlapping crops and timestamp masking (paper, section 3.2).

Two sub-series [a1, b1) and [a2, b2) with a1 <= a2 < b1 <= b2 are cut from each window; their
overlap [a2, b1) is seen by both views in different contexts, which is what the contrastive
loss compares. Every window of a batch gets the same crop lengths (so views stack into one
tensor) but its own shift along time, so a batch does not look at one calendar offset only.
All draws use an explicit `torch.Generator`, so a seed fixes them on any device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class OverlappingCrops:
    """Time indices of the two views of a batch; the overlap is view 1's tail and view 2's head."""

    view1_index: torch.Tensor  # (B, L1) int64 positions in the window
    view2_index: torch.Tensor  # (B, L2) int64 positions in the window
    overlap: int  # timestamps shared by both views

    def cut(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, C) -> view 1 (B, L1, C), view 2 (B, L2, C)."""
        rows = torch.arange(x.size(0), device=x.device).unsqueeze(1)  # (B, 1)
        return x[rows, self.view1_index.to(x.device)], x[rows, self.view2_index.to(x.device)]

    def overlap_of(self, z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Representations of the shared timestamps: (B, L1, D), (B, L2, D) -> 2 x (B, overlap, D)."""
        return z1[:, -self.overlap :], z2[:, : self.overlap]


def sample_overlapping_crops(batch: int, length: int, min_overlap: int, generator: torch.Generator) -> OverlappingCrops:
    """Draw the two overlapping crops of a batch of windows of `length` timestamps.

    Args:
        batch: windows in the batch (B).
        length: timestamps per window (T).
        min_overlap: shortest overlap; it is drawn uniformly from [min_overlap, T].
        generator: the CPU generator every draw comes from.

    Returns:
        The crops; positions are in [0, T).
    """
    if not 1 <= min_overlap <= length:
        raise ValueError(f"min_overlap must be in [1, {length}], got {min_overlap}")

    def draw(low: int, high: int, size: tuple[int, ...] = (1,)) -> torch.Tensor:
        # uniform integers in [low, high] inclusive
        return torch.randint(low, high + 1, size, generator=generator)

    overlap = int(draw(min_overlap, length))
    overlap_start = int(draw(0, length - overlap))  # a2
    overlap_end = overlap_start + overlap  # b1
    view1_start = int(draw(0, overlap_start))  # a1 <= a2
    view2_end = int(draw(overlap_end, length))  # b2 >= b1
    # Shift each window's crops by its own offset, keeping both views inside [0, T).
    shift = draw(-view1_start, length - view2_end, (batch,)).unsqueeze(1)  # (B, 1)
    view1 = torch.arange(view1_start, overlap_end).unsqueeze(0) + shift  # (B, L1)
    view2 = torch.arange(overlap_start, view2_end).unsqueeze(0) + shift  # (B, L2)
    return OverlappingCrops(view1_index=view1, view2_index=view2, overlap=overlap)


def sample_timestamp_keep_mask(
    batch: int, length: int, mask_probability: float, generator: torch.Generator
) -> torch.Tensor:
    """Bernoulli timestamp mask: (B, L) float, 0 where a timestamp is masked, 1 where kept."""
    return (torch.rand((batch, length), generator=generator) >= mask_probability).float()
