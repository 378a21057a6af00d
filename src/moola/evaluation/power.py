"""The detectable effect of a paired accuracy comparison: what this many windows could have shown.

Method (`METHOD`, docs/METRICS.md "The detectable effect"): the exact power of the one-sided
exact McNemar test of `significance.mcnemar_exact` at the observed share of discordant windows.
With n windows, discordant share psi and a true accuracy gain g (psi >= g), the number of
discordant windows is D ~ Binomial(n, psi); given D, the model-only count is b ~ Binomial(D,
(psi + g) / (2 psi)); the test rejects when P(Binomial(D, 1/2) >= b) < alpha. The power is that
sum over D and b, evaluated exactly with scipy.stats.binom (only the outermost tails of D, of total
mass below 1e-14, are left out).
"""

from __future__ import annotations

import math

import numpy as np

from moola.errors import MoolaError

METHOD = (
    "exact power of the one-sided exact McNemar test at the observed discordant share "
    "(gain on a 0.001 grid, windows by bisection)"
)
GAIN_GRID = np.round(np.arange(1, 1001) * 0.001, 3)  # 0.001 .. 1.000
MAX_WINDOWS = 1_000_000  # windows_for_target is capped here
_TAIL = 1e-14  # probability mass of D left out on each side
_CELLS = 4_000_000  # (gains, D) cells evaluated at once


def critical_counts(discordant: np.ndarray, alpha: float) -> np.ndarray:
    """Smallest model-only count b with P(Binomial(D, 1/2) >= b) < alpha, for each D (D + 1: never).

    Args:
        discordant: (m,) int numbers of discordant windows D >= 0.
        alpha: the test's level, in (0, 1).

    Returns:
        (m,) int64 critical counts; the exact McNemar test rejects exactly when b >= the count.
    """
    from scipy.stats import binom

    d = np.asarray(discordant, dtype=np.int64)
    start = binom.isf(alpha, np.maximum(d, 1), 0.5)  # smallest k with P(X > k) <= alpha
    crit = np.where(np.isfinite(start), start + 1, d + 1).astype(np.int64)
    crit = np.clip(crit, 0, d + 1)
    # isf may sit one step off at ties (P = alpha exactly) or by rounding: settle both ways.
    for _ in range(4):
        crit += (crit <= d) & (binom.sf(crit - 1, d, 0.5) >= alpha)
    for _ in range(4):
        crit -= (crit >= 1) & (binom.sf(crit - 2, d, 0.5) < alpha)
    return np.where(d == 0, 1, crit)


