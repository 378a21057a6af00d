"""The detectable effect: exact McNemar power, its grid search, and the windows a gain needs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from moola.errors import MoolaError
from moola.evaluation import power, significance


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.25, 0.5])
def test_critical_counts_are_where_the_exact_test_starts_rejecting(alpha):
    for d in range(0, 60):
        rejected = [b for b in range(d + 1) if d and binomtest(b, d, 0.5, alternative="greater").pvalue < alpha]
        assert power.critical_counts(np.array([d]), alpha)[0] == (min(rejected) if rejected else d + 1)


@pytest.mark.parametrize("n, share", [(45, 0.4), (120, 0.2), (400, 0.6), (30, 0.0)])
def test_power_at_no_gain_is_at_most_alpha(n, share):
    assert power.mcnemar_power(n, share, 0.0, 0.05) <= 0.05


def test_power_rises_with_windows_and_gain():
    by_windows = [power.mcnemar_power(n, 0.3, 0.1, 0.05) for n in (50, 100, 200, 400, 800)]
    by_gain = [power.mcnemar_power(100, 0.3, g, 0.05) for g in (0.0, 0.05, 0.1, 0.2, 0.3)]
    assert np.all(np.diff(by_windows) > 0) and np.all(np.diff(by_gain) > 0)
    assert by_windows[-1] > 0.9 and by_gain[0] < 0.05


@pytest.mark.parametrize("n, share, gain", [(45, 0.4, 0.2), (100, 0.3, 0.1), (60, 0.05, 0.15)])
def test_power_matches_a_simulation_of_the_actual_test(n, share, gain):
    rng = np.random.default_rng([n, 7])
    psi = max(share, gain)
    runs = 2000
    rejections = 0
    for _ in range(runs):
        # Each window: discordant with probability psi, and then model-only with (psi + g) / (2 psi).
        discordant = rng.random(n) < psi
        model_only = discordant & (rng.random(n) < (psi + gain) / (2 * psi))
        model_right, other_right = model_only, discordant & ~model_only
        rejections += significance.mcnemar_exact(model_right, other_right, "better") < 0.05
    exact = power.mcnemar_power(n, share, gain, 0.05)
    slack = 4 * np.sqrt(exact * (1 - exact) / runs) + 1e-3
    assert abs(rejections / runs - exact) <= slack


def test_windows_for_target_is_the_smallest_n_that_reaches_the_power():
    found = power.detectability(45, 10, 8, alpha=0.05)
    needed = found["windows_for_target"]
    powers = [power.mcnemar_power(n, 0.4, 0.1, 0.05) for n in range(1, needed + 1)]
    assert powers[-1] >= 0.8 and max(powers[:-1]) < 0.8
    assert found["windows_capped"] == 0


def test_detectable_effect_is_where_the_power_stays_above_target():
    found = power.detectability(45, 10, 8, alpha=0.05)
    effect = found["detectable_effect"]
    assert power.mcnemar_power(45, 0.4, effect, 0.05) >= 0.8
    assert power.mcnemar_power(45, 0.4, round(effect - 0.001, 3), 0.05) < 0.8
    assert all(isinstance(value, (int, float)) for value in found.values())
    assert found["discordant_share"] == pytest.approx(0.4) and found["n_windows"] == 45


def test_more_windows_detect_smaller_effects():
    small = power.detectability(45, 10, 8, alpha=0.05)["detectable_effect"]
    large = power.detectability(450, 100, 80, alpha=0.05)["detectable_effect"]
    assert large < small


def test_nothing_discordant_still_gives_a_detectable_effect():
    found = power.detectability(40, 0, 0, alpha=0.05)
    # A gain g needs g of the windows discordant, all model-only: 5 of them give p = 1/32 < 0.05.
    assert 0 < found["detectable_effect"] < 1 and found["detected_within_grid"] == 1


def test_too_few_windows_say_no_gain_is_seen_and_the_cap_is_said():
    found = power.detectability(3, 1, 1, alpha=0.05)  # 3 windows: p >= 1/8 whatever happens
    assert found["detectable_effect"] == 1.0 and found["detected_within_grid"] == 0
    assert "no gain up to 100 points" in power.detectability_text(found)
    capped = dict(found, windows_for_target=power.MAX_WINDOWS, windows_capped=1)
    assert "more than 1,000,000 labels for 10" in power.detectability_text(capped)


def test_text_reads_as_one_clause():
    found = {
        "n_windows": 45,
        "detectable_effect": 0.21,
        "windows_for_target": 313,
        "power": 0.8,
        "target_gain": 0.1,
        "windows_capped": 0,
        "detected_within_grid": 1,
    }
    assert power.detectability_text(found) == (
        "with 45 windows only a gain of 21 points or more is seen 80% of the time; about 310 labels for 10"
    )


@pytest.mark.parametrize(
    "args", [(0, 0, 0, 0.05), (10, 6, 6, 0.05), (10, -1, 0, 0.05), (10, 1, 1, 0.0), (10, 1, 1, 1.5)]
)
def test_bad_input_is_one_clear_error(args):
    with pytest.raises(MoolaError):
        power.detectability(*args)
