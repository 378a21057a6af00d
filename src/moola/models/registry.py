"""ModelRegistry: the four active models by name, their roles, and how to build one from params.

Importing this module is cheap (standard library only); a model's module, and torch with it,
is imported when the model is first built or its config class is asked for.

    model = ModelRegistry.create("enhanced_simple_lstm", params["enhanced_simple_lstm"],
                                 encoder=params["encoder"], n_classes=3, seed=1337)

`config` is the model's params section (a dict; unknown keys fail) or its config dataclass;
`encoder` is the shared `encoder:` section, used by the models that hold the BiLSTM encoder and
ignored by the others. A checkpoint is rebuilt the same way from its `model_name`,
`model_config`, `encoder_config` and `len(class_names)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, Iterator, Literal

from moola.errors import MoolaError

LEGACY_README = "src/moola/models_extras/README.md"


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline knows about a model before building it."""

    name: str  # registry name = params section name = `model:` value
    role: str  # one line: what the model is for
    inputs: str  # which inputs it reads
    pretrain_use: Literal["none", "optional", "required"]  # use of the TS2Vec encoder
    kind: Literal["torch", "minirocket"]  # torch: MoolaModule trained by gradient; minirocket: fit()
    module: str  # import path of the module defining the model
    class_name: str  # the model class in `module`
    config_class_name: str  # its config dataclass in `module`

    @property
    def requires_pretrained(self) -> bool:
        """True when training must refuse to start without a pretrained encoder."""
        return self.pretrain_use == "required"

    @property
    def uses_encoder(self) -> bool:
        """True when the model holds the shared BiLSTM encoder (`encoder.*` tensors)."""
        return self.pretrain_use != "none"

    @property
    def config_cls(self) -> type:
        return getattr(importlib.import_module(self.module), self.config_class_name)

    @property
    def model_cls(self) -> type:
        return getattr(importlib.import_module(self.module), self.class_name)


ACTIVE: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="simple_lstm",
            role="sanity baseline: one small unidirectional LSTM layer",
            inputs="OHLC",
            pretrain_use="none",
            kind="torch",
            module="moola.models.simple_lstm",
            class_name="SimpleLSTM",
            config_class_name="SimpleLSTMConfig",
        ),
        ModelSpec(
            name="enhanced_simple_lstm",
            role="main model: BiLSTM encoder over OHLC fused with an MLP over the 20 features",
            inputs="OHLC + 20 features",
            pretrain_use="optional",
            kind="torch",
            module="moola.models.enhanced_simple_lstm",
            class_name="EnhancedSimpleLSTM",
            config_class_name="EnhancedSimpleLSTMConfig",
        ),
        ModelSpec(
            name="adapter_lstm",
            role="frozen pretrained encoder + bottleneck adapter, unfrozen in phases",
            inputs="OHLC",
            pretrain_use="required",
            kind="torch",
            module="moola.models.adapter_lstm",
            class_name="AdapterLSTM",
            config_class_name="AdapterLSTMConfig",
        ),
        ModelSpec(
            name="minirocket",
            role="non-deep reference: MiniRocket features + logistic regression",
            inputs="OHLC",
            pretrain_use="none",
            kind="minirocket",
            module="moola.models.minirocket",
            class_name="MiniRocket",
            config_class_name="MiniRocketConfig",
        ),
    )
}

# Retired models, kept runnable under moola.models_extras but never imported by the pipeline.
LEGACY: dict[str, str] = {
    "tcn": "temporal convolutional network",
    "transformer_lstm": "LSTM + transformer encoder hybrid",
    "rwkv_ts": "RWKV-style linear-attention recurrent model",
    "cnn_transformer": "convolutional stem + transformer encoder",
}


class ModelNameError(MoolaError, ValueError):
    """A legacy or unknown model name: a ValueError (as the seed's registry raised) that moola prints as one line."""


