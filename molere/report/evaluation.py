"""Per-scenario evaluation of a study's runs. `results` has one row per run, trials and seeds,
with the trial each selection rule picks flagged (`selected_by_<rule>`), and where the dataset
has groups its worst-group test accuracy (`worst_group_acc`, `worst_group`); the other tables hold the
headline runs only, those of the study's rule (one per method and seed), each with `method` and
`seed` columns, so that later steps can average over seeds and pair methods by seed and by test
example."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from molere.io import check, read_table, write_table
from molere.metrics import (
    accuracy_by,
    expected_calibration_error,
    noise_auc,
    per_class_accuracy,
    worst_class_accuracy,
    worst_group_accuracy,
)
from molere.report.diagnostics import DIAGNOSTICS, diagnostics, weights_by_noise
from molere.report.runs import Run, probability_columns
from molere.selection import RULES, choose

BASELINE = "erm"
# what names one test or OOD example across runs (OOD ids restart in every shift x severity)
EXAMPLE_KEYS = ["set", "shift", "severity", "id"]
# each evaluation table and the columns the report needs of it
TABLE_COLUMNS = {
    "results": ["method", "trial", "seed", "select_acc", "id_acc", "ood_acc", "worst_class_acc", "ece", "noise_auc"]
    + ["learns_weights", *DIAGNOSTICS],
    "per_class": ["method", "seed", "class", "count", "acc"],
    "ood": ["method", "seed", "shift", "severity", "acc"],
    "margins": ["method", "seed", *EXAMPLE_KEYS, "y", "correct", "margin"],
    "history": ["method", "seed", "epoch", "train_loss"],
    "weights": ["method", "seed", "id", "weight", "is_noisy"],  # methods that learn weights only
}
TABLES = tuple(TABLE_COLUMNS)


def evaluate_runs(runs: list[Run], num_classes: int, search_seed: int, rule: str) -> dict[str, pd.DataFrame]:
    """The tables named in `TABLES`: `results` has one row per run (the trials ran on
    `search_seed`), the others one row per headline run (the trial `rule` picks, on every
    replicate seed: the search seed's run of it won the search, so it is no replicate)
    and class, shift x severity, test example, epoch, or (methods that learn weights) train-side
    example."""
    examples = [example_table(run.predictions, num_classes) for run in runs]
    results = pd.DataFrame([summary(run, frame, num_classes) for run, frame in zip(runs, examples)])
    results = flag_selected(results, search_seed)
    headline = (results[f"selected_by_{rule}"] & (results["seed"] != search_seed)).to_numpy()
    runs, examples = [r for r, keep in zip(runs, headline) if keep], [e for e, keep in zip(examples, headline) if keep]
    learners = [run for run in runs if run.metrics["learns_weights"]]
    return {
        "results": results,
        "per_class": stacked(runs, [per_class_table(f, num_classes) for f in examples]),
        "ood": stacked(runs, [accuracy_by(f[f["set"] == "ood"], ["shift", "severity"]) for f in examples]),
        "margins": stacked(runs, examples),
        "history": stacked(runs, [run.history for run in runs]),
        "weights": stacked(learners, [weights_by_noise(run) for run in learners])
        if learners
        else pd.DataFrame(columns=TABLE_COLUMNS["weights"]),
    }


def example_table(predictions: pd.DataFrame, num_classes: int) -> pd.DataFrame:
    """One row per test / OOD example: its keys, label, prediction, margin and confidence (the
    predicted class's probability). Test rows get shift "" and severity 0."""
    frame = predictions.reindex(columns=[*predictions.columns.union(["shift", "severity"], sort=False)])
    return pd.DataFrame(
        {
            "set": frame["set"].astype(str),
            "shift": frame["shift"].fillna("").astype(str),
            "severity": frame["severity"].fillna(0).astype(np.int64),
            "id": frame["id"].astype(np.int64),
            "y": frame["y"].astype(np.int64),
            "correct": frame["correct"].astype(bool),
            "margin": frame["margin"].astype(np.float64),
            "confidence": frame[probability_columns(num_classes)].max(axis=1).astype(np.float64),
        }
    )


def summary(run: Run, examples: pd.DataFrame, num_classes: int) -> dict:
    test = examples[examples["set"] == "test"]
    y, correct = test["y"].to_numpy(), test["correct"].to_numpy()
    ood_cells = accuracy_by(examples[examples["set"] == "ood"], ["shift", "severity"])
    learns_weights = bool(run.metrics["learns_weights"])
    return {
        "method": run.method,
        "trial": run.trial,
        "seed": run.seed,
        "values": json.dumps(run.values, sort_keys=True),
        "select_acc": float(run.metrics["select_acc"]) if run.metrics["select_acc"] is not None else np.nan,
        "id_acc": float(correct.mean()),
        # every shift x severity counts once, whatever its size
        "ood_acc": float(ood_cells["acc"].mean()) if len(ood_cells) else np.nan,
        "worst_class_acc": worst_class_accuracy(y, correct, num_classes),
        **worst_group(run.predictions),
        "ece": expected_calibration_error(test["confidence"].to_numpy(), correct),
        "noise_auc": noise_auc(run.weights["weight"], run.weights["is_noisy"]) if learns_weights else np.nan,
        "learns_weights": learns_weights,
        **diagnostics(run, learns_weights),
        "epochs": int(run.metrics["epochs"]),
    }


def worst_group(predictions: pd.DataFrame) -> dict:
    """The test set's worst group (`worst_group`, its id) and its accuracy (`worst_group_acc`),
    where the predictions carry groups; nothing otherwise, so a dataset without groups keeps its
    results' columns."""
    if "group" not in predictions:
        return {}
    test = predictions[predictions["set"] == "test"]
    group, acc = worst_group_accuracy(test["group"].to_numpy(np.int64), test["correct"].to_numpy(bool))
    return {"worst_group_acc": acc, "worst_group": group}


def flag_selected(results: pd.DataFrame, search_seed: int) -> pd.DataFrame:
    """`selected_by_<rule>` per rule: on the search seed the trial the rule picks among the
    method's trials; on the other seeds, the replicate runs when they ran that trial."""
    search = results[results["seed"] == search_seed]
    flags = {}
    for rule in RULES.names():
        picks = {method: choose(rule, trials) for method, trials in search.groupby("method")}
        flags[f"selected_by_{rule}"] = [picks.get(m) == t for m, t in zip(results["method"], results["trial"])]
    return results.assign(**flags)


def per_class_table(examples: pd.DataFrame, num_classes: int) -> pd.DataFrame:
    test = examples[examples["set"] == "test"]
    y = test["y"].to_numpy()
    return pd.DataFrame(
        {
            "class": np.arange(num_classes),
            "count": np.bincount(y, minlength=num_classes),
            "acc": per_class_accuracy(y, test["correct"].to_numpy(), num_classes),
        }
    )


def stacked(runs: list[Run], frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one below the other, each led by its run's `method` and `seed` (one headline
    run per method and seed)."""
    led = [f.assign(method=run.method, seed=run.seed)[["method", "seed", *f.columns]] for run, f in zip(runs, frames)]
    return pd.concat(led, ignore_index=True)


def write_evaluation(directory: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        write_table(Path(directory) / f"{name}.parquet", tables[name])


def read_evaluation(
    directory: Path, methods: list[str], search_seed: int, seeds: list[int], made_by: str, rule: str = "selection"
) -> dict[str, pd.DataFrame]:
    """The tables of `write_evaluation`, restricted to `methods` x `seeds`, with `runs` holding
    every run's row (the trials on `search_seed` too) and `results` the headline runs' (those
    `rule` selected, on the replicate `seeds`); a one-line error
    naming the file if one is missing, damaged, or lacks a run of the study (the OOD table may
    be empty: a dataset without shifts)."""
    tables = {}
    for name in TABLES:
        path = Path(directory) / f"{name}.parquet"
        frame = read_table(path, made_by, TABLE_COLUMNS[name], allow_empty=name in ("ood", "weights"))
        present = set(zip(frame["method"], frame["seed"]))
        expected = [(m, s) for m in methods for s in seeds]
        if name == "weights":  # only the runs that learn weights have rows
            learners = tables["results"].loc[tables["results"]["learns_weights"].astype(bool), ["method", "seed"]]
            expected = list(learners.itertuples(index=False, name=None))
        missing = [f"{m} seed {s}" for m, s in expected if (m, s) not in present]
        check(not missing or (name == "ood" and not present), path, f"has no rows for {', '.join(missing)}", made_by)
        tables[name] = frame[frame["method"].isin(methods) & frame["seed"].isin(seeds)].reset_index(drop=True)
        if name == "results":
            check(f"selected_by_{rule}" in frame, path, f"lacks the columns selected_by_{rule}", made_by)
            tables["runs"] = frame[frame["method"].isin(methods) & frame["seed"].isin([search_seed, *seeds])].reset_index(drop=True)
            tables["results"] = tables["results"][tables["results"][f"selected_by_{rule}"]].reset_index(drop=True)
    return tables
