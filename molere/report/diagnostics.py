"""Whether reweighting happened (docs/design.md, What the report shows): per run, how many meta steps the method
took, how far its learned weights spread, how they relate to the first ERM pass's margin, and what
its validation side holds (its share of mislabelled examples and its class mix, with the largest
class's share of the side beside that of the pool it was drawn from: train side + validation
side). A reader can then tell learned reweighting from training on a subset of the pool, and a
validation side that is one class from one that keeps the pool's mix."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from molere.report.runs import Run

# what `diagnostics` returns per run, in the report's order
DIAGNOSTICS = (
    "meta_steps",
    "weight_p05",
    "weight_p95",
    "weight_margin_corr",
    "val_noisy_share",
    "val_classes",
    "val_top_class_share",
    "pool_top_class_share",
    "gap_stop_epoch",
)


# --- the rules read from these diagnostics: one definition each, for claims.json and report.md ---

MISLABELLED_MAJORITY = 0.5  # a validation side more than half mislabelled rewards fitting the noise
FLAT_BAND = (0.9, 1.1)  # normalised weights whose 5th and 95th percentiles both lie within barely reweight
DROPPED_WEIGHT = 0.05  # a 5th percentile below this (of the mean weight): at least 5% of examples dropped
CHANCE_AUC = 0.5  # a noise AUC below chance weights mislabelled examples above clean ones

# Each takes scalars or pandas Series alike (so `&`, not `and`); a NaN diagnostic flags nothing.


def mostly_mislabelled(val_noisy_share):
    return val_noisy_share > MISLABELLED_MAJORITY


def flat_weights(weight_p05, weight_p95):
    return (weight_p05 >= FLAT_BAND[0]) & (weight_p95 <= FLAT_BAND[1])


def drops_examples(weight_p05):
    return weight_p05 < DROPPED_WEIGHT


def inverted_weights(noise_auc):
    return noise_auc < CHANCE_AUC


def normalised_weights(weights: pd.Series) -> np.ndarray:
    """The weights rescaled to mean 1 over the train side, as the steps' per-batch normalisation
    sees them."""
    w = weights.to_numpy(dtype=np.float64)
    return w / w.mean()


def diagnostics(run: Run, learns_weights: bool) -> dict:
    """The run's `DIAGNOSTICS`; NaN where they do not apply (no meta steps, no learned weights,
    no validation side, no gap rule)."""
    out = dict.fromkeys(DIAGNOSTICS, math.nan)
    if "meta_steps" in run.history:
        out["meta_steps"] = float(run.history["meta_steps"].sum())
    if "gap_stop_epoch" in run.history:
        fired = run.history["gap_stop_epoch"].dropna()
        out["gap_stop_epoch"] = float(fired.iloc[0]) if len(fired) else math.nan
    if learns_weights:
        w = normalised_weights(run.weights["weight"])
        out["weight_p05"], out["weight_p95"] = np.percentile(w, [5, 95])
        out["weight_margin_corr"] = rank_correlation(w, run.weights["margin"].to_numpy(dtype=np.float64))
    side = run.validation[run.validation["in_val"].astype(bool)]
    if len(side):
        out["val_noisy_share"] = float(side["is_noisy"].mean())
        counts = side["y"].value_counts()
        out["val_classes"] = float(len(counts))
        out["val_top_class_share"] = float(counts.max() / len(side))
        out["pool_top_class_share"] = float(run.validation["y"].value_counts().max() / len(run.validation))
    return out


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation; NaN when either side is constant (no ranking to correlate)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(stats.spearmanr(a, b).statistic)


def weights_by_noise(run: Run) -> pd.DataFrame:
    """Each train-side example's normalised weight and whether it is mislabelled (the weight
    distribution figure's data)."""
    return pd.DataFrame({"id": run.weights["id"], "weight": normalised_weights(run.weights["weight"]), "is_noisy": run.weights["is_noisy"].astype(bool)})
