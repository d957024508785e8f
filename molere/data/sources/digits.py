"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download), with a seeded
stratified 20% test split."""

from __future__ import annotations

import numpy as np

from molere.data import DATASETS
from molere.data.base import Dataset, Split
from molere.data.configs import DigitsConfig


@DATASETS.register("digits")
def digits(config: DigitsConfig, seed: int) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8) in [0, 1]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    return Dataset("digits", 10, Split(x_train, y_train), None, Split(x_test, y_test))
