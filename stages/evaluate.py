"""Stage `evaluate`: per scenario, the evaluation tables of every run of the study: each method's
trials (on the search seed) and its selected configuration on every replicate seed (see
molere.report.evaluation): evaluation/<scenario>/{results,per_class,ood,margins,history,weights}.parquet,
written together."""

from __future__ import annotations

from molere import paths
from molere.io import atomic_dir
from molere.params import Params
from molere.pipeline import made_by
from molere.report.evaluation import evaluate_runs, write_evaluation
from molere.report.runs import load_run
from molere.scenarios.protocol import scenario_methods
from molere.schema import StudyConfig, section, trial_count
from stages.common import load_info


def run(params: Params, scenario: str) -> str:
    num_classes = load_info(scenario)["num_classes"]
    study = section(params, StudyConfig)
    search_seed, seeds = study.search_seed, list(study.seeds)
    trials = range(trial_count(list(study.trials)))
    runs = []
    methods = scenario_methods(list(study.methods), list(study.trusted_baselines), scenario)
    for method in methods:
        for trial in trials:
            writer = made_by("train", scenario=scenario, method=method, trial=trial, seed=search_seed)
            runs.append(load_run(paths.trial_dir(scenario, method, trial), method, num_classes, writer))
        for seed in seeds:
            writer = made_by("replicate", scenario=scenario, method=method, seed=seed)
            runs.append(load_run(paths.run_dir(scenario, method, seed), method, num_classes, writer))
    tables = evaluate_runs(runs, num_classes, search_seed, study.selection)
    with atomic_dir(paths.eval_dir(scenario)) as out:
        write_evaluation(out, tables)
    return f"{len(runs)} runs of {len(methods)} methods"
