"""Unstable cells: a method whose accuracy in a scenario swings from seed to seed (a range over
`SPREAD`) or sinks near chance on some seed (below chance + `NEAR_CHANCE`). A verdict that rests
on such a cell rests on runs that sometimes fail, not on seed noise, so `claims.json` and
report.md name the cell, with its per-seed values, beside every verdict that uses it. The rule
is defined here once."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

SPREAD = 0.15  # accuracy range across seeds (15 points) above which a cell is unstable
NEAR_CHANCE = 0.10  # a seed below chance + 10 points makes the cell unstable
ACCURACIES = {"id_acc": "ID", "ood_acc": "OOD"}
DIGITS = 9  # a range is compared rounded, so 0.55 - 0.40 reads as 15 points, not over


@dataclass(frozen=True)
class Unstable:
    """One unstable cell: `method`'s `metric` in a scenario, per seed, and why it is unstable."""

    method: str
    metric: str
    values: dict[int, float]  # seed -> accuracy, in seed order
    reasons: tuple[str, ...]

    def text(self) -> str:
        per_seed = " / ".join(f"{100 * v:.1f}" for v in self.values.values())
        return f"{self.method} {ACCURACIES[self.metric]} {per_seed}% over seeds {', '.join(map(str, self.values))} ({'; '.join(self.reasons)})"

    def json(self) -> dict:
        return {"method": self.method, "metric": self.metric, "per_seed": {str(s): round(v, 4) for s, v in self.values.items()}, "why": list(self.reasons)}


def unstable_cells(results: pd.DataFrame, methods: list[str], chance: float | None) -> list[Unstable]:
    """The unstable cells among `methods` in one scenario's `results` (one row per method and
    seed, the accuracy columns of `ACCURACIES`); `chance`, 1 / the number of classes (None: no
    near-chance rule)."""
    found = []
    for method in methods:
        runs = results[results["method"] == method].sort_values("seed")
        for metric in ACCURACIES:
            values = runs.set_index("seed")[metric].dropna()
            reasons = instability(values, chance)
            if reasons:
                found.append(Unstable(method, metric, {int(s): float(v) for s, v in values.items()}, reasons))
    return found


def instability(values: pd.Series, chance: float | None) -> tuple[str, ...]:
    """Why these per-seed accuracies are unstable; () when they are not (or there are none)."""
    if values.empty:
        return ()
    reasons = []
    spread = round(float(values.max() - values.min()), DIGITS)
    if spread > SPREAD:
        reasons.append(f"range {100 * spread:.1f} points, over {100 * SPREAD:.0f}")
    if chance is not None and round(float(values.min()), DIGITS) < round(chance + NEAR_CHANCE, DIGITS):
        reasons.append(f"a seed below chance + {100 * NEAR_CHANCE:.0f} points, {100 * (chance + NEAR_CHANCE):.0f}%")
    return tuple(reasons)
