"""Datasets, found by name in `DATASETS` (one module of this package per dataset).

A dataset factory takes the `data` section of params and returns a `Dataset` of numpy arrays
(the image datasets read their files through torchvision)."""

from molere.data.base import Dataset, Split
from molere.registry import Registry

DATASETS: Registry = Registry("dataset", package="molere.data.sources")

__all__ = ["DATASETS", "Dataset", "Split"]
