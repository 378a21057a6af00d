"""Classifiers over OHLC windows and the shared encoder; `ModelRegistry` builds them by name (torch loads lazily)."""

from moola.models.registry import ModelRegistry, ModelSpec

__all__ = ["ModelRegistry", "ModelSpec"]
