"""The LRW heuristics (docs/design.md, The LRW heuristics): the validation set is the `delta` fraction of the
pool with the lowest margins (hard), the highest (easy), or a seeded random draw."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molere.errors import check_range

HEURISTICS = ("hard", "easy", "random")


def validation_size(n: int, delta: float) -> int:
    check_range("valsets.fraction", delta, 0, 0.5, low_open=True)
    return max(1, int(round(delta * n)))


def heuristic_valsets(
    ids: np.ndarray,
    margin: np.ndarray,
    y: np.ndarray,
    delta: float,
    seed: int,
    stratified: bool = False,
) -> pd.DataFrame:
    """One row per pool example: `id` and a boolean per heuristic, True when the example is in
    that heuristic's validation set. Ties in margin are broken by position, so it is
    deterministic. `stratified` applies the fraction within each class."""
    ids, margin, y = np.asarray(ids), np.asarray(margin, dtype=np.float64), np.asarray(y)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratified else [np.arange(len(y))]
    rng = np.random.default_rng(seed)
    chosen = {name: np.zeros(len(ids), dtype=bool) for name in HEURISTICS}
    for group in groups:
        k = validation_size(len(group), delta)
        by_margin = group[np.argsort(margin[group], kind="stable")]
        chosen["hard"][by_margin[:k]] = True
        chosen["easy"][group[np.argsort(-margin[group], kind="stable")][:k]] = True
        chosen["random"][rng.choice(group, size=k, replace=False)] = True
    return pd.DataFrame({"id": ids, **chosen})
