"""MiniRocket: kernels, dilations, PPV against a direct convolution, compiled vs torch path, determinism, state."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from moola.errors import MoolaError
from moola.models.minirocket import (
    KERNEL_POSITIONS,
    NUM_KERNELS,
    MiniRocket,
    _kernel_selection,
    _subset_tables,
    fit_dilations,
    low_discrepancy_quantiles,
)
from moola.models.registry import ModelRegistry

SMALL = 84 * 6  # a transform size that keeps the tests fast


def series(n: int = 24, length: int = 40, channels: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two-class series that differ in the frequency of a sine, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    t = np.arange(length)
    frequency = np.where(labels == 1, 0.35, 0.1)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, channels))
    X = np.sin(frequency * t[None, :, None] + phase) + 0.3 * rng.normal(size=(n, length, channels))
    return X.astype(np.float32), labels


def direct_feature(model: MiniRocket, x: np.ndarray, d_index: int, kernel: int, quantile: int) -> float:
    """One PPV feature computed the slow, literal way: conv1d with the -1/2 weights, summed over the subset."""
    dilation = int(model.dilations_[d_index])
    per_kernel = model.features_per_dilation_.tolist()
    offset = NUM_KERNELS * sum(per_kernel[:d_index]) + kernel * per_kernel[d_index] + quantile
    weights = -torch.ones(1, 1, 9)
    weights[0, 0, list(KERNEL_POSITIONS[kernel])] = 2.0
    channels = torch.from_numpy(x).T[:, None, :].double()  # (C, 1, T)
    output = torch.nn.functional.conv1d(channels, weights.double(), padding=4 * dilation, dilation=dilation)
    output = output[model.channel_mask_[d_index, kernel], 0].sum(0)  # (T,)
    if (d_index + kernel) % 2 == 1:  # unpadded combinations pool over the valid part only
        output = output[4 * dilation : len(output) - 4 * dilation]
    return float((output > float(model.biases_[offset])).double().mean())


def test_the_84_kernels_have_three_weights_of_2_and_six_of_minus_1():
    assert NUM_KERNELS == 84 == len(set(KERNEL_POSITIONS))
    assert all(len(set(p)) == 3 and all(0 <= i < 9 for i in p) for p in KERNEL_POSITIONS)
    weights = 3 * _kernel_selection() - 1  # the weights the transform's 3 x (3 shifts) - (all 9) stands for
    assert ((weights == 2).sum(1) == 3).all() and ((weights == -1).sum(1) == 6).all()
    assert (weights.sum(1) == 0).all()


@pytest.mark.parametrize("length", [9, 10, 64, 256, 1000])
def test_dilations_grow_exponentially_up_to_the_series_length(length):
    dilations, per_kernel = fit_dilations(length, 9996, 32)
    assert dilations[0] == 1 and dilations == sorted(set(dilations))
    assert 8 * dilations[-1] <= length - 1  # the widest kernel still fits in the series
    assert len(dilations) <= 32 and sum(per_kernel) == 9996 // 84 == 119
    assert per_kernel[0] == max(per_kernel)  # dilation 1, repeated most after flooring, gets the most


def test_quantiles_are_the_golden_ratio_sequence():
    q = low_discrepancy_quantiles(5)
    assert np.allclose(q, (np.arange(1, 6) * (1 + 5**0.5) / 2) % 1)
    assert ((0 < q) & (q < 1)).all()


def test_default_transform_has_9996_features_and_other_sizes_round_down_to_84():
    X, y = series(n=10, length=30, channels=4)
    assert MiniRocket(seed=0).fit(X, y).transform(X).shape == (10, 9996)
    assert MiniRocket(num_features=1000).num_output_features == 924
    ppv = MiniRocket(num_features=SMALL, seed=0).fit(X, y).transform(X)
    assert ppv.shape == (10, SMALL) and ppv.dtype == np.float32
    assert ((0 <= ppv) & (ppv <= 1)).all()


@pytest.mark.parametrize("channels", [1, 4])
def test_features_match_a_direct_convolution_with_the_published_weights(channels):
    X, y = series(n=12, length=50, channels=channels)
    model = MiniRocket(num_features=SMALL, seed=3).fit(X, y)
    features = model.transform(X[:2])
    per_kernel = model.features_per_dilation_.tolist()
    rng = np.random.default_rng(0)
    for d_index in range(len(per_kernel)):
        for kernel in rng.choice(NUM_KERNELS, 6, replace=False):  # padded and unpadded kernels
            quantile = int(rng.integers(per_kernel[d_index]))
            offset = NUM_KERNELS * sum(per_kernel[:d_index]) + kernel * per_kernel[d_index] + quantile
            for row in range(2):
                expected = direct_feature(model, X[row], d_index, kernel, quantile)
                assert features[row, offset] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("channels", [1, 4, 11])
def test_compiled_cpu_kernels_agree_with_the_torch_path(channels):
    # The torch path is the CUDA one; on CPU both must give the same features up to float
    # rounding next to a bias (a comparison that flips moves a feature by 1 / pooled length).
    X, y = series(n=10, length=70, channels=channels)
    model = MiniRocket(num_features=SMALL, seed=1).fit(X, y)
    compiled = model.transform(X)
    torch_path = model._transform_torch(torch.from_numpy(X)).numpy()
    differing = compiled != torch_path
    assert differing.mean() < 1e-3
    assert np.abs(compiled - torch_path).max() <= 1 / (70 - 8 * int(model.dilations_[-1])) + 1e-6
    # Bias fitting: kernel k's output on example k, compiled against the torch matrix product.
    examples = torch.from_numpy(X[np.arange(NUM_KERNELS) % len(X)])
    for d_index, dilation in enumerate(model.dilations_.tolist()):
        own = model._own_outputs(examples, d_index, dilation)
        x = examples.permute(0, 2, 1).contiguous()
        reference = model._kernel_outputs(x, d_index, dilation)[torch.arange(NUM_KERNELS), torch.arange(NUM_KERNELS)]
        assert torch.allclose(own, reference, rtol=1e-5, atol=1e-4)


def test_subset_tables_name_every_kernels_channels():
    rng = np.random.default_rng(0)
    mask = rng.random((3, NUM_KERNELS, 5)) < 0.4
    mask[:, :, 0] |= ~mask.any(-1)  # every kernel has at least one channel
    subset_channels, subset_sizes, kernel_subset = _subset_tables(mask)
    for d in range(3):
        distinct = int((subset_sizes[d] > 0).sum())
        assert distinct == len({tuple(row) for row in mask[d]})
        assert (subset_sizes[d, distinct:] == 0).all()
        for k in range(NUM_KERNELS):
            s = kernel_subset[d, k]
            assert s < distinct
            channels = subset_channels[d, s, : subset_sizes[d, s]]
            assert list(channels) == sorted(channels) == list(np.flatnonzero(mask[d, k]))


def test_biases_are_quantiles_of_training_outputs_so_training_features_are_spread():
    X, y = series(n=30, length=60, channels=2)
    features = MiniRocket(num_features=SMALL, seed=0).fit(X, y).transform(X)
    # A bias at quantile q of a training output leaves about 1 - q of that output positive.
    assert 0.2 < features.mean() < 0.8
    assert (features.std(axis=0) > 0).mean() > 0.5


def test_same_seed_same_model_and_another_seed_draws_other_channel_subsets():
    X, y = series(channels=5)
    first = MiniRocket(num_features=SMALL, seed=11).fit(X, y)
    second = MiniRocket(num_features=SMALL, seed=11).fit(X, y)
    other = MiniRocket(num_features=SMALL, seed=12).fit(X, y)
    assert np.array_equal(first.transform(X), second.transform(X))
    assert np.array_equal(first.predict_proba(X), second.predict_proba(X))
    assert not torch.equal(first.channel_mask_, other.channel_mask_)
    subset_sizes = first.channel_mask_.sum(-1)
    assert subset_sizes.min() >= 1 and subset_sizes.max() <= 5


def test_transform_uses_only_the_fit_state_and_does_not_depend_on_the_batch():
    X, y = series(n=30)
    model = MiniRocket(num_features=SMALL, seed=0, chunk_size=4).fit(X[:20], y[:20])
    state_before = model.state_dict()
    features_of_train = model.transform(X[:20])
    unseen = model.transform(X[20:] * 5.0)  # new, differently scaled data: no refit
    assert unseen.shape == (10, SMALL)
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, state_before[key]), key
    assert np.array_equal(model.transform(X[:20]), features_of_train)
    assert np.array_equal(model.transform(X[3:4]), features_of_train[3:4])  # chunking changes nothing


def test_worker_threads_give_the_same_features_and_restore_the_thread_count():
    X, y = series(n=9, length=30)
    model = MiniRocket(num_features=SMALL, seed=0, chunk_size=2).fit(X, y)
    single = model.transform(X)  # tests run torch with one thread: chunks in sequence
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # two workers share the five chunks
    try:
        threaded = model.transform(X)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert np.array_equal(threaded, single)


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
def test_works_for_the_shortest_series_and_any_channel_count(channels):
    X, y = series(n=16, length=9, channels=channels)
    model = MiniRocket(num_features=SMALL, seed=0).fit(X, y)
    assert model.dilations_.tolist() == [1]
    proba = model.predict_proba(X)
    assert proba.shape == (16, 2)
    assert np.allclose(proba.sum(1), 1.0)
    assert set(model.predict(X)) <= {0, 1}


@pytest.mark.parametrize("classifier", ["logistic", "ridge"])
def test_probabilities_sum_to_one_and_separable_classes_are_learned(classifier):
    X, y = series(n=40, length=64, channels=2)
    model = MiniRocket(num_features=SMALL, classifier=classifier, seed=0).fit(X[:30], y[:30])
    proba = model.predict_proba(X[30:])
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()
    assert (model.predict(X[30:]) == y[30:]).mean() >= 0.9
    assert float(model.temperature_) > 0


def test_three_classes_and_a_class_missing_from_training():
    X, y = series(n=30, length=32, channels=4)
    labels = np.where(y == 1, 2, 0)  # class 1 never seen
    model = MiniRocket(num_features=SMALL, seed=0, n_classes=3).fit(X, labels)
    proba = model.predict_proba(X)
    assert proba.shape == (30, 3) and np.allclose(proba[:, 1], 0.0)
    assert np.allclose(proba.sum(1), 1.0)
    assert list(model.classes_) == [0, 1, 2]


@pytest.mark.parametrize("classifier", ["logistic", "ridge"])
def test_state_dict_round_trips_through_torch_load_weights_only(classifier):
    X, y = series(n=30, length=48, channels=4)
    y = np.arange(30) % 3
    model = MiniRocket(num_features=SMALL, classifier=classifier, seed=5, n_classes=3).fit(X, y)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in state.values())
    restored = MiniRocket(num_features=SMALL, classifier=classifier, seed=999, n_classes=3).load_state_dict(state)
    assert np.array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(restored.transform(X), model.transform(X))


def test_a_state_for_another_size_is_refused():
    X, y = series()
    state = MiniRocket(num_features=SMALL, seed=0).fit(X, y).state_dict()
    with pytest.raises(MoolaError, match="num_features"):
        MiniRocket(num_features=2 * SMALL).load_state_dict(state)


def test_user_errors_are_one_line_moola_errors():
    X, y = series(length=20)
    model = MiniRocket(num_features=SMALL)
    with pytest.raises(MoolaError, match="fit"):
        model.transform(X)
    with pytest.raises(MoolaError, match="T >= 9"):
        model.fit(X[:, :8], y)
    with pytest.raises(MoolaError, match=r"\(N, T, C\)"):
        model.fit(X[:, :, 0], y)
    with pytest.raises(MoolaError, match="integer class labels"):
        model.fit(X, y.astype(str))
    with pytest.raises(MoolaError, match="single class"):
        model.fit(X, np.zeros(len(y), dtype=int))
    bad = X.copy()
    bad[4, 3, 1] = np.nan
    with pytest.raises(MoolaError, match="row 4"):
        model.fit(bad, y)
    model.fit(X, y)
    with pytest.raises(MoolaError, match="T = 20"):
        model.transform(X[:, :15])


def test_registry_builds_minirocket_from_its_params_section():
    model = ModelRegistry.create("minirocket", {"num_features": SMALL, "C": 0.5}, n_classes=3, seed=4)
    assert isinstance(model, MiniRocket)
    expected = {"num_features": SMALL, "max_dilations_per_kernel": 32, "classifier": "logistic", "C": 0.5}
    assert model.config.to_dict() == expected
    assert model.seed == 4 and model.n_classes == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fits_and_agrees_with_cpu_on_the_same_state():
    X, y = series(n=20, length=64, channels=4)
    cpu = MiniRocket(num_features=SMALL, seed=0).fit(X, y)
    gpu = MiniRocket(num_features=SMALL, seed=0, device="cuda").load_state_dict(cpu.state_dict())
    # Same biases; only float rounding near a bias can flip a comparison.
    differing = np.abs(cpu.transform(X) - gpu.transform(X)) > 1e-6
    assert differing.mean() < 0.01
    assert np.allclose(cpu.predict_proba(X), gpu.predict_proba(X), atol=1e-3)
    fitted_on_gpu = MiniRocket(num_features=SMALL, seed=0, device="cuda").fit(X, y)
    assert np.allclose(fitted_on_gpu.predict_proba(X).sum(1), 1.0)
    assert torch.equal(fitted_on_gpu.channel_mask_, cpu.channel_mask_)  # same seed, same draws
