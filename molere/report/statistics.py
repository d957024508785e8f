"""Every statistic the report states, in one place: the t-test across seeds with its interval,
Holm's correction and the interval that agrees with it, two one-sided tests (TOST) for
equivalence, and the seeds a test needs for a given power.

The unit of replication is the seed: a comparison is a one-sample t-test of per-seed values (a
paired difference of accuracies, or a per-seed statistic of paired test margins), so a run that
fails on one seed weighs as one seed, never as thousands of test examples."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.05  # every test's level: two-sided for a difference, each one-sided test of TOST
POWER = 0.8  # the power a not-resolved cell's seed count is sized for
MIN_SEEDS = 2  # one seed has no spread: no interval, no test


@dataclass(frozen=True)
class SeedTest:
    """A one-sample t-test across seeds of `values` (one per seed) against 0."""

    mean: float
    sd: float  # sample standard deviation (ddof 1); NaN below MIN_SEEDS
    n: int

    @classmethod
    def of(cls, values: np.ndarray) -> "SeedTest":
        values = np.asarray(values, dtype=np.float64)
        n = len(values)
        mean = float(values.mean()) if n else math.nan
        sd = float(values.std(ddof=1)) if n >= MIN_SEEDS else math.nan
        return cls(mean, sd, n)

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n) if self.n >= MIN_SEEDS else math.nan

    @property
    def p(self) -> float:
        """Two-sided p-value of mean = 0 (NaN below MIN_SEEDS)."""
        if self.n < MIN_SEEDS:
            return math.nan
        return min(1.0, 2 * self.p_beyond(0.0, "greater" if self.mean > 0 else "less"))

    def p_beyond(self, bound: float, side: str) -> float:
        """One-sided p-value of the mean lying on `side` ("greater" or "less") of `bound`."""
        if self.se == 0:  # identical values: the mean is known exactly
            return 0.0 if (self.mean > bound if side == "greater" else self.mean < bound) else 1.0
        t = (self.mean - bound) / self.se
        return float(stats.t.sf(t, self.n - 1) if side == "greater" else stats.t.cdf(t, self.n - 1))

    def p_equivalent(self, margin: float) -> float:
        """TOST: the larger of the one-sided p-values of mean > -margin and mean < +margin; below
        LEVEL exactly when the 1 - 2 LEVEL interval lies inside (-margin, +margin)."""
        if self.n < MIN_SEEDS:
            return math.nan
        return max(self.p_beyond(-margin, "greater"), self.p_beyond(margin, "less"))

    def interval(self, confidence: float) -> tuple[float, float]:
        """The two-sided t-interval at `confidence` (NaN below MIN_SEEDS)."""
        if self.n < MIN_SEEDS or math.isnan(confidence):
            return math.nan, math.nan
        half = t_half_width(self.sd, self.n, confidence)
        return self.mean - half, self.mean + half


def t_half_width(sd, n, confidence: float = 1 - LEVEL):
    """Half-width of the t-interval at `confidence` of a mean of `n` values with sample std `sd`
    (arrays too; NaN where n < 2)."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * np.asarray(sd) / np.sqrt(n)
    return np.where(n >= MIN_SEEDS, half, np.nan)[()]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: the i-th smallest of m becomes the running maximum of
    (m - j) p_(j) over j <= i, capped at 1. A NaN p (no test) counts as 1 and stays NaN.
    (scipy has no Holm; statsmodels' multipletests is not a dependency.)"""
    filled = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(filled, kind="stable")
    scaled = (len(p) - np.arange(len(p))) * filled[order]
    adjusted = np.empty(len(p))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return np.where(np.isnan(p), np.nan, adjusted)


def holm_confidence(p: float, p_holm: float) -> float:
    """The confidence of the interval that agrees with Holm: 1 - LEVEL p / p_Holm, whose t-interval
    excludes 0 exactly when p_Holm < LEVEL. For the comparison Holm tests first it is the
    Bonferroni interval (1 - LEVEL / m); for the last, once all others are rejected, 1 - LEVEL.
    It agrees with the test comparison by comparison; it is not a simultaneous interval."""
    if math.isnan(p_holm):
        return math.nan
    # p_holm = 0 only for p = 0 (identical values): the interval is a point at any confidence
    return 1 - LEVEL * (p / p_holm if p_holm > 0 else 1.0)


EQUIVALENCE_CONFIDENCE = 1 - 2 * LEVEL  # the interval TOST at LEVEL agrees with


def t_power(effect: float, sd: float, n, level: float):
    """Power of the two-sided one-sample t-test at `level` with `n` values (array too) when the
    mean is `effect` and the standard deviation `sd`: the noncentral t's mass beyond the critical
    values."""
    n = np.asarray(n, dtype=np.float64)
    critical = stats.t.ppf(1 - level / 2, n - 1)
    shift = effect / sd * np.sqrt(n)
    return stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift)


def seeds_needed(effect: float, sd: float, level: float, most: int) -> int | None:
    """The fewest seeds (2 to `most`) whose t-test at `level` has POWER at this effect and spread;
    None when even `most` fall short (an effect too small for its spread to be worth resolving)
    or there is no spread to size it with."""
    if math.isnan(sd) or math.isnan(effect):
        return None
    if sd == 0:
        return MIN_SEEDS if effect != 0 else None
    n = np.arange(MIN_SEEDS, most + 1)
    enough = n[t_power(effect, sd, n, level) >= POWER]
    return int(enough[0]) if len(enough) else None
