"""Summary statistics of a run's predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd


def accuracy_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean of `correct` per group of `keys`, as a column `acc`."""
    return frame.groupby(keys, sort=True)["correct"].mean().rename("acc").reset_index()


def per_class_accuracy(y: np.ndarray, correct: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy within each true class (NaN for a class with no example)."""
    counts = np.bincount(y, minlength=num_classes)
    hits = np.bincount(y, weights=correct.astype(float), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / counts
