"""Summary statistics of a run's predictions and of paired comparisons between runs
(docs/design.md, What the report shows). Pure numpy / pandas: no file access, no plotting."""

from __future__ import annotations

import numpy as np
import pandas as pd

ECE_BINS = 15  # Guo et al. 2017: equal-width confidence bins
# ERM-margin buckets of the paper's Fig. 3c-d: width 0.2, centres -0.9 .. 0.9
MARGIN_BUCKET_EDGES = np.round(np.linspace(-1.0, 1.0, 11), 10)


def accuracy_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean of `correct` per group of `keys`, as a column `acc`."""
    return frame.groupby(keys, sort=True)["correct"].mean().rename("acc").reset_index()


def per_class_accuracy(y: np.ndarray, correct: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy within each true class (NaN for a class with no example)."""
    counts = np.bincount(y, minlength=num_classes)
    hits = np.bincount(y, weights=correct.astype(float), minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / counts


def worst_class_accuracy(y: np.ndarray, correct: np.ndarray, num_classes: int) -> float:
    """The lowest accuracy over the classes that have at least one example."""
    return float(np.nanmin(per_class_accuracy(y, correct, num_classes)))


def worst_group_accuracy(groups: np.ndarray, correct: np.ndarray) -> tuple[object, float]:
    """The group with the lowest accuracy and that accuracy, over the groups that occur in `groups`
    (any labels: WILDS' group ids, or (domain, class) strings); ties go to the first in sorted order."""
    if len(groups) == 0:
        raise ValueError("no example: worst-group accuracy is undefined")
    names, index = np.unique(groups, return_inverse=True)
    accuracy = np.bincount(index, weights=np.asarray(correct, dtype=float)) / np.bincount(index)
    worst = int(np.argmin(accuracy))
    return names[worst].item(), float(accuracy[worst])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """sum_b |B_b|/n * |acc(B_b) - conf(B_b)| over equal-width bins (i/bins, (i+1)/bins] of the
    predicted class's probability."""
    confidence = np.asarray(confidence, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.digitize(confidence, edges[1:-1], right=True)
    confidence_sum = np.bincount(index, weights=confidence, minlength=bins)
    hit_sum = np.bincount(index, weights=np.asarray(correct, dtype=np.float64), minlength=bins)
    # |B|/n * |hits/|B| - conf_sum/|B|| = |hits - conf_sum| / n
    return float(np.abs(hit_sum - confidence_sum).sum() / len(confidence))


def noise_auc(weights: np.ndarray, is_noisy: np.ndarray) -> float:
    """ROC AUC of the score (1 - w) for telling noisy from clean examples: the probability that a
    random noisy example gets a lower weight than a random clean one (ties count half). 1 means
    the weights put every noisy example below every clean one, 0.5 is chance. NaN when only one
    kind of example is present."""
    is_noisy = np.asarray(is_noisy, dtype=bool)
    positives, negatives = int(is_noisy.sum()), int((~is_noisy).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    # ranking -w is ranking 1 - w without its rounding
    ranks = pd.Series(-np.asarray(weights, dtype=np.float64)).rank(method="average").to_numpy()
    return float((ranks[is_noisy].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def paired_delta(frame: pd.DataFrame, base: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """`value` of `frame` minus that of `base`, matched row by row on `keys`: columns `keys`,
    `base` (the base's value), `value` and `delta`. Raises ValueError unless both frames hold
    exactly the same keys, so a comparison never silently drops examples."""
    base = base[keys + [value]].rename(columns={value: "base"})
    merged = frame[keys + [value]].merge(base, on=keys, how="outer", indicator=True, validate="one_to_one")
    unmatched = int((merged["_merge"] != "both").sum())
    if unmatched:
        raise ValueError(f"{unmatched} rows match no row of the other side on {', '.join(keys)}")
    merged = merged.drop(columns="_merge").sort_values(keys, ignore_index=True)
    return merged.assign(delta=merged[value] - merged["base"])


def bucket_statistics(base: np.ndarray, delta: np.ndarray, edges: np.ndarray = MARGIN_BUCKET_EDGES) -> pd.DataFrame:
    """Per bucket [lo, hi) of `base` (the last one closed): count, mean of `delta` and its
    standard error (sample std / sqrt(count); NaN below two examples)."""
    index = np.digitize(base, edges[1:-1])
    rows = []
    for bucket, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        values = np.asarray(delta)[index == bucket]
        count = len(values)
        rows.append(
            {
                "bucket_lo": lo,
                "bucket_hi": hi,
                "centre": round((lo + hi) / 2, 10),
                "count": count,
                "mean": float(values.mean()) if count else np.nan,
                "se": float(values.std(ddof=1) / np.sqrt(count)) if count > 1 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def spanning_edges(values: np.ndarray, bins: int = 40) -> np.ndarray:
    """`bins` equal-width bins from the smallest to the largest value (0.1 wide if all are equal)."""
    low, high = float(np.min(values)), float(np.max(values))
    if low == high:
        low, high = low - 0.05, high + 0.05
    return np.linspace(low, high, bins + 1)


def histogram(values: np.ndarray, edges: np.ndarray) -> pd.DataFrame:
    """Counts of `values` per bin [lo, hi) (the last one closed)."""
    counts, _ = np.histogram(values, bins=edges)
    return pd.DataFrame({"bin_lo": edges[:-1], "bin_hi": edges[1:], "count": counts})
