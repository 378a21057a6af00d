"""Random overlapping crops and timestamp masks."""

from __future__ import annotations

import pytest
import torch

from moola.pretrain.augment import sample_overlapping_crops, sample_timestamp_keep_mask


@pytest.mark.parametrize("seed", range(20))
def test_crops_stay_inside_the_window_and_share_the_overlap(seed):
    generator = torch.Generator().manual_seed(seed)
    crops = sample_overlapping_crops(batch=5, length=32, min_overlap=8, generator=generator)
    for index in (crops.view1_index, crops.view2_index):
        assert index.min() >= 0 and index.max() < 32
        assert torch.all(index[:, 1:] - index[:, :-1] == 1)  # contiguous sub-series
    assert 8 <= crops.overlap <= 32
    # The tail of view 1 and the head of view 2 are the same bars of each window.
    assert torch.equal(crops.view1_index[:, -crops.overlap :], crops.view2_index[:, : crops.overlap])
    assert torch.all(crops.view1_index[:, 0] <= crops.view2_index[:, 0])
    assert torch.all(crops.view1_index[:, -1] <= crops.view2_index[:, -1])


def test_cut_takes_each_windows_own_bars():
    generator = torch.Generator().manual_seed(0)
    x = torch.arange(3 * 16, dtype=torch.float32).reshape(3, 16, 1)  # value = window * 16 + bar
    crops = sample_overlapping_crops(batch=3, length=16, min_overlap=4, generator=generator)
    view1, view2 = crops.cut(x)
    expected1 = (torch.arange(3).unsqueeze(1) * 16 + crops.view1_index).float()
    assert torch.equal(view1[..., 0], expected1)
    z1, z2 = crops.overlap_of(view1, view2)
    assert torch.equal(z1, z2)


def test_windows_of_a_batch_get_different_shifts():
    generator = torch.Generator().manual_seed(4)
    starts = set()
    for _ in range(10):
        crops = sample_overlapping_crops(batch=8, length=64, min_overlap=4, generator=generator)
        starts.update(crops.view1_index[:, 0].tolist())
    assert len(starts) > 8


def test_same_generator_seed_gives_the_same_crops():
    first = sample_overlapping_crops(4, 32, 8, torch.Generator().manual_seed(7))
    second = sample_overlapping_crops(4, 32, 8, torch.Generator().manual_seed(7))
    assert torch.equal(first.view1_index, second.view1_index) and first.overlap == second.overlap


def test_overlap_longer_than_the_window_is_refused():
    with pytest.raises(ValueError, match="min_overlap"):
        sample_overlapping_crops(2, 16, 17, torch.Generator())


def test_mask_keeps_about_half_the_timestamps():
    keep = sample_timestamp_keep_mask(64, 100, 0.5, torch.Generator().manual_seed(0))
    assert set(keep.unique().tolist()) == {0.0, 1.0}
    assert 0.45 < keep.mean().item() < 0.55
    assert sample_timestamp_keep_mask(4, 10, 0.0, torch.Generator()).min().item() == 1.0
