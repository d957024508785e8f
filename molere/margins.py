"""The probabilistic margin (docs/design.md, Margins): m = p_y(x) - max_{k != y} p_k(x), in [-1, 1]."""

from __future__ import annotations

import numpy as np


def probabilistic_margin(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Margin of each row of class probabilities `probs` (n, K) at its label `y` (n,)."""
    probs = np.asarray(probs, dtype=np.float64)
    rows = np.arange(len(y))
    true = probs[rows, y]
    others = probs.copy()
    others[rows, y] = -np.inf
    return true - others.max(axis=1)


def prediction_table(probs: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Columns describing a model's predictions: `pred`, `correct`, `margin` and one probability
    column `p<k>` per class."""
    pred = probs.argmax(axis=1)
    columns = {"pred": pred, "correct": pred == y, "margin": probabilistic_margin(probs, y)}
    columns.update({f"p{k}": probs[:, k].astype(np.float32) for k in range(probs.shape[1])})
    return columns
