"""The LRW heuristics (docs/design.md, The LRW heuristics): the validation set is the `delta`
fraction of the pool with the lowest margins (hard), the highest (easy), or a seeded random draw;
by default the fraction is taken within each class, so every class keeps its share of the pool on
both sides. MOLERE's GenerateSplit (molere/splitter.py) takes its quotas from here too."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molere.errors import MolereError, check_range

HEURISTICS = ("hard", "easy", "random")


def validation_size(n: int, delta: float) -> int:
    check_range("valsets.fraction", delta, 0, 0.5, low_open=True)
    return max(1, int(round(delta * n)))


def quotas(y: np.ndarray, delta: float, per_class: bool, option: str) -> list[tuple[np.ndarray, int]]:
    """The groups of positions the fraction `delta` is taken within, each with its size: the whole
    pool, or (`per_class`) each class. A class's share is at least one example, and must leave it
    one to train on: otherwise a one-line error naming the class, its size and `option` (the
    params key that turns the per-class fraction off)."""
    y = np.asarray(y)
    if not per_class:
        return [(np.arange(len(y)), validation_size(len(y), delta))]
    groups = []
    for label in np.unique(y):
        group = np.flatnonzero(y == label)
        k = validation_size(len(group), delta)
        if k >= len(group):
            raise MolereError(
                f"class {label} has {len(group)} example{'s' * (len(group) != 1)} in the pool, and the validation side's "
                f"fraction {delta} within each class takes {k} of them, leaving none to train on; "
                f"use a larger pool or set {option}: false"
            )
        groups.append((group, k))
    return groups


def lowest(score: np.ndarray, groups: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """True for each group's `k` positions of lowest `score`; ties go to the earlier position, so
    the choice is deterministic."""
    chosen = np.zeros(len(score), dtype=bool)
    for group, k in groups:
        chosen[group[np.argsort(score[group], kind="stable")[:k]]] = True
    return chosen


def heuristic_valsets(
    ids: np.ndarray,
    margin: np.ndarray,
    y: np.ndarray,
    delta: float,
    seed: int,
    stratified: bool = True,
) -> pd.DataFrame:
    """One row per pool example: `id` and a boolean per heuristic, True when the example is in
    that heuristic's validation set. `stratified` takes the fraction within each class (false:
    within the whole pool, the paper's sets)."""
    ids, margin = np.asarray(ids), np.asarray(margin, dtype=np.float64)
    groups = quotas(y, delta, stratified, "valsets.stratified")
    rng = np.random.default_rng(seed)
    random = np.zeros(len(ids), dtype=bool)
    for group, k in groups:
        random[rng.choice(group, size=k, replace=False)] = True
    return pd.DataFrame({"id": ids, "hard": lowest(margin, groups), "easy": lowest(-margin, groups), "random": random})
