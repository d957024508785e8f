"""Reading one training run's directory (what `stages/train.py` writes), checked so that a
missing or damaged file stops the evaluation with one line naming that file, rather than
leaving a smaller table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from molere import paths
from molere.io import check, read_json, read_table

METRIC_KEYS = ("trial", "seed", "select_acc", "epochs", "learns_weights")
PREDICTION_COLUMNS = ("set", "id", "y", "correct", "margin")
HISTORY_COLUMNS = ("epoch", "train_loss")
WEIGHT_COLUMNS = ("id", "weight", "is_noisy", "margin")
VALIDATION_COLUMNS = ("id", "y", "is_noisy", "in_val", "p_train")


@dataclass(frozen=True)
class Run:
    method: str
    trial: int
    seed: int
    metrics: dict
    predictions: pd.DataFrame  # one row per test / OOD example
    history: pd.DataFrame  # one row per epoch
    weights: pd.DataFrame  # one row per train-side example of the pool
    validation: pd.DataFrame  # one row per pool example: which side the run held it on
    values: dict  # what its trial set on top of params (dotted keys; {} for the defaults)


def probability_columns(num_classes: int) -> list[str]:
    return [f"p{k}" for k in range(num_classes)]


def load_run(directory: Path, method: str, num_classes: int, made_by: str) -> Run:
    """Read and check a run's files; `made_by` is the stage command that writes them."""
    directory = Path(directory)
    path = directory / paths.METRICS
    metrics = read_json(path, made_by, keys=METRIC_KEYS)

    path = directory / paths.PREDICTIONS
    predictions = read_table(path, made_by, (*PREDICTION_COLUMNS, *probability_columns(num_classes)), allow_empty=False)
    check((predictions["set"] == "test").any(), path, "has no test rows", made_by)
    check(np.isfinite(predictions["margin"].to_numpy(dtype=float)).all(), path, "has non-finite margins", made_by)
    if "group" in predictions:  # a dataset with groups: every test example has one
        check(predictions.loc[predictions["set"] == "test", "group"].notna().all(), path, "has test rows without a group", made_by)

    history = read_table(directory / paths.HISTORY, made_by, HISTORY_COLUMNS, allow_empty=False)

    path = directory / paths.WEIGHTS
    weights = read_table(path, made_by, WEIGHT_COLUMNS, allow_empty=False)
    check(np.isfinite(weights["weight"].to_numpy(dtype=float)).all(), path, "has non-finite weights", made_by)

    validation = read_table(directory / paths.VALIDATION, made_by, VALIDATION_COLUMNS, allow_empty=False)

    path = directory / paths.CONFIG
    config = read_json(path, made_by)
    check(isinstance(config, dict) and isinstance(config.get("values"), dict), path, "lacks its trial's values", made_by)
    return Run(method, int(metrics["trial"]), int(metrics["seed"]), metrics, predictions, history, weights, validation, config["values"])
