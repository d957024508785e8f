"""Stage `evaluate`: per scenario, the evaluation tables of every method x seed of the study
(see molere.report.evaluation): evaluation/<scenario>/{results,per_class,ood,margins,history}.parquet."""

from __future__ import annotations

from molere.params import Params
from molere.report.evaluation import evaluate_runs, write_evaluation
from molere.report.runs import load_run
from stages import paths
from stages.common import load_info


def run(params: Params, scenario: str) -> None:
    num_classes = load_info(scenario)["num_classes"]
    runs = [
        load_run(
            paths.run_dir(scenario, method, seed),
            method,
            seed,
            num_classes,
            made_by=f"train --scenario {scenario} --method {method} --seed {seed}",
        )
        for method in params.get("study.methods", list)
        for seed in params.get("study.seeds", list)
    ]
    write_evaluation(paths.eval_dir(scenario), evaluate_runs(runs, num_classes))
