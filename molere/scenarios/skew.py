"""Label skew on the training pool: a long tail of class sizes (Cui et al. 2019;
docs/design.md, Corrupting the pool). Class c keeps floor(n_max * IF^(-c / (K - 1))) of its examples, where n_max is the
size of the pool's smallest class (so every class can supply its share) and IF >= 1 is the
imbalance factor; test and OOD sets stay balanced."""

from __future__ import annotations

import numpy as np

from molere.errors import MolereError


def long_tail_counts(n_max: int, imbalance: float, num_classes: int) -> np.ndarray:
    """How many examples each class keeps, head (class 0) to tail (class K - 1)."""
    if not imbalance >= 1:
        raise MolereError(f"imbalance factor = {imbalance!r} is outside the allowed range [1, inf)")
    exponents = np.arange(num_classes) / max(num_classes - 1, 1)
    # the tolerance keeps whole results whole: 400 * 10 ** -1 may round to 39.999...
    return np.floor(n_max * float(imbalance) ** -exponents + 1e-9).astype(np.int64)


def skew_positions(y: np.ndarray, imbalance: float, num_classes: int, seed: int) -> np.ndarray:
    """Sorted positions of `y` to keep: a seeded draw of each class's long-tail count."""
    y = np.asarray(y)
    available = np.bincount(y, minlength=num_classes)
    counts = long_tail_counts(int(available.min()), imbalance, num_classes)
    if counts[-1] == 0:
        raise MolereError(
            f"imbalance factor = {imbalance:g} leaves class {num_classes - 1} empty (the smallest class "
            f"has {available.min()} examples); allowed: [1, {available.min():g}]"
        )
    rng = np.random.default_rng([seed, 1])  # a stream apart from the noise draws, which use `seed`
    kept = [rng.choice(np.flatnonzero(y == c), count, replace=False) for c, count in enumerate(counts)]
    return np.sort(np.concatenate(kept))
