"""Training methods, found by name in `METHODS` (one module of `molere.methods.zoo` per method)."""

from molere.registry import Registry

METHODS: Registry = Registry("method", package="molere.methods.zoo")

__all__ = ["METHODS"]