def _power_at_gains(n_windows: int, discordant_share: float, gains: np.ndarray, alpha: float) -> np.ndarray:
    """(G,) exact power of the one-sided exact McNemar test at each gain (see the module docstring)."""
    from scipy.stats import binom

    gains = np.asarray(gains, dtype=np.float64)
    out = np.empty(gains.size)
    chunk = max(1, _CELLS // (n_windows + 1))
    for first in range(0, gains.size, chunk):
        g = gains[first : first + chunk]
        psi = np.clip(np.maximum(discordant_share, g), 0.0, 1.0)  # (G,)
        low = int(binom.ppf(_TAIL, n_windows, psi.min())) if psi.min() > 0 else 0
        high = int(binom.isf(_TAIL, n_windows, psi.max())) + 1 if psi.max() < 1 else n_windows
        d = np.arange(max(low - 1, 0), min(high, n_windows) + 1)  # (D,)
        crit = critical_counts(d, alpha)  # (D,)
        q = np.divide(psi + g, 2.0 * psi, out=np.full_like(psi, 0.5), where=psi > 0).clip(0.0, 1.0)
        weight = binom.pmf(d[None, :], n_windows, psi[:, None])  # (G, D)
        rejects = binom.sf(crit[None, :] - 1, d[None, :], q[:, None])  # (G, D)
        out[first : first + chunk] = np.sum(weight * rejects, axis=1)
    return np.clip(out, 0.0, 1.0)


def mcnemar_power(n_windows: int, discordant_share: float, gain: float, alpha: float) -> float:
    """Power of the one-sided exact McNemar test to see a true accuracy gain (module docstring).

    Args:
        n_windows: n, windows compared (>= 0).
        discordant_share: psi, share of windows where exactly one of the two is right, in [0, 1];
            max(psi, gain) is used, since a gain g needs at least g discordant.
        gain: g, the true accuracy gain of the model over the other, in [0, 1].
        alpha: the test's level, in (0, 1).

    Returns:
        The probability that the test rejects "equally accurate" at level alpha.
    """
    _check(alpha, 0.5)
    if n_windows < 0 or not 0 <= discordant_share <= 1 or not 0 <= gain <= 1:
        raise MoolaError(
            f"power needs n_windows >= 0 and discordant_share, gain in [0, 1], "
            f"got {n_windows}, {discordant_share}, {gain}"
        )
    return float(_power_at_gains(int(n_windows), float(discordant_share), np.array([gain]), alpha)[0])


def windows_needed(discordant_share: float, gain: float, alpha: float, power: float = 0.8) -> tuple[int, bool]:
    """(smallest n whose power at `gain` reaches `power`, capped) at a fixed discordant share.

    The power rises with n up to the exact test's small steps; doubling finds an n that reaches
    `power`, bisection then the n with power(n) >= `power` > power(n - 1).

    Returns:
        (n, capped): capped is True when even MAX_WINDOWS windows fall short (n = MAX_WINDOWS then).
    """
    _check(alpha, power)
    if gain <= 0:
        return MAX_WINDOWS, True

    def enough(n: int) -> bool:
        return mcnemar_power(n, discordant_share, gain, alpha) >= power

    low, high = 0, 1
    while not enough(high):
        if high >= MAX_WINDOWS:
            return MAX_WINDOWS, True
        low, high = high, min(2 * high, MAX_WINDOWS)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high, False


def detectability(
    n_windows: int, n_model_only: int, n_other_only: int, alpha: float, power: float = 0.8, target_gain: float = 0.10
) -> dict:
    """The detectable effect and the windows a target gain needs, as plain numbers (module docstring).

    Args:
        n_windows: windows compared (>= 1).
        n_model_only: windows where only the model is right.
        n_other_only: windows where only the other (baseline or run) is right.
        alpha: the test's level, params key evaluate.alpha.
        power: the power asked for (0.8).
        target_gain: the gain whose window count is reported (0.10 = 10 points).

    Returns:
        {"detectable_effect": the smallest gain on the 0.001 grid from which the power stays
        >= `power` (1.0 when none does), "windows_for_target": smallest n with power >= `power`
        at `target_gain` (MAX_WINDOWS when capped), "windows_capped": 0 | 1, "target_gain",
        "power", "discordant_share", "n_windows"}; all numbers, so `dvc metrics diff` shows them.
    """
    _check(alpha, power)
    if n_windows < 1 or n_model_only < 0 or n_other_only < 0 or n_model_only + n_other_only > n_windows:
        raise MoolaError(
            f"detectable effect needs n_windows >= 1 and 0 <= discordant counts summing to at most n_windows, "
            f"got {n_windows}, {n_model_only}, {n_other_only}"
        )
    if not 0 < target_gain <= 1:
        raise MoolaError(f"detectable effect: target_gain must be in (0, 1], got {target_gain}")
    share = (n_model_only + n_other_only) / n_windows
    reached = _power_at_gains(int(n_windows), share, GAIN_GRID, alpha) >= power
    short = np.flatnonzero(~reached)
    if reached[-1]:
        effect = float(GAIN_GRID[short[-1] + 1]) if short.size else float(GAIN_GRID[0])
    else:
        effect = 1.0
    needed, capped = windows_needed(share, target_gain, alpha, power)
    return {
        "detectable_effect": effect,
        "windows_for_target": int(needed),
        "windows_capped": int(capped),
        "detected_within_grid": int(bool(reached[-1])),
        "target_gain": float(target_gain),
        "power": float(power),
        "discordant_share": float(share),
        "n_windows": int(n_windows),
    }


def detectability_text(d: dict) -> str:
    """ "with 45 windows only a gain of 21 points or more is seen 80% of the time; about 310 labels for 10"."""
    n, seen = d["n_windows"], f"{d['power']:.0%}"
    target = f"{100 * d['target_gain']:.3g}"
    if d.get("detected_within_grid", 1):
        points = math.ceil(round(100 * d["detectable_effect"], 6))
        head = f"with {n} windows only a gain of {points} points or more is seen {seen} of the time"
    else:
        head = f"with {n} windows no gain up to 100 points is seen {seen} of the time"
    if d.get("windows_capped", 0):
        return f"{head}; more than {MAX_WINDOWS:,} labels for {target}"
    return f"{head}; about {_two_figures(d['windows_for_target']):,} labels for {target}"


def _two_figures(count: int) -> int:
    """`count` rounded to two significant figures (313 -> 310, 1260 -> 1300)."""
    if count < 100:
        return int(count)
    scale = 10 ** (int(math.log10(count)) - 1)
    return int(round(count / scale) * scale)


def _check(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise MoolaError(f"params key evaluate.alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise MoolaError(f"detectable effect: power must be in (0, 1), got {power}")
