"""MiniRocket (Dempster, Schmidt & Webb, KDD 2021): numba kernels on CPU, torch on CUDA, calibrated linear classifier.

The transform, as published in "MINIROCKET: A Very Fast (Almost) Deterministic Transform for
Time Series Classification":

- 84 fixed kernels of length 9 whose weights are -1 except three positions weighted 2 (every
  choice of 3 positions out of 9). Because the weights sum to zero, a kernel's output is
  `3 * (sum of its 3 chosen shifted copies) - (sum of all 9 shifted copies)`. On CPU the
  compiled kernels (`minirocket_kernels`) build, per series and dilation, each channel's
  all-nine sum and each distinct channel subset's sum once, then each kernel from three shifted
  reads; on CUDA the 9 dilated shifts of a chunk are built once per dilation and one matrix
  product combines them for all 84 kernels.
- Dilations spread exponentially from 1 up to the input length (at most
  `max_dilations_per_kernel` distinct values); smaller dilations, which repeat after
  flooring, get proportionally more features.
- Biases: for each kernel/dilation, quantiles of the kernel's output on one randomly chosen
  training example, at the low-discrepancy quantiles frac(i * golden ratio).
- Padding alternates: half of the kernel/dilation combinations pool over the zero-padded output
  (full length), the other half over the valid part only.
- PPV pooling: each feature is the proportion of positive values of (output - bias).
- Multivariate: each kernel/dilation sums its output over a random subset of the channels
  (1 to min(C, 9) channels, the subset size drawn as floor(2 ** U(0, log2(min(C, 9) + 1)))).

Classifier: features are standardised (mean/std fitted on the training rows) and fed to a
multinomial logistic regression (`classifier="logistic"`, inverse L2 strength `C`), whose
softmax gives calibrated-enough probabilities for the metrics pack. `classifier="ridge"` is the
paper's classifier (RidgeClassifierCV over alphas 10**-3..10**3); its decision values become
probabilities through a softmax whose temperature is fitted on the ridge's own leave-one-out
decision values, so the temperature is not fitted on scores the ridge has memorised.

Everything fitted is a tensor, so `state_dict()` loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch

from moola.errors import MoolaError
from moola.params import require

KERNEL_LENGTH = 9
# Positions (out of 9) that carry weight 2 in each of the 84 kernels; the other six carry -1.
KERNEL_POSITIONS: tuple[tuple[int, int, int], ...] = tuple(itertools.combinations(range(KERNEL_LENGTH), 3))
NUM_KERNELS = len(KERNEL_POSITIONS)  # 84
GOLDEN_RATIO = (1.0 + math.sqrt(5.0)) / 2.0
RIDGE_ALPHAS = np.logspace(-3, 3, 10)  # the paper's RidgeClassifierCV grid

# PPV compares every kernel output with every bias of its kernel/dilation in a float32 scratch
# buffer; these bound the buffer (64 MiB per CPU worker, 1 GiB on a GPU) and so the chunk size.
_COMPARE_BUFFER_ELEMENTS = 16 * 1024 * 1024
_CUDA_COMPARE_BUFFER_ELEMENTS = 256 * 1024 * 1024
_CPU_CHUNK = 64  # series per call of the compiled kernels: enough to spread over the workers
_TORCH_CPU_CHUNK = 8  # series per chunk of the torch path on CPU: small enough for one core's cache
_CUDA_CHUNK = 1024  # series per chunk on a GPU: large enough to keep it busy


@dataclass
class MiniRocketConfig:
    """Params section `minirocket:`."""

    num_features: int = 9996  # transform size; rounded down to a multiple of 84 (>= 84)
    max_dilations_per_kernel: int = 32  # distinct dilations per kernel (the paper's 32)
    classifier: Literal["logistic", "ridge"] = "logistic"  # logistic: calibrated softmax; ridge: the paper's
    C: float = 1.0  # inverse L2 strength of the logistic classifier (> 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        require(self.num_features >= NUM_KERNELS, "minirocket.num_features", f"must be >= 84, got {self.num_features}")
        require(
            self.max_dilations_per_kernel >= 1,
            "minirocket.max_dilations_per_kernel",
            f"must be >= 1, got {self.max_dilations_per_kernel}",
        )
        require(self.C > 0, "minirocket.C", f"must be > 0, got {self.C}")


def fit_dilations(input_length: int, num_features: int, max_dilations_per_kernel: int) -> tuple[list[int], list[int]]:
    """Dilations spread exponentially up to the input length, and the features each one gets.

    Args:
        input_length: bars per series T (>= 9).
        num_features: requested transform size (rounded down to a multiple of 84).
        max_dilations_per_kernel: cap on the number of exponents drawn.

    Returns:
        (dilations, features_per_dilation): features are per kernel, so the transform has
        84 * sum(features_per_dilation) features.
    """
    features_per_kernel = num_features // NUM_KERNELS
    exponents_drawn = min(features_per_kernel, max_dilations_per_kernel)
    multiplier = features_per_kernel / exponents_drawn
    # The largest dilation makes the kernel's receptive field (8 * d + 1) span the whole series.
    max_exponent = math.log2((input_length - 1) / (KERNEL_LENGTH - 1))
    floored = np.floor(np.logspace(0, max_exponent, exponents_drawn, base=2)).astype(np.int64)
    dilations, repeats = np.unique(floored, return_counts=True)
    features = np.floor(repeats * multiplier).astype(np.int64)
    # Rounding leaves a few features over; they go to the smallest dilations first.
    remainder = features_per_kernel - int(features.sum())
    for i in range(remainder):
        features[i % len(features)] += 1
    return [int(d) for d in dilations], [int(f) for f in features]


def low_discrepancy_quantiles(count: int) -> np.ndarray:
    """The quantiles frac(i * golden ratio), i = 1..count: evenly spread for any prefix."""
    return (np.arange(1, count + 1, dtype=np.float64) * GOLDEN_RATIO) % 1.0


def _kernel_selection() -> torch.Tensor:
    """(84, 9) 0/1 matrix: row k marks the three positions weighted 2 in kernel k."""
    selection = torch.zeros(NUM_KERNELS, KERNEL_LENGTH)
    for k, positions in enumerate(KERNEL_POSITIONS):
        selection[k, list(positions)] = 1.0
    return selection


def _as_float_tensor(X: Any, name: str) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        tensor = X.detach().to(dtype=torch.float32, device="cpu")
    else:
        try:
            array = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError):
            raise MoolaError(f"MiniRocket: {name} must be a numeric array of shape (N, T, C)") from None
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim != 3:
        raise MoolaError(
            f"MiniRocket: {name} must have shape (N, T, C) (windows, bars, channels), got {tuple(tensor.shape)}; "
            "add a channel axis for univariate series: X[:, :, None]"
        )
    if tensor.shape[0] == 0:
        raise MoolaError(f"MiniRocket: {name} holds no series (N = 0)")
    if tensor.shape[1] < KERNEL_LENGTH:
        raise MoolaError(f"MiniRocket: {name} has T = {tensor.shape[1]} bars; the kernels need T >= {KERNEL_LENGTH}")
    if not bool(torch.isfinite(tensor).all()):
        row = int((~torch.isfinite(tensor)).flatten(1).any(1).nonzero()[0, 0])
        raise MoolaError(f"MiniRocket: {name} row {row} holds NaN or infinite values: clean or drop that series")
    return tensor


def _bar(starts: list[int]) -> Iterator[int]:
    """The transform's chunk starts, with a bar on a terminal when a transform runs past a second."""
    from moola.progress import progress

    return progress(starts, total=len(starts), desc="MiniRocket transform", unit="chunk", leave=False, delay=1.0)


