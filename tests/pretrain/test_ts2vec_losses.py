"""The hierarchical contrastive loss against a direct reading of the paper's definitions."""

from __future__ import annotations

import math

import pytest
import torch

from moola.pretrain.losses import (
    hierarchical_contrastive_loss,
    instance_contrastive_loss,
    temporal_contrastive_loss,
)


def _direct_instance_loss(z1: torch.Tensor, z2: torch.Tensor) -> float:
    # For each timestamp t and each of the 2B anchors: -log(exp(pos) / sum over the other 2B-1).
    batch, length, _ = z1.shape
    total, anchors = 0.0, 0
    for t in range(length):
        items = [z1[i, t] for i in range(batch)] + [z2[i, t] for i in range(batch)]
        for a in range(2 * batch):
            positive = (a + batch) % (2 * batch)
            scores = {c: float(items[a] @ items[c]) for c in range(2 * batch) if c != a}
            denominator = sum(math.exp(s) for s in scores.values())
            total += -math.log(math.exp(scores[positive]) / denominator)
            anchors += 1
    return total / anchors


def test_instance_loss_matches_the_definition():
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(3, 4, 5, generator=generator), torch.randn(3, 4, 5, generator=generator)
    assert instance_contrastive_loss(z1, z2).item() == pytest.approx(_direct_instance_loss(z1, z2), rel=1e-5)


def test_temporal_loss_is_instance_loss_with_time_and_windows_swapped():
    generator = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(2, 6, 3, generator=generator), torch.randn(2, 6, 3, generator=generator)
    expected = _direct_instance_loss(z1.transpose(0, 1), z2.transpose(0, 1))
    assert temporal_contrastive_loss(z1, z2).item() == pytest.approx(expected, rel=1e-5)


def test_matching_views_far_from_the_rest_give_near_zero_loss_and_swapped_views_a_large_one():
    # Each window gets its own well separated direction; both views agree.
    directions = torch.eye(4) * 10.0  # (B=4, D=4)
    z = directions.unsqueeze(1).repeat(1, 8, 1)  # (B=4, T=8, D=4)
    assert hierarchical_contrastive_loss(z, z.clone(), temporal_unit=10).item() < 1e-3
    shuffled = z[torch.tensor([1, 2, 3, 0])]
    assert hierarchical_contrastive_loss(z, shuffled, temporal_unit=10).item() > 10.0


def test_hierarchy_averages_over_every_pooled_scale():
    generator = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(2, 4, 3, generator=generator), torch.randn(2, 4, 3, generator=generator)
    pool = lambda z: torch.nn.functional.max_pool1d(z.transpose(1, 2), 2).transpose(1, 2)  # noqa: E731
    scales = [(z1, z2), (pool(z1), pool(z2)), (pool(pool(z1)), pool(pool(z2)))]  # T = 4, 2, 1
    expected = (
        sum(
            0.5 * instance_contrastive_loss(a, b) + (0.5 * temporal_contrastive_loss(a, b) if a.size(1) > 1 else 0.0)
            for a, b in scales
        )
        / 3
    )
    assert hierarchical_contrastive_loss(z1, z2).item() == pytest.approx(float(expected), rel=1e-6)


def test_temporal_unit_skips_the_temporal_term_at_fine_scales():
    generator = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(2, 4, 3, generator=generator), torch.randn(2, 4, 3, generator=generator)
    instance_only = hierarchical_contrastive_loss(z1, z2, alpha=1.0)
    with_temporal_from_scale_1 = hierarchical_contrastive_loss(z1, z2, temporal_unit=1)
    with_all_temporal = hierarchical_contrastive_loss(z1, z2, temporal_unit=0)
    assert with_temporal_from_scale_1.item() != pytest.approx(with_all_temporal.item())
    assert instance_only.item() != pytest.approx(with_all_temporal.item())


def test_a_single_window_has_no_negatives_and_contributes_nothing():
    z = torch.randn(1, 1, 3)
    assert instance_contrastive_loss(z, z).item() == 0.0


def test_views_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        hierarchical_contrastive_loss(torch.zeros(2, 4, 3), torch.zeros(2, 5, 3))
