"""Compiled (numba) CPU kernels of the MiniRocket transform: kernel outputs and PPV pooling."""

from __future__ import annotations

import numba
import numpy as np

# The 84 kernels' weight-2 positions (every choice of 3 out of 9), in itertools.combinations order.
_POSITIONS = np.array(
    [(a, b, c) for a in range(9) for b in range(a + 1, 9) for c in range(b + 1, 9)], dtype=np.int64
)  # (84, 3)


@numba.njit(nogil=True, cache=True)
def _pad_series(x, max_padding, padded):
    """Copy one series (T, C) into the middle of the zeroed (C, T + 2 * max_padding) buffer."""
    length, channels = x.shape
    padded[:] = 0.0
    for c in range(channels):
        for t in range(length):
            padded[c, max_padding + t] = x[t, c]


@numba.njit(nogil=True, cache=True)
def _nine_sums(padded, max_padding, dilation, length, sums):
    """sums[c, t] = sum over j = 0..8 of x[c, t + (j - 4) * dilation] (zero outside): (C, T)."""
    base = max_padding - 4 * dilation
    for c in range(padded.shape[0]):
        total = sums[c]
        first = padded[c, base : base + length]
        for t in range(length):
            total[t] = first[t]
        for j in range(1, 9):
            # Slices, not offset indices: numba then knows the index is >= 0 and vectorises.
            shifted = padded[c, base + j * dilation : base + j * dilation + length]
            for t in range(length):
                total[t] += shifted[t]


@numba.njit(nogil=True, cache=True)
def _combine(source, source_sums, base, dilation, kernel, out):
    """out[t] = 3 * (source at kernel's three weight-2 shifts)[t] - source_sums[t]: one -1/2 kernel."""
    length = out.shape[0]
    s0 = base + _POSITIONS[kernel, 0] * dilation
    s1 = base + _POSITIONS[kernel, 1] * dilation
    s2 = base + _POSITIONS[kernel, 2] * dilation
    x0 = source[s0 : s0 + length]
    x1 = source[s1 : s1 + length]
    x2 = source[s2 : s2 + length]
    for t in range(length):
        out[t] = np.float32(3.0) * (x0[t] + x1[t] + x2[t]) - source_sums[t]


@numba.njit(nogil=True, cache=True)
def _subset_sum(padded, sums, base, dilation, channels, size, window, window_sums):
    """Add a channel subset's padded series and nine-sums (the kernel is linear in the channels).

    Args:
        padded: (C, W) zero-padded series; only [base, base + 8 * dilation + T) is read.
        sums: (C, T) nine-sums of each channel at this dilation.
        base: offset of shift 0 in padded (max padding - 4 * dilation).
        dilation: the dilation.
        channels: (C,) int64, the subset's channels first, ascending.
        size: number of channels in the subset.
        window: (W,) float32 output, written on the span read.
        window_sums: (T,) float32 output.
    """
    length = window_sums.shape[0]
    span = 8 * dilation + length
    target = window[base : base + span]
    first = padded[channels[0], base : base + span]
    first_sums = sums[channels[0]]
    for i in range(span):
        target[i] = first[i]
    for t in range(length):
        window_sums[t] = first_sums[t]
    for m in range(1, size):
        more = padded[channels[m], base : base + span]
        more_sums = sums[channels[m]]
        for i in range(span):
            target[i] += more[i]
        for t in range(length):
            window_sums[t] += more_sums[t]


@numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
def _count_positive(out, lo, hi, bias):
    """How many of out[lo:hi] exceed bias, counted in float32.

    The count is exact below 2**24, so letting LLVM reassociate the sum (which lets it
    vectorise; no other fast-math flag is set) cannot change the result.
    """
    pooled = out[lo:hi]  # a slice, so the index below is known to be >= 0 and the loop vectorises
    positive = np.float32(0.0)
    for t in range(pooled.shape[0]):
        positive += np.float32(1.0) if pooled[t] > bias else np.float32(0.0)
    return positive


