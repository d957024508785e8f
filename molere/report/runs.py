"""Reading one training run's directory (what `stages/train.py` writes), checked so that a
missing or damaged file stops the evaluation with one line naming that file, rather than
leaving a smaller table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from molere.errors import MolereError
from molere import paths
from molere.io import read_json, read_table

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
    metrics = read_json(path, made_by)
    missing = [key for key in METRIC_KEYS if key not in metrics] if isinstance(metrics, dict) else list(METRIC_KEYS)
    check(not missing, path, f"lacks the keys {', '.join(missing)}", made_by)

    path = directory / paths.PREDICTIONS
    predictions = checked_table(path, (*PREDICTION_COLUMNS, *probability_columns(num_classes)), made_by)
    check((predictions["set"] == "test").any(), path, "has no test rows", made_by)
    check(np.isfinite(predictions["margin"].to_numpy(dtype=float)).all(), path, "has non-finite margins", made_by)

    history = checked_table(directory / paths.HISTORY, HISTORY_COLUMNS, made_by)

    path = directory / paths.WEIGHTS
    weights = checked_table(path, WEIGHT_COLUMNS, made_by)
    check(np.isfinite(weights["weight"].to_numpy(dtype=float)).all(), path, "has non-finite weights", made_by)

    validation = checked_table(directory / paths.VALIDATION, VALIDATION_COLUMNS, made_by)

    path = directory / paths.CONFIG
    config = read_json(path, made_by)
    check(isinstance(config, dict) and isinstance(config.get("values"), dict), path, "lacks its trial's values", made_by)
    return Run(method, int(metrics["trial"]), int(metrics["seed"]), metrics, predictions, history, weights, validation, config["values"])


def checked_table(path: Path, columns, made_by: str, allow_empty: bool = False) -> pd.DataFrame:
    """A table holding `columns` (and rows, unless `allow_empty`), or a one-line error naming the file."""
    frame = read_table(path, made_by)
    missing = [c for c in columns if c not in frame.columns]
    check(not missing, path, f"lacks the columns {', '.join(missing)}", made_by)
    check(allow_empty or len(frame) > 0, path, "has no rows", made_by)
    return frame


def check(condition: bool, path: Path, problem: str, made_by: str) -> None:
    if not condition:
        raise MolereError(f"corrupt file {path}: it {problem}; re-run `molere-bench stage {made_by}`")
