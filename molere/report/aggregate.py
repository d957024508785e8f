"""Aggregation over seeds of one scenario's evaluation tables: the per-method summary behind the
report's table and `metrics.json`, and the data behind every figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molere.errors import MolereError
from molere.metrics import bucket_statistics, histogram, paired_delta, spanning_edges
from molere.report.diagnostics import DIAGNOSTICS
from molere.report.evaluation import BASELINE, EXAMPLE_KEYS
from molere.report.statistics import t_half_width
from molere.selection import RULES

# worst_group_acc only where the scenario's dataset has groups (its results have the column)
SCALARS = ["id_acc", "ood_acc", "worst_class_acc", "worst_group_acc", "ece", "noise_auc", *DIAGNOSTICS]
# accuracy -> its gain over ERM, paired by seed
GAINS = {"id_acc": "id_gain", "ood_acc": "ood_gain", "worst_class_acc": "worst_class_gain"}
# what `reports/metrics.json` holds per scenario and method (NaN entries are left out)
METRIC_KEYS = [
    "id_acc",
    "id_acc_std",
    "ood_acc",
    "ood_acc_std",
    "worst_class_acc",
    "worst_class_acc_std",
    "worst_group_acc",
    "worst_group_acc_std",
    "ece",
    "noise_auc",
    "id_gain",
    "ood_gain",
    "meta_steps",
    "weight_p05",
    "weight_p95",
    "val_noisy_share",
]


def seed_gains(results: pd.DataFrame) -> pd.DataFrame:
    """Per method and seed, each accuracy minus ERM's with the same seed (no rows without ERM)."""
    base = results.loc[results["method"] == BASELINE, ["seed", *GAINS]]
    merged = results[["method", "seed", *GAINS]].merge(base, on="seed", suffixes=("", "_base"))
    gains = {gain: merged[metric] - merged[f"{metric}_base"] for metric, gain in GAINS.items()}
    return pd.DataFrame({"method": merged["method"], "seed": merged["seed"], **gains})


