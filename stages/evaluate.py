"""Stage `evaluate`: per scenario, one row per method x seed of the run's summary statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molere.io import read_json, read_table, write_table
from molere.metrics import per_class_accuracy
from molere.params import Params
from stages import paths
from stages.common import load_info


def run(params: Params, scenario: str) -> None:
    info = load_info(scenario)
    rows = []
    for method in params.get("study.methods", list):
        for seed in params.get("study.seeds", list):
            run_dir = paths.run_dir(scenario, method, seed)
            made_by = f"train --scenario {scenario} --method {method} --seed {seed}"
            metrics = read_json(run_dir / "metrics.json", made_by)
            predictions = read_table(run_dir / "predictions.parquet", made_by)
            test = predictions[predictions["set"] == "test"]
            per_class = per_class_accuracy(test["y"].to_numpy(), test["correct"].to_numpy(), info["num_classes"])
            rows.append(
                {
                    "scenario": scenario,
                    "method": method,
                    "seed": seed,
                    "id_acc": metrics["id_acc"],
                    "ood_acc": metrics["ood_acc"],
                    "worst_class_acc": float(np.nanmin(per_class)),
                    "seconds_per_epoch": metrics["seconds_per_epoch"],
                }
            )
    write_table(paths.eval_dir(scenario) / "results.parquet", pd.DataFrame(rows))
