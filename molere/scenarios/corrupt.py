"""Corrupting the training pool of a scenario: label skew first, then label noise."""

from __future__ import annotations

import numpy as np

from molere.data.sources.image_files import rows
from molere.scenarios import Scenario
from molere.scenarios.noise import add_label_noise
from molere.scenarios.skew import skew_positions


def corrupt_pool(
    y: np.ndarray, x: np.ndarray, scenario: Scenario, num_classes: int, seed: int, *, noise_sd: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Return (kept positions of the pool, observed labels of the kept examples)."""
    y = np.asarray(y, dtype=np.int64)
    keep = np.arange(len(y))
    if scenario.imbalance != 1:
        keep = skew_positions(y, scenario.imbalance, num_classes, seed)
    if scenario.noise_kind is None:
        return keep, y[keep]
    observed = add_label_noise(
        y[keep], rows(x, keep), scenario.noise_kind, scenario.noise_rate, num_classes, seed, sd=noise_sd
    )
    return keep, observed
