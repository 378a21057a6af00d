"""TS2Vec's weight-averaged encoder: what encodes and what is saved, as in the official code."""

from __future__ import annotations

import numpy as np
import torch
from test_ts2vec import sine_windows, tiny


def test_the_average_starts_at_the_initial_weights_and_then_differs_from_the_raw_weights():
    model = tiny("dilated_cnn", lr=0.01)
    initial = model.encoder_state_dict(averaged=False)
    for name, tensor in model.encoder_state_dict().items():
        assert torch.equal(tensor, initial[name]), name
    assert model.averaged_steps == 1
    model.fit(sine_windows(n=64), n_iters=5)
    averaged, raw = model.encoder_state_dict(), model.encoder_state_dict(averaged=False)
    assert averaged.keys() == raw.keys() == initial.keys()  # the encoder's own keys, no "module."
    assert any(not torch.allclose(averaged[name], raw[name]) for name in raw)
    X = sine_windows(n=8)
    assert not np.allclose(model.encode(X), model.encode(X, averaged=False))


def test_the_average_is_updated_after_every_step_with_equal_weights():
    model = tiny("dilated_cnn", lr=0.01, batch_size=16)
    X = sine_windows(n=64)
    snapshots = [model.encoder_state_dict(averaged=False)]
    for step in range(1, 4):
        model.fit(X, n_iters=1)
        assert model.averaged_steps == step + 1
        snapshots.append(model.encoder_state_dict(averaged=False))
        averaged = model.encoder_state_dict()
        for name in averaged:
            expected = torch.stack([snapshot[name] for snapshot in snapshots]).mean(dim=0)
            torch.testing.assert_close(averaged[name], expected, rtol=1e-5, atol=1e-6)


def test_the_average_round_trips_through_the_training_state(tmp_path):
    X = sine_windows()
    uninterrupted = tiny("dilated_cnn", batch_size=16)
    uninterrupted.fit(X, n_epochs=2)
    interrupted = tiny("dilated_cnn", batch_size=16)
    interrupted.fit(X, n_epochs=1)
    torch.save(interrupted.training_state(), tmp_path / "state.pt")
    resumed = tiny("dilated_cnn", batch_size=16)
    resumed.load_training_state(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.averaged_steps == interrupted.averaged_steps == interrupted.steps_done_ + 1
    resumed.fit(X, n_epochs=1)
    assert resumed.averaged_steps == uninterrupted.averaged_steps
    for name, tensor in uninterrupted.encoder_state_dict().items():
        assert torch.equal(tensor, resumed.encoder_state_dict()[name]), name
    np.testing.assert_array_equal(uninterrupted.encode(X[:4]), resumed.encode(X[:4]))


def test_a_training_state_without_the_average_is_refused():
    model = tiny()
    state = model.training_state()
    del state["averaged_encoder"]
    try:
        tiny().load_training_state(state)
    except ValueError as error:
        assert "averaged encoder" in str(error)
    else:
        raise AssertionError("a state without the averaged encoder was accepted")


def test_nan_timestamps_are_encoded_as_masked_ones():
    model = tiny("dilated_cnn")
    X = sine_windows(n=3)
    padded = X.copy()
    padded[:, -4:] = np.nan  # a shorter series, NaN-padded to the common length
    zeroed = X.copy()
    zeroed[:, -4:] = 0.0
    features = model.encode(padded)
    assert np.isfinite(features).all()
    # Dilated CNN: a missing timestamp is zeroed after the input projection, not at the input.
    assert not np.allclose(features, model.encode(zeroed))
    model.fit(padded, n_iters=2)  # and training on padded series stays finite
    assert np.isfinite(model.loss_history_).all()