def _resolve_device(device: Any) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MoolaError("MiniRocket: device 'cuda' was asked for but no CUDA GPU is visible: use device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise MoolaError(f"MiniRocket: device must be 'cpu' or 'cuda', got {device!r}")
    return dev


class MiniRocket:
    """MiniRocket transform + linear classifier, scikit-learn style, on (N, T, C) float arrays.

    Works standalone on any T >= 9 and any number of channels C, on CPU or CUDA:

        model = MiniRocket(seed=0).fit(X_train, y_train)   # X: (N, T, C), y: integer labels
        proba = model.predict_proba(X_test)                 # (N, n_classes), rows sum to 1

    Hyperparameters are set only in `__init__`; fitted state ends in `_`.

    Args:
        num_features: transform size, rounded down to a multiple of 84.
        max_dilations_per_kernel: cap on distinct dilations (the paper uses 32).
        classifier: "logistic" (default, calibrated) or "ridge" (the paper's).
        C: inverse L2 strength of the logistic regression.
        seed: drives every random draw (channel subsets, bias examples); same seed, same model.
        device: "cpu" or "cuda"; the transform and the classifier run there.
        chunk_size: series transformed at once (default 64 on CPU, 1024 on CUDA); bounds memory,
            does not change results.
        n_classes: when set, probabilities have columns 0..n_classes-1 even if a class is
            absent from the training labels (its column is 0); else columns are the seen labels.
    """

    kind = "minirocket"

    def __init__(
        self,
        num_features: int = 9996,
        max_dilations_per_kernel: int = 32,
        classifier: Literal["logistic", "ridge"] = "logistic",
        C: float = 1.0,
        seed: int = 0,
        device: Any = "cpu",
        chunk_size: int | None = None,
        n_classes: int | None = None,
    ):
        self.config = MiniRocketConfig(num_features, max_dilations_per_kernel, classifier, C)
        self.config.validate()
        if chunk_size is not None and chunk_size < 1:
            raise MoolaError(f"MiniRocket: chunk_size must be >= 1, got {chunk_size}")
        if n_classes is not None and n_classes < 2:
            raise MoolaError(f"MiniRocket: n_classes must be >= 2, got {n_classes}")
        self.seed = int(seed)
        self.device = _resolve_device(device)
        self.chunk_size = chunk_size
        self.n_classes = n_classes
        self._fitted = False

    # ------------------------------------------------------------------ sklearn-style API

    def to(self, device: Any) -> "MiniRocket":
        """Move the fitted state to `device` ("cpu" or "cuda"); returns self, like nn.Module.to."""
        self.device = _resolve_device(device)
        if self._fitted:
            self.load_state_dict(self.state_dict())
        return self

    @property
    def num_output_features(self) -> int:
        """Transform size: 84 * floor(num_features / 84)."""
        return NUM_KERNELS * (self.config.num_features // NUM_KERNELS)

    def fit(self, X: Any, y: Any) -> "MiniRocket":
        """Fit dilations, channel subsets and biases on X, then the classifier on transform(X).

        Args:
            X: (N, T, C) float array or tensor of training series only.
            y: (N,) integer class labels.

        Returns:
            self.
        """
        series = _as_float_tensor(X, "X")
        labels = self._check_labels(y, len(series))
        self._fitted = False  # a fit that fails half-way must not leave a usable mixture
        self._fit_transform_parameters(series)
        features = self._transform_tensor(series)
        self._fit_classifier(features, labels)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """PPV features of X: (N, T, C) -> (N, num_output_features) float32; never refits."""
        self._require_fitted("transform")
        return self._transform_tensor(_as_float_tensor(X, "X")).cpu().numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, n_classes) float64; columns follow `classes_`."""
        self._require_fitted("predict_proba")
        features = self._transform_tensor(_as_float_tensor(X, "X"))
        logits = self._logits(features)  # (N, K_seen)
        proba_seen = torch.softmax(logits.double(), dim=1).cpu().numpy()
        if self.n_classes is None:
            return proba_seen
        proba = np.zeros((len(proba_seen), self.n_classes), dtype=np.float64)
        proba[:, self.seen_classes_.cpu().numpy()] = proba_seen
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label per series (N,) int64."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    @property
    def classes_(self) -> np.ndarray:
        """Labels of the `predict_proba` columns."""
        self._require_fitted("classes_")
        if self.n_classes is not None:
            return np.arange(self.n_classes, dtype=np.int64)
        return self.seen_classes_.cpu().numpy()

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every fitted quantity as a CPU tensor (loadable with torch.load(weights_only=True))."""
        self._require_fitted("state_dict")
        state = {
            "input_length": torch.tensor(self.input_length_),
            "num_channels": torch.tensor(self.num_channels_),
            "dilations": self.dilations_,
            "features_per_dilation": self.features_per_dilation_,
            "channel_mask": self.channel_mask_,
            "biases": self.biases_,
            "feature_mean": self.feature_mean_,
            "feature_scale": self.feature_scale_,
            "coef": self.coef_,
            "intercept": self.intercept_,
            "temperature": self.temperature_,
            "classes": self.seen_classes_,
        }
        return {key: value.detach().cpu().clone() for key, value in state.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> "MiniRocket":
        """Restore a fitted model from `state_dict()` output; shapes are checked against this config."""
        expected = (
            "input_length num_channels dilations features_per_dilation channel_mask biases "
            "feature_mean feature_scale coef intercept temperature classes"
        ).split()
        missing = [key for key in expected if key not in state]
        if missing:
            raise MoolaError(
                f"MiniRocket state is missing {', '.join(missing)}: it was not saved by MiniRocket.state_dict()"
            )
        features = int(state["biases"].numel())
        if features != self.num_output_features:
            raise MoolaError(
                f"MiniRocket state has {features} features but this model is configured for "
                f"{self.num_output_features} (minirocket.num_features = {self.config.num_features}): "
                "use the config the state was saved with"
            )
        dev = self.device
        self.input_length_ = int(state["input_length"])
        self.num_channels_ = int(state["num_channels"])
        self.dilations_ = state["dilations"].to(torch.int64).cpu()
        self.features_per_dilation_ = state["features_per_dilation"].to(torch.int64).cpu()
        self.channel_mask_ = state["channel_mask"].to(torch.bool).cpu()
        self.biases_ = state["biases"].to(dev, torch.float32)
        self.feature_mean_ = state["feature_mean"].to(dev, torch.float32)
        self.feature_scale_ = state["feature_scale"].to(dev, torch.float32)
        self.coef_ = state["coef"].to(dev, torch.float32)
        self.intercept_ = state["intercept"].to(dev, torch.float32)
        self.temperature_ = state["temperature"].to(dev, torch.float32)
        self.seen_classes_ = state["classes"].to(torch.int64).cpu()
        if self.n_classes is not None and int(self.seen_classes_.max()) >= self.n_classes:
            raise MoolaError(
                f"MiniRocket state knows class {int(self.seen_classes_.max())} but n_classes = {self.n_classes}"
            )
        self._build_kernel_weights()
        self._fitted = True
        return self

    # ------------------------------------------------------------------ transform internals

    def _require_fitted(self, what: str) -> None:
        if not self._fitted:
            raise MoolaError(f"MiniRocket.{what} needs a fitted model: call fit(X, y) or load_state_dict() first")

    def _check_labels(self, y: Any, n_rows: int) -> torch.Tensor:
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != n_rows:
            raise MoolaError(f"MiniRocket: y must have shape ({n_rows},) to match X, got {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise MoolaError(
                f"MiniRocket: y must hold integer class labels, got dtype {labels.dtype}; "
                "encode them with np.unique(y, return_inverse=True)"
            )
        if len(np.unique(labels)) < 2:
            raise MoolaError("MiniRocket: y holds a single class; the classifier needs at least two")
        if self.n_classes is not None and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise MoolaError(
                f"MiniRocket: labels must lie in 0..{self.n_classes - 1}, got {labels.min()}..{labels.max()}"
            )
        return torch.from_numpy(labels.astype(np.int64))

    def _fit_transform_parameters(self, series: torch.Tensor) -> None:
        """Dilations, channel subsets and biases, from the training series only."""
        n_series, input_length, num_channels = series.shape
        rng = np.random.default_rng(self.seed)
        dilations, features_per_dilation = fit_dilations(
            input_length, self.config.num_features, self.config.max_dilations_per_kernel
        )
        self.input_length_ = int(input_length)
        self.num_channels_ = int(num_channels)
        self.dilations_ = torch.tensor(dilations, dtype=torch.int64)
        self.features_per_dilation_ = torch.tensor(features_per_dilation, dtype=torch.int64)

        # Random channel subset per kernel/dilation (the multivariate variant); C = 1 gives {0}.
        max_subset = min(num_channels, KERNEL_LENGTH)
        mask = torch.zeros(len(dilations), NUM_KERNELS, num_channels, dtype=torch.bool)
        for d in range(len(dilations)):
            for k in range(NUM_KERNELS):
                size = int(2 ** rng.uniform(0, math.log2(max_subset + 1)))
                mask[d, k, rng.choice(num_channels, size, replace=False)] = True
        self.channel_mask_ = mask
        self._build_kernel_weights()

        # Biases: quantiles of each kernel's output on one random training series.
        quantiles = low_discrepancy_quantiles(self.num_output_features)
        biases = torch.empty(self.num_output_features, dtype=torch.float32)
        offset = 0
        for d_index, (dilation, per_kernel) in enumerate(zip(dilations, features_per_dilation, strict=False)):
            examples = torch.from_numpy(rng.integers(0, n_series, NUM_KERNELS))
            own = self._own_outputs(series[examples], d_index, dilation)  # kernel k on example k: (84, T)
            count = NUM_KERNELS * per_kernel
            q = torch.from_numpy(quantiles[offset : offset + count].reshape(NUM_KERNELS, per_kernel))
            biases[offset : offset + count] = _row_quantiles(own.double().cpu(), q).float().flatten()
            offset += count
        self.biases_ = biases.to(self.device)

    def _build_kernel_weights(self) -> None:
        """Per dilation, the (84, C * 10) weights that turn shifted copies into the 84 kernel outputs.

        The columns follow `_kernel_outputs`' stack: for each channel its 9 shifted copies, then
        each channel's sum of all 9. Row k holds 3 on the copies at kernel k's three weight-2
        positions and -1 on the all-9 sums, for the channels in its subset only (0 elsewhere):
        output_k = 3 * (sum of its 3 shifted copies) - (sum of all 9), summed over its channels,
        which is the paper's formulation of the -1/2 kernel.
        """
        selection = _kernel_selection()  # (84, 9)
        mask = self.channel_mask_.to(torch.float32)  # (D, 84, C)
        chosen_three = mask[:, :, :, None] * selection[None, :, None, :]  # (D, 84, C, 9)
        weights = torch.cat([3.0 * chosen_three.flatten(2), -mask], dim=2)  # (D, 84, C*9 + C)
        self._kernel_weights = weights.to(self.device)
        self._subset_tables = _subset_tables(self.channel_mask_.numpy())

    def _own_outputs(self, examples: torch.Tensor, d_index: int, dilation: int) -> torch.Tensor:
        """Kernel k's zero-padded output on series examples[k] at one dilation: (84, T, C) -> (84, T).

        On CPU the compiled kernels compute it with the transform's own arithmetic; on CUDA the
        torch path does (all 84 kernels on every example, then the diagonal).
        """
        if self.device.type == "cpu":
            minirocket_kernels = _compiled_kernels()
            mask = self.channel_mask_[d_index].numpy()  # (84, C)
            channels = np.argsort(~mask, axis=1, kind="stable").astype(np.int64)  # subset first, ascending
            outputs = np.empty((NUM_KERNELS, examples.shape[1]), dtype=np.float32)
            minirocket_kernels.own_outputs(
                np.ascontiguousarray(examples.numpy()),
                dilation,
                int(self.dilations_[-1]),
                channels,
                mask.sum(1).astype(np.int64),
                outputs,
            )
            return torch.from_numpy(outputs)
        x = examples.to(self.device).permute(0, 2, 1).contiguous()  # (84, T, C) -> (84, C, T)
        outputs = self._kernel_outputs(x, d_index, dilation)  # (84 examples, 84 kernels, T)
        return outputs[torch.arange(NUM_KERNELS), torch.arange(NUM_KERNELS)]  # (84, T)

    def _kernel_outputs(self, x: torch.Tensor, d_index: int, dilation: int) -> torch.Tensor:
        """All 84 kernels at one dilation, zero-padded ('same' length): (B, C, T) -> (B, 84, T)."""
        batch, channels, length = x.shape
        padding = (KERNEL_LENGTH // 2) * dilation
        padded = torch.nn.functional.pad(x, (padding, padding))  # (B, C, T + 2 * padding)
        stack = torch.empty(batch, channels * (KERNEL_LENGTH + 1), length, device=x.device)  # (B, C*10, T)
        shifts = stack[:, : channels * KERNEL_LENGTH].view(batch, channels, KERNEL_LENGTH, length)
        # shifts[b, c, j, t] = x[b, c, t + (j - 4) * dilation]: the 9 dilated copies, built once per dilation
        shifts.copy_(padded.unfold(2, length, dilation))
        torch.sum(shifts, dim=2, out=stack[:, channels * KERNEL_LENGTH :])  # (B, C, T): all 9, once
        # One matrix product combines them for all 84 kernels (the weights are 3, -1 and 0).
        return torch.matmul(self._kernel_weights[d_index], stack)  # (84, C*10) @ (B, C*10, T) -> (B, 84, T)

    def _transform_tensor(self, series: torch.Tensor) -> torch.Tensor:
        """(N, T, C) CPU float tensor -> (N, F) PPV features on self.device.

        CPU: the compiled kernels (`minirocket_kernels`), chunks of series shared among
        `torch.get_num_threads()` worker threads (the kernels release the GIL). CUDA: torch.
        """
        _, input_length, num_channels = series.shape
        if (input_length, num_channels) != (self.input_length_, self.num_channels_):
            raise MoolaError(
                f"MiniRocket was fitted on series of T = {self.input_length_} bars x C = {self.num_channels_} "
                f"channels, got T = {input_length} x C = {num_channels}: transform series of the fitted shape"
            )
        if self.device.type == "cpu":
            return self._transform_compiled(series)
        return self._transform_torch(series)

    def _transform_compiled(self, series: torch.Tensor) -> torch.Tensor:
        """(N, T, C) CPU float tensor -> (N, F) PPV features with the compiled CPU kernels.

        Each worker claims chunks of `chunk_size` series (default 64) in turn; a series' features
        do not depend on its chunk or worker, so the result is the same for any thread count.
        """
        minirocket_kernels = _compiled_kernels()
        X = np.ascontiguousarray(series.numpy(), dtype=np.float32)  # (N, T, C)
        features = np.empty((len(X), self.num_output_features), dtype=np.float32)  # (N, F)
        subset_channels, subset_sizes, kernel_subset = self._subset_tables
        fitted = (
            self.dilations_.numpy(),
            self.features_per_dilation_.numpy(),
            subset_channels,
            subset_sizes,
            kernel_subset,
            self.biases_.numpy(),
        )
        chunk = self.chunk_size or _CPU_CHUNK
        starts = list(range(0, len(X), chunk))
        remaining = _bar(starts)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    start = next(remaining, None)
                if start is None:
                    return
                minirocket_kernels.transform_rows(X[start : start + chunk], *fitted, features[start : start + chunk])

        workers = max(1, min(torch.get_num_threads(), len(starts)))
        if workers == 1:
            work()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for job in [pool.submit(work) for _ in range(workers)]:
                    job.result()
        return torch.from_numpy(features)

    def _transform_torch(self, series: torch.Tensor) -> torch.Tensor:
        """(N, T, C) CPU float tensor -> (N, F) PPV features with torch on self.device, chunk by chunk.

        The CUDA path (it also runs on CPU, where tests compare it with the compiled kernels). On
        CPU the chunks are shared among `torch.get_num_threads()` worker threads, each running
        torch single-threaded (torch releases the GIL inside its kernels).
        """
        n_series, input_length, _ = series.shape
        features = torch.empty(n_series, self.num_output_features, dtype=torch.float32, device=self.device)
        compare_per_series = NUM_KERNELS * int(self.features_per_dilation_.max()) * input_length
        on_cpu = self.device.type == "cpu"
        budget = _COMPARE_BUFFER_ELEMENTS if on_cpu else _CUDA_COMPARE_BUFFER_ELEMENTS
        default_chunk = _TORCH_CPU_CHUNK if on_cpu else _CUDA_CHUNK
        chunk = max(1, min(self.chunk_size or default_chunk, budget // compare_per_series))
        starts = list(range(0, n_series, chunk))

        def transform_chunks(next_start: Any) -> None:
            compare_buffer = torch.empty(chunk * compare_per_series, device=self.device)
            with torch.no_grad():
                for start in iter(next_start, None):
                    x = series[start : start + chunk].to(self.device).permute(0, 2, 1).contiguous()  # (B, C, T)
                    features[start : start + len(x)] = self._ppv_features(x, compare_buffer)

        workers = min(torch.get_num_threads(), len(starts)) if on_cpu else 1
        if workers <= 1:
            remaining = _bar(starts)
            transform_chunks(lambda: next(remaining, None))
            return features
        lock = threading.Lock()
        remaining = _bar(starts)

        def claim_next() -> int | None:
            with lock:
                return next(remaining, None)

        previous_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # worker threads read this when they first run an operation
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for job in [pool.submit(transform_chunks, claim_next) for _ in range(workers)]:
                    job.result()
        finally:
            torch.set_num_threads(previous_threads)
        return features

    def _ppv_features(self, x: torch.Tensor, compare_buffer: torch.Tensor) -> torch.Tensor:
        """PPV features of one chunk: (B, C, T) -> (B, F)."""
        batch, _, length = x.shape
        out = torch.empty(batch, self.num_output_features, device=x.device)
        offset = 0
        schedule = zip(self.dilations_.tolist(), self.features_per_dilation_.tolist(), strict=False)
        for d_index, (dilation, per_kernel) in enumerate(schedule):
            outputs = self._kernel_outputs(x, d_index, dilation)  # (B, 84, T)
            count = NUM_KERNELS * per_kernel
            biases = self.biases_[offset : offset + count].view(NUM_KERNELS, per_kernel)
            block = out[:, offset : offset + count].view(batch, NUM_KERNELS, per_kernel)
            padding = (KERNEL_LENGTH // 2) * dilation
            # Padding alternates over kernel/dilation combinations: kernels k with (d_index + k)
            # even pool over the full zero-padded output, the others over the valid part only.
            first_padded = d_index % 2
            for first, lo, hi in ((first_padded, 0, length), (1 - first_padded, padding, length - padding)):
                kernel_outputs = outputs[:, first::2, lo:hi]  # (B, K', L)
                kernel_biases = biases[first::2]  # (K', per_kernel)
                shape = (batch, kernel_outputs.shape[1], per_kernel, hi - lo)
                positive = compare_buffer[: math.prod(shape)].view(shape)
                # Comparing into a preallocated float buffer, then summing, is several times
                # faster on CPU than materialising a bool tensor and reducing it.
                torch.gt(kernel_outputs[:, :, None, :], kernel_biases[None, :, :, None], out=positive)
                block[:, first::2] = positive.sum(3).div_(hi - lo)  # (B, K', per_kernel)
            offset += count
        return out

    # ------------------------------------------------------------------ classifier

    def _fit_classifier(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        from sklearn.linear_model import LogisticRegression, RidgeClassifierCV

        feats = features.cpu().double().numpy()
        mean = feats.mean(axis=0)
        scale = feats.std(axis=0)
        scale[scale == 0] = 1.0  # a constant feature carries no information; leave it at 0
        standardised = (feats - mean) / scale
        y = labels.numpy()
        temperature = 1.0
        if self.config.classifier == "logistic":
            model = LogisticRegression(C=self.config.C, max_iter=1000)
            model.fit(standardised, y)
            coef, intercept = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
            if coef.shape[0] == 1:  # binary: softmax([0, z]) = sigmoid(z)
                coef = np.vstack([np.zeros_like(coef), coef])
                intercept = np.concatenate([[0.0], intercept])
        else:
            model = RidgeClassifierCV(alphas=RIDGE_ALPHAS, store_cv_results=True)
            model.fit(standardised, y)
            coef, intercept = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
            alpha_index = int(np.flatnonzero(RIDGE_ALPHAS == model.alpha_)[0])
            loo_decisions = model.cv_results_[:, :, alpha_index]  # (N, targets): leave-one-out scores
            if coef.shape[0] == 1:  # binary ridge scores z in {-1, +1} space: logits [-z, z]
                coef = np.vstack([-coef, coef])
                intercept = np.concatenate([-intercept, intercept])
                loo_decisions = np.hstack([-loo_decisions, loo_decisions])
            temperature = _fit_temperature(loo_decisions, np.searchsorted(model.classes_, y))
        dev = self.device
        self.feature_mean_ = torch.tensor(mean, dtype=torch.float32, device=dev)
        self.feature_scale_ = torch.tensor(scale, dtype=torch.float32, device=dev)
        self.coef_ = torch.tensor(coef, dtype=torch.float32, device=dev)
        self.intercept_ = torch.tensor(intercept, dtype=torch.float32, device=dev)
        self.temperature_ = torch.tensor(temperature, dtype=torch.float32, device=dev)
        self.seen_classes_ = torch.from_numpy(np.asarray(model.classes_, dtype=np.int64))
        self._fitted = True

    def _logits(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N, K_seen) logits of the fitted linear classifier."""
        standardised = (features - self.feature_mean_) / self.feature_scale_
        return (standardised @ self.coef_.T + self.intercept_) / self.temperature_


def _compiled_kernels() -> Any:
    """The numba CPU kernels module, imported on first use (numba's import and cache load take a while)."""
    try:
        from moola.models import minirocket_kernels
    except ImportError as error:
        raise MoolaError(
            f"MiniRocket on CPU needs numba ({error}): install the project's dependencies "
            "(`pip install -e .` or `uv sync`), or use device='cuda'"
        ) from None
    return minirocket_kernels


def _subset_tables(channel_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct channel subsets per dilation, for the compiled kernels.

    Args:
        channel_mask: (D, 84, C) bool, kernel k at dilation d sums channels channel_mask[d, k].

    Returns:
        subset_channels (D, S, C) int64 (each subset's channels first, ascending), subset_sizes
        (D, S) int64 (0 past a dilation's last subset) and kernel_subset (D, 84) int64.
    """
    n_dilations, n_kernels, n_channels = channel_mask.shape
    per_dilation = [np.unique(channel_mask[d], axis=0, return_inverse=True) for d in range(n_dilations)]
    width = max(len(unique) for unique, _ in per_dilation)
    subset_channels = np.zeros((n_dilations, width, n_channels), dtype=np.int64)
    subset_sizes = np.zeros((n_dilations, width), dtype=np.int64)
    kernel_subset = np.zeros((n_dilations, n_kernels), dtype=np.int64)
    for d, (unique, inverse) in enumerate(per_dilation):
        subset_channels[d, : len(unique)] = np.argsort(~unique, axis=1, kind="stable")
        subset_sizes[d, : len(unique)] = unique.sum(1)
        kernel_subset[d] = inverse.reshape(-1)
    return subset_channels, subset_sizes, kernel_subset


def _row_quantiles(values: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Linear-interpolation quantiles per row: values (R, T), q (R, Q) in [0, 1] -> (R, Q)."""
    ordered = values.sort(dim=1).values
    position = q * (values.shape[1] - 1)
    below = position.floor().long()
    above = (below + 1).clamp(max=values.shape[1] - 1)
    low, high = ordered.gather(1, below), ordered.gather(1, above)
    return low + (high - low) * (position - below)


def _fit_temperature(decisions: np.ndarray, targets: np.ndarray) -> float:
    """Softmax temperature minimising the negative log-likelihood of `decisions` (N, K)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    def nll(log_temperature: float) -> float:
        log_proba = log_softmax(decisions / math.exp(log_temperature), axis=1)
        return -float(log_proba[np.arange(len(targets)), targets].mean())

    best = minimize_scalar(nll, bounds=(math.log(1e-3), math.log(1e3)), method="bounded")
    return float(math.exp(best.x))