def summarise(results: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """One row per method (in `methods` order): the mean and sample std (`_std`) over seeds of
    every scalar and of every gain over ERM, and the number of seeds."""
    frames = [results[["method", *(key for key in SCALARS if key in results)]], seed_gains(results).drop(columns="seed")]
    grouped = [frame.groupby("method") for frame in frames]
    parts = [g.mean() for g in grouped] + [g.std(ddof=1).add_suffix("_std") for g in grouped]
    summary = pd.concat(parts, axis=1).reindex(methods)
    summary["seeds"] = results.groupby("method").size().reindex(methods)
    return summary


def metrics_json(summary: pd.DataFrame) -> dict:
    """`{method: {key: value}}` of `METRIC_KEYS`, rounded to 4 decimals, NaN and the keys the
    summary lacks (worst-group accuracy without groups) left out (JSON has no NaN)."""
    return {
        method: {key: round(float(row[key]), 4) for key in METRIC_KEYS if key in row and pd.notna(row[key])}
        for method, row in summary.iterrows()
    }


def gain_data(summary: pd.DataFrame) -> pd.DataFrame:
    """Gain over ERM in distribution and OOD per method (Figs. 1-2): method, where, gain, its
    sample std over seeds and the half-width of its 95% t-interval paired by seed (NaN with one
    seed)."""
    others = summary.drop(index=BASELINE, errors="ignore")
    frames = [
        pd.DataFrame(
            {
                "method": others.index,
                "where": where,
                "gain": others[gain],
                "gain_std": others[f"{gain}_std"],
                "gain_ci95": t_half_width(others[f"{gain}_std"].to_numpy(), others["seeds"].to_numpy()),
            }
        )
        for where, gain in (("id", "id_gain"), ("ood", "ood_gain"))
    ]
    return pd.concat(frames, ignore_index=True).dropna(subset=["gain"])


def protocol_data(runs: pd.DataFrame, methods: list[str], search_seed: int) -> pd.DataFrame:
    """Per method, its search on `search_seed`: the number of trials and, per selection rule,
    the trial it picks with that trial's values, selection-split and test accuracy."""
    search = runs[runs["seed"] == search_seed]
    rows = []
    for method in methods:
        trials = search[search["method"] == method]
        row = {"method": method, "trials": len(trials)}
        for rule in RULES.names():
            picked = trials[trials[f"selected_by_{rule}"]].iloc[0]
            row.update({f"{rule}_{key}": picked[key] for key in ("trial", "values", "select_acc", "id_acc", "ood_acc")})
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def ood_severity_data(ood: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """OOD accuracy per method, shift and severity: mean and sample std over seeds."""
    grouped = ood.groupby(["method", "shift", "severity"])["acc"]
    stats = [grouped.mean().rename("acc"), grouped.std(ddof=1).rename("acc_std"), grouped.size().rename("seeds")]
    data = pd.concat(stats, axis=1).reset_index()
    order = data["method"].map({m: i for i, m in enumerate(methods)})
    data = data.assign(order=order).sort_values(["order", "shift", "severity"])
    return data.drop(columns="order").reset_index(drop=True)


def margin_deltas(margins: pd.DataFrame, method: str, source: str) -> pd.DataFrame:
    """Paired test-set margin delta of `method` against ERM, per seed and example: columns seed,
    the example keys, `base` (ERM's margin), `margin` and `delta`."""
    test = margins[margins["set"] == "test"]
    mine, base = test[test["method"] == method], test[test["method"] == BASELINE]
    try:
        return paired_delta(mine, base, ["seed", *EXAMPLE_KEYS], "margin")
    except ValueError as err:
        raise MolereError(f"{source}: the test margins of {method} and {BASELINE} do not pair up: {err}") from None


def delta_histogram_data(deltas: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per method, the histogram of its paired margin deltas, with their mean and median; every
    method gets the same bins, spanning all their deltas, so the panels compare."""
    edges = spanning_edges(np.concatenate([d["delta"].to_numpy() for d in deltas.values()]))
    frames = [
        histogram(d["delta"].to_numpy(), edges).assign(method=m, mean=d["delta"].mean(), median=d["delta"].median())
        for m, d in deltas.items()
    ]
    return pd.concat(frames, ignore_index=True)[["method", "bin_lo", "bin_hi", "count", "mean", "median"]]


def bucket_data(deltas: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per method and ERM-margin bucket, the mean margin gain and its standard error (Fig. 3c-d)."""
    frames = [
        bucket_statistics(d["base"].to_numpy(), d["delta"].to_numpy()).assign(method=method)
        for method, d in deltas.items()
    ]
    data = pd.concat(frames, ignore_index=True)
    return data[["method", *data.columns.drop("method")]].rename(columns={"mean": "gain", "se": "gain_se"})


def weight_distribution_data(weights: pd.DataFrame, methods: list[str], bins: int = 30) -> pd.DataFrame:
    """Per method, histograms of the normalised weights of clean and of mislabelled train-side
    examples (pooled over seeds), on shared bins so the panels compare: method, kind, bin_lo,
    bin_hi, count, share (of its kind)."""
    shown = weights[weights["method"].isin(methods)]
    edges = np.linspace(0.0, max(float(shown["weight"].max()), 1.0), bins + 1)
    frames = []
    for method in dict.fromkeys(m for m in methods if m in set(shown["method"])):
        for kind, noisy in (("clean", False), ("mislabelled", True)):
            part = shown.loc[(shown["method"] == method) & (shown["is_noisy"] == noisy), "weight"].to_numpy()
            counts = histogram(part, edges)
            frames.append(counts.assign(method=method, kind=kind, share=counts["count"] / max(len(part), 1)))
    data = pd.concat(frames, ignore_index=True)
    return data[["method", "kind", "bin_lo", "bin_hi", "count", "share"]]


def learning_curves(history: pd.DataFrame, methods: list[str], column: str) -> pd.DataFrame:
    """`column` of the history per epoch (rows) and method (columns, every one of `methods`,
    empty where a method has no such column), mean over seeds."""
    values = history[column] if column in history else np.nan
    curves = history.assign(value=values).pivot_table(
        index="epoch", columns="method", values="value", aggfunc="mean", dropna=False
    )
    return curves.reindex(columns=methods).reset_index().rename_axis(columns=None)
