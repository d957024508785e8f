"""Classifiers, found by name in `MODELS`: factory(input_shape, num_classes, **options) -> nn.Module."""

from molere.registry import Registry

MODELS: Registry = Registry("model", package="molere.models.zoo")

__all__ = ["MODELS"]
