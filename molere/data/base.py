"""The in-memory form of a dataset: supplied train / validation / test splits and OOD shifts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class Split:
    # (n, *feature_shape): an array, or an image dataset's ImageFiles (molere/data/sources/
    # image_files.py), which reads as its (n, 3, side, side) uint8 array
    x: np.ndarray
    y: np.ndarray  # (n,) int64 clean labels
    # (n,) int64 labels as the dataset's annotators gave them, where it has both (Clothing-1M,
    # CIFAR-N); None = the clean ones
    y_observed: np.ndarray | None = None
    # (n,) int64 group ids where the dataset defines groups (WILDS' (class, background) or its
    # domains), for worst-group accuracy; their names are `Dataset.group_names`
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    @property
    def observed(self) -> np.ndarray:
        return self.y if self.y_observed is None else self.y_observed

    def head(self, n: int) -> "Split":
        """The first `n` examples, copied (so the full arrays can be freed)."""
        return Split(*(None if array is None else array[:n].copy() for array in (self.x, self.y, self.y_observed, self.groups)))


class Shift(Protocol):
    """One distribution shift of a test set: severity (1..5) -> the shifted test split."""

    def __call__(self, severity: int) -> Split: ...

    def head(self, n: int) -> "Shift":
        """The same shift computing only its first `n` examples."""
        ...


@dataclass
class Dataset:
    name: str
    num_classes: int
    train: Split
    val: Split | None  # the dataset's own validation split; None = take a seeded holdout
    test: Split
    shifts: dict[str, Shift] = field(default_factory=dict)
    # per-channel mean and std to normalise uint8 images on the fly; None = features are floats
    normalization: tuple[list[float], list[float]] | None = None
    # the name of each group id of the splits' `groups`; None = the dataset has no groups
    group_names: list[str] | None = None
    # validation sets the dataset supplies apart from its pool, by name (Camelyon17's OOD-validation
    # hospital, an ImageNet-R beside ImageNet): "naturally hard" sides for `lrw-supplied`
    sides: dict[str, Split] = field(default_factory=dict)