class ModelRegistry:
    """Look up and build the active models by name.

    `ModelRegistry.ACTIVE` maps each active model's name to its spec (role, inputs, pretrained
    use); `ModelRegistry.LEGACY` maps each retired model's name to a description. Asking for a
    legacy or unknown name raises `ModelNameError`, a ValueError.
    """

    ACTIVE: dict[str, ModelSpec] = ACTIVE
    LEGACY: dict[str, str] = LEGACY

    @staticmethod
    def names() -> list[str]:
        """Active model names, in table order."""
        return list(ACTIVE)

    @staticmethod
    def legacy_names() -> list[str]:
        return list(LEGACY)

    @staticmethod
    def spec(name: str) -> ModelSpec:
        """The spec of an active model; a legacy or unknown name is a MoolaError saying what to do."""
        if name in ACTIVE:
            return ACTIVE[name]
        available = ", ".join(ACTIVE)
        if name in LEGACY:
            raise ModelNameError(
                f"model {name!r} ({LEGACY[name]}) is retired: it lives in moola.models_extras and is not "
                f"trained by the pipeline; see {LEGACY_README} to re-enable it, or choose one of: {available}"
            )
        raise ModelNameError(f"unknown model {str(name)[:60]!r}: choose one of {available} (params key `model`)")

    @staticmethod
    def name_from_params(params: dict[str, Any], override: str | None = None) -> str:
        """The model to train or evaluate: `override` (--model), else params' top-level `model:` key."""
        name = override if override is not None else params.get("model")
        if not isinstance(name, str) or not name:
            raise ModelNameError(
                f"params key model = {str(name)[:40]!r} must name a model, e.g. model: enhanced_simple_lstm"
            )
        ModelRegistry.spec(name)
        return name

    @staticmethod
    def config(name: str, config: Any = None) -> Any:
        """The checked config dataclass of model `name` from its params section (None = defaults)."""
        return build_config(ModelRegistry.spec(name), config)

    @staticmethod
    def create(
        name: str,
        config: Any = None,
        *,
        encoder: Any = None,
        n_classes: int = 3,
        seed: int | None = None,
    ) -> Any:
        """Build model `name`.

        Args:
            name: an active model name (see `names()`).
            config: its params section as a dict (unknown keys and bad values fail), its config
                dataclass, or None for the documented defaults.
            encoder: the shared `encoder:` section (dict or EncoderConfig); used by the models
                holding the BiLSTM encoder, ignored by the others.
            n_classes: number of output classes (3: down, neutral, up).
            seed: when given, initial weights (torch) or random draws (MiniRocket) derive from it
                alone, without touching torch's global generator; None uses the global state.

        Returns:
            A `MoolaModule` (kind "torch") or a `MiniRocket` estimator (kind "minirocket").
        """
        return build_model(ModelRegistry.spec(name), config, encoder=encoder, n_classes=n_classes, seed=seed)


def build_config(spec: ModelSpec, config: Any = None) -> Any:
    """Turn a params section (dict or None) or a config dataclass into the spec's checked config."""
    from moola.params import from_mapping

    config_cls = spec.config_cls
    if isinstance(config, config_cls):
        config.validate()
        return config
    if dataclasses.is_dataclass(config):
        raise MoolaError(
            f"model {spec.name}: config must be a {config_cls.__name__} or a mapping, got {type(config).__name__}"
        )
    return from_mapping(config_cls, config, spec.name)


def build_model(
    spec: ModelSpec, config: Any = None, *, encoder: Any = None, n_classes: int = 3, seed: int | None = None
) -> Any:
    """Build the model a spec describes (what `ModelRegistry.create` does after the name lookup)."""
    if n_classes < 2:
        raise MoolaError(f"model {spec.name}: n_classes must be >= 2, got {n_classes}")
    checked = build_config(spec, config)
    if spec.kind == "minirocket":
        return spec.model_cls(**checked.to_dict(), seed=0 if seed is None else seed, n_classes=n_classes)
    kwargs: dict[str, Any] = {"n_classes": n_classes}
    if spec.uses_encoder:
        kwargs["encoder_config"] = encoder
    with _seeded_torch(seed):
        return spec.model_cls(checked, **kwargs)


@contextlib.contextmanager
def _seeded_torch(seed: int | None) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded, then restore the caller's generator state."""
    if seed is None:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
