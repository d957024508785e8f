"""Corrupting the training pool of a scenario: label skew first, then label noise."""

from __future__ import annotations

import numpy as np

from molere.errors import MolereError
from molere.scenarios import Scenario


def corrupt_pool(y: np.ndarray, x: np.ndarray, scenario: Scenario, num_classes: int, seed: int):
    """Return (kept positions of the pool, observed labels of the kept examples)."""
    if scenario.noise_kind is not None or scenario.imbalance != 1:
        raise MolereError(f"scenario {scenario.name!r} is not supported yet")
    return np.arange(len(y)), y
