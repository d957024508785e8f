"""Datasets, found by name in `DATASETS` (one module of this package per dataset).

A dataset factory takes its typed config (`molere.data.configs.DATASET_CONFIGS`) and the data
seed, and returns a `molere.data.base.Dataset` of numpy arrays (the image datasets read their
files through torchvision). This package imports neither numpy nor torch: params.yaml's checks
import its configs before portable mode pins numpy's kernels."""

from molere.registry import Registry

DATASETS: Registry = Registry("dataset", package="molere.data.sources")

__all__ = ["DATASETS"]