@numba.njit(nogil=True, cache=True)
def transform_rows(X, dilations, features_per_dilation, subset_channels, subset_sizes, kernel_subset, biases, features):
    """PPV features of series X (N, T, C) float32 into features (N, F) float32.

    Each kernel/dilation sums its output over a channel subset; the distinct subsets of a
    dilation are summed once per series and shared by the kernels that draw them.

    Args:
        X: (N, T, C) float32, C-contiguous.
        dilations: (D,) int64, ascending.
        features_per_dilation: (D,) int64, biases per kernel at each dilation.
        subset_channels: (D, S, C) int64, the channels of dilation d's distinct subset s, first,
            ascending.
        subset_sizes: (D, S) int64, channels in each subset; 0 after a dilation's last subset.
        kernel_subset: (D, 84) int64, which subset of its dilation each kernel uses.
        biases: (F,) float32, ordered dilation, kernel, quantile.
        features: (N, F) float32 output, written in place.
    """
    n_series, length, channels = X.shape
    max_padding = 4 * dilations[-1]
    width = length + 2 * max_padding
    padded = np.empty((channels, width), dtype=np.float32)
    sums = np.empty((channels, length), dtype=np.float32)
    windows = np.empty((subset_sizes.shape[1], width), dtype=np.float32)
    window_sums = np.empty((subset_sizes.shape[1], length), dtype=np.float32)
    out = np.empty(length, dtype=np.float32)
    for n in range(n_series):
        _pad_series(X[n], max_padding, padded)
        offset = 0
        for d_index in range(dilations.shape[0]):
            dilation = dilations[d_index]
            per_kernel = features_per_dilation[d_index]
            padding = 4 * dilation
            base = max_padding - padding
            _nine_sums(padded, max_padding, dilation, length, sums)
            for s in range(subset_sizes.shape[1]):
                size = subset_sizes[d_index, s]
                if size == 0:
                    break
                _subset_sum(padded, sums, base, dilation, subset_channels[d_index, s], size, windows[s], window_sums[s])
            for kernel in range(84):
                s = kernel_subset[d_index, kernel]
                _combine(windows[s], window_sums[s], base, dilation, kernel, out)
                # Padding alternates: (d_index + kernel) even pools over the full zero-padded
                # output, odd over the valid part only.
                if (d_index + kernel) % 2 == 0:
                    lo, hi = 0, length
                else:
                    lo, hi = padding, length - padding
                pooled = np.float32(hi - lo)
                for q in range(per_kernel):
                    # PPV: the share of positive (output - bias); a true division, like torch's.
                    features[n, offset + q] = _count_positive(out, lo, hi, biases[offset + q]) / pooled
                offset += per_kernel


@numba.njit(nogil=True, cache=True)
def own_outputs(examples, dilation, max_dilation, channels, sizes, outputs):
    """Kernel k's zero-padded output on series examples[k], at one dilation: (84, T, C) -> (84, T).

    The same arithmetic as `transform_rows`, so a bias fitted on these outputs compares with
    the transform's outputs of the same series bit for bit.

    Args:
        examples: (84, T, C) float32, one training series per kernel.
        dilation: the dilation.
        max_dilation: the largest fitted dilation (sets the padding, as in `transform_rows`).
        channels: (84, C) int64, each kernel's channels first, ascending.
        sizes: (84,) int64, channels in each kernel's subset.
        outputs: (84, T) float32 output, written in place.
    """
    _, length, n_channels = examples.shape
    max_padding = 4 * max_dilation
    base = max_padding - 4 * dilation
    width = length + 2 * max_padding
    padded = np.empty((n_channels, width), dtype=np.float32)
    sums = np.empty((n_channels, length), dtype=np.float32)
    window = np.empty(width, dtype=np.float32)
    window_sums = np.empty(length, dtype=np.float32)
    for kernel in range(84):
        _pad_series(examples[kernel], max_padding, padded)
        _nine_sums(padded, max_padding, dilation, length, sums)
        _subset_sum(padded, sums, base, dilation, channels[kernel], sizes[kernel], window, window_sums)
        _combine(window, window_sums, base, dilation, kernel, outputs[kernel])
