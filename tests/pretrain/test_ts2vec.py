"""The standalone TS2Vec trainer on plain arrays (N, T, C)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moola.models.encoders import EncoderConfig
from moola.pretrain.ts2vec import TS2Vec


def sine_windows(n: int = 128, length: int = 32, seed: int = 0) -> np.ndarray:
    """Structured toy data: sine/cosine pairs with random frequency and phase, (N, T, 2)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    frequency = rng.uniform(0.1, 0.8, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    return np.stack([np.sin(frequency * t + phase), np.cos(frequency * t + phase)], axis=-1).astype(np.float32)


def tiny(encoder: str = "bilstm", **kwargs) -> TS2Vec:
    settings = dict(hidden=8, layers=1 if encoder == "bilstm" else 3, output_dims=16, batch_size=32, seed=0)
    settings.update(kwargs)
    return TS2Vec(input_dims=2, encoder=encoder, **settings)


@pytest.mark.parametrize("encoder", ["bilstm", "dilated_cnn"])
def test_loss_decreases_on_structured_data(encoder):
    history = tiny(encoder, lr=0.01).fit(sine_windows(), n_epochs=30)
    assert len(history) == 30
    assert np.mean(history[-5:]) < 0.85 * np.mean(history[:5])


@pytest.mark.parametrize("encoder, dims", [("bilstm", 16), ("dilated_cnn", 16)])
def test_encode_gives_one_max_pooled_vector_per_window(encoder, dims):
    model = tiny(encoder)
    X = sine_windows(n=10)
    features = model.encode(X, batch_size=4)
    assert features.shape == (10, dims) and features.dtype == np.float32
    assert model.output_dims == dims
    # Max-pooled over time: equal to the encoder's per-timestep output (eval mode) reduced by max.
    encoder = model.encoding_module().eval()
    with torch.no_grad():
        per_step = encoder(torch.from_numpy(X))  # (N, T, D)
    np.testing.assert_allclose(features, per_step.amax(dim=1).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(features, per_step.mean(dim=1).numpy(), atol=1e-3)  # not mean pooling
    np.testing.assert_allclose(features, model.encode_timestamps(X).max(axis=1), rtol=1e-6)


def test_n_iters_bounds_the_steps_and_the_default_is_the_papers_budget():
    model = tiny(batch_size=16)
    model.fit(sine_windows(n=64), n_iters=6)  # 4 steps per epoch: one full epoch and 2 steps
    assert model.steps_done_ == 6 and model.epochs_done_ == 2
    default = tiny(batch_size=64)
    default.fit(sine_windows(n=64, length=8))
    assert default.steps_done_ == 200


def test_the_default_budget_counts_values_as_the_official_code():
    from moola.pretrain.ts2vec import default_iterations

    assert default_iterations(1_000, 50, 2) == 200  # 100,000 values: still small
    assert default_iterations(1_000, 50, 3) == 600  # 1,000 rows but 150,000 values
    assert default_iterations(200_000, 1, 1) == 600


def test_an_epoch_drops_its_incomplete_batch_unless_asked_not_to():
    X = sine_windows(n=40)
    dropping = tiny(batch_size=16)
    dropping.fit(X, n_epochs=1)
    keeping = tiny(batch_size=16, drop_last=False)
    keeping.fit(X, n_epochs=1)
    assert dropping.steps_done_ == 2 and keeping.steps_done_ == 3
    small = tiny(batch_size=64)  # batch larger than the data: one step on all of it
    small.fit(X, n_epochs=1)
    assert small.steps_done_ == 1 and small.windows_seen_ == 40


def test_same_seed_gives_identical_weights_and_losses_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first, second = tiny(), tiny()
    first_history = first.fit(sine_windows(), n_epochs=2)
    second_history = second.fit(sine_windows(), n_epochs=2)
    assert torch.rand(1).item() == before.item()
    assert first_history == second_history
    for name, tensor in first.encoder_state_dict().items():
        assert torch.equal(tensor, second.encoder_state_dict()[name]), name
    assert not torch.equal(
        first.encoder_state_dict()["lstm.weight_ih_l0"], tiny().encoder_state_dict()["lstm.weight_ih_l0"]
    )


def test_training_state_resumes_exactly(tmp_path):
    X = sine_windows()
    uninterrupted = tiny(dropout=0.2, layers=2)
    uninterrupted.fit(X, n_epochs=3)
    interrupted = tiny(dropout=0.2, layers=2)
    interrupted.fit(X, n_epochs=1)
    torch.save(interrupted.training_state(), tmp_path / "state.pt")
    resumed = tiny(dropout=0.2, layers=2)
    resumed.load_training_state(torch.load(tmp_path / "state.pt", weights_only=True))
    resumed.fit(X, n_epochs=2)
    assert resumed.loss_history_ == uninterrupted.loss_history_
    for name, tensor in uninterrupted.encoder_state_dict().items():
        assert torch.equal(tensor, resumed.encoder_state_dict()[name]), name


def test_encoder_config_is_taken_whole_with_the_input_width_from_the_data():
    config = EncoderConfig(kind="bilstm", input_dim=99, hidden=5, layers=1, dropout=0.0)
    model = TS2Vec(input_dims=3, encoder=config)
    assert model.config.input_dim == 3 and model.output_dims == 10
    assert config.input_dim == 99  # the caller's config is not modified
    assert model.encode(np.zeros((2, 8, 3), dtype=np.float32)).shape == (2, 10)


@pytest.mark.parametrize("encoder", ["bilstm", "dilated_cnn"])
def test_masked_encoding_equals_the_plain_encoder_when_nothing_is_masked(encoder):
    # Guards the masked path against drifting from the encoder's own forward.
    from moola.pretrain.ts2vec import TwoViewMaskedEncoder

    model = tiny(encoder)
    model.encoder_.eval()
    x = torch.from_numpy(sine_windows(n=3))
    keep = torch.ones(3, x.size(1))
    masked, _ = TwoViewMaskedEncoder(model.encoder_)(x, keep, x, keep)
    torch.testing.assert_close(masked, model.encoder_(x))
    dropped = keep.clone()
    dropped[:, 5] = 0
    zeroed = x.clone()
    zeroed[:, 5] = 0
    masked_bar, _ = TwoViewMaskedEncoder(model.encoder_)(x, dropped, x, dropped)
    assert not torch.allclose(masked_bar, masked)
    if encoder == "bilstm":  # the BiLSTM sees a masked bar as a zero (channel-mean) input
        torch.testing.assert_close(masked_bar, model.encoder_(zeroed))
