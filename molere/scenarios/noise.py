"""Label noise on the training pool (docs/design.md, Corrupting the pool); test and OOD sets are never noisy.

- `idn`: instance-dependent noise as Xia et al. (NeurIPS 2020) generate it. Each example's flip
  rate q_i ~ TruncNormal(mean=rate, sd, [0, 1]); a projection W ~ N(0, 1) of shape (K, D, K);
  for (x, y): a = x @ W[y], a[y] = -inf, p = q_i * softmax(a), p[y] += 1 - q_i; the observed
  label is drawn from p. Whether a label flips does not depend on x (q_i is drawn on its own);
  where it flips to does.
- `symmetric`: with probability `rate`, a label uniform over the other K - 1 classes.
- `pair`: with probability `rate`, y -> (y + 1) mod K.
"""

from __future__ import annotations

import math

import numpy as np

from molere.data.sources.image_files import ImageFiles, image_blocks
from molere.errors import MolereError, check_choice, check_range

NOISE_KINDS = ("idn", "symmetric", "pair")
IMAGE_BLOCK = 1024  # images whose features `idn` holds at a time


def add_label_noise(
    y: np.ndarray, x: np.ndarray, kind: str, rate: float, num_classes: int, seed: int, *, sd: float = 0.1
) -> np.ndarray:
    """The observed labels of `y` under noise `kind` at expected flip `rate`, seeded."""
    check_choice("noise kind", kind, NOISE_KINDS)
    check_range("noise rate", rate, 0, 1, high_open=True)
    if num_classes < 2:
        raise MolereError(f"label noise needs at least 2 classes, got num_classes = {num_classes}")
    y = np.asarray(y, dtype=np.int64)
    if rate == 0:  # the truncated normal around 0 would still flip about 8% of the labels
        return y.copy()
    if kind == "idn":
        return idn_labels(y, x, rate, num_classes, seed, sd=sd)
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < rate
    step = rng.integers(1, num_classes, len(y)) if kind == "symmetric" else 1
    return np.where(flip, (y + step) % num_classes, y)


def idn_labels(
    y: np.ndarray, x: np.ndarray, rate: float, num_classes: int, seed: int, *, sd: float = 0.1
) -> np.ndarray:
    """Xia et al.'s draws in their order from one legacy RandomState(seed): the flip rates, W,
    then one uniform per example (what their per-example `np.random.choice(K, p=p_i)` draws)."""
    from scipy.special import softmax
    from scipy.stats import truncnorm

    check_range("noise sd", sd, 0, np.inf, low_open=True, high_open=True)
    rng = np.random.RandomState(seed)
    flip_rate = truncnorm.rvs(-rate / sd, (1 - rate) / sd, loc=rate, scale=sd, size=len(y), random_state=rng)
    projection = rng.randn(num_classes, math.prod(x.shape[1:]), num_classes)
    logits = class_logits(x, y, projection)
    rows = np.arange(len(y))
    logits[rows, y] = -np.inf
    probs = flip_rate[:, None] * softmax(logits, axis=1)
    probs[rows, y] += 1 - flip_rate
    cdf = probs.cumsum(axis=1)
    cdf /= cdf[:, -1:]
    return (cdf <= rng.random_sample(len(y))[:, None]).sum(axis=1)  # = cdf.searchsorted(u, "right")


def class_logits(x: np.ndarray | ImageFiles, y: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """x @ W[y] for every example. Images a block of `IMAGE_BLOCK` at a time, so their float64
    values (8 bytes each: a CIFAR-10 pool's are 1.2 GB) are never all in memory, nor, from files,
    their pixels; a block's products are the same whether its images came from files or an array.
    Features that are not images (the default study's) are multiplied whole, as before."""
    if x.ndim != 4:
        return feature_logits(noise_features(x), y, projection)
    blocks = zip(range(0, len(y), IMAGE_BLOCK), image_blocks(x, IMAGE_BLOCK))
    parts = [feature_logits(noise_features(block), y[start : start + len(block)], projection) for start, block in blocks]
    return np.concatenate(parts) if parts else np.empty((0, projection.shape[2]))


def feature_logits(features: np.ndarray, y: np.ndarray, projection: np.ndarray) -> np.ndarray:
    logits = np.empty((len(y), projection.shape[2]))
    for c in range(projection.shape[0]):  # x @ W[y] one class at a time: W[y] would be n x D x K
        logits[y == c] = features[y == c] @ projection[c]
    return logits


def noise_features(x: np.ndarray) -> np.ndarray:
    """x flattened to float64; integer images scaled to [0, 1] as the reference's ToTensor does."""
    flat = np.asarray(x).reshape(len(x), -1)
    return flat / 255.0 if np.issubdtype(flat.dtype, np.integer) else flat.astype(np.float64)


def noise_summary(y_clean: np.ndarray, y_observed: np.ndarray, num_classes: int) -> dict:
    """The realised noise rate overall and per clean class (None for a class with no example)."""
    noisy = np.asarray(y_clean) != np.asarray(y_observed)
    counts = np.bincount(y_clean, minlength=num_classes)
    flips = np.bincount(y_clean, weights=noisy, minlength=num_classes)
    return {
        "noise_rate": float(noisy.mean()) if len(noisy) else 0.0,
        "noise_rate_per_class": [float(f / n) if n else None for f, n in zip(flips, counts)],
        "class_counts": counts.astype(int).tolist(),
    }
