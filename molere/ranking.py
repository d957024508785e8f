"""Ranking the pool by the first ERM pass's probabilistic margin (docs/design.md, Ranking the pool (train-twice)), in one of
two modes:

- `in-sample` (the paper's train-twice): one ERM model trained on the supplied train split scores
  the whole pool, including the examples it trained on;
- `cross-fit`: the pool is cut into K label-stratified folds, and each fold is scored by an ERM
  model trained on the other K - 1 (its last epoch), so no example is scored by a model that saw
  it, and memorised examples no longer look easy.
"""

from __future__ import annotations

import numpy as np

from molere.data.sources.image_files import rows
from molere.errors import check_range
from molere.experiment import example_set, train_method
from molere.params import Params
from molere.train.loop import predict_proba


def cross_fit_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of each example: every class is shuffled (seeded) and dealt round
    robin, continuing from where the previous class stopped, so fold sizes differ by at most one
    and each fold holds about 1/folds of every class."""
    y = np.asarray(y)
    check_range("rank.folds", folds, 2, len(y))
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    dealt = 0
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        fold[members] = (dealt + np.arange(len(members))) % folds
        dealt += len(members)
    return fold


def cross_fit_probabilities(
    params: Params, x: np.ndarray, y: np.ndarray, ids: np.ndarray, info: dict, fold: np.ndarray, seed: int
) -> np.ndarray:
    """Class probabilities of every example under the ERM model that never trained on its fold."""
    probs = np.zeros((len(y), info["num_classes"]), dtype=np.float32)
    for k in range(int(fold.max()) + 1):
        held_out = fold == k
        model = train_method("erm", params, x, y, ids, held_out, info, seed).model
        device = next(model.parameters()).device
        probs[held_out] = predict_proba(
            model, example_set(params, info, rows(x, held_out), y[held_out], ids[held_out], device)
        )
    return probs
