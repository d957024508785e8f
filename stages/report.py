"""Stage `report`: over scenarios, methods and seeds, reports/{report.md, metrics.json,
results.csv}, the figures (PNG + CSV) in reports/figures/ and the learning curves for
`dvc plots` in reports/curves/; and, apart from them, the cost in reports/cost.{md,csv} from the
runs' timing files (no DVC outputs or dependencies: molere/timings.py)."""

from __future__ import annotations

import shutil

import pandas as pd

from molere.io import write_json, write_table, write_text
from molere.params import Params
from molere.report import aggregate, cost, markdown
from molere.report.build import build_scenario, write_curves
from molere.report.evaluation import read_evaluation
from molere.timings import read_timing
from stages import paths

FIGURES = paths.REPORTS / "figures"
CURVES = paths.REPORTS / "curves"


def run(params: Params) -> None:
    methods = params.get("study.methods", list)
    seeds = params.get("study.seeds", list)
    tables = {
        scenario: read_evaluation(paths.eval_dir(scenario), methods, seeds, f"evaluate --scenario {scenario}")
        for scenario in params.get("study.scenarios", list)
    }
    for stale in (FIGURES, CURVES):  # drop the figures of scenarios no longer in the study
        shutil.rmtree(stale, ignore_errors=True)
        stale.mkdir(parents=True)
    reports = [
        build_scenario(scenario, t, methods, FIGURES, str(paths.eval_dir(scenario))) for scenario, t in tables.items()
    ]
    for scenario, t in tables.items():
        write_curves(scenario, t["history"], methods, CURVES)
    results = pd.concat([t["results"].assign(scenario=s) for s, t in tables.items()], ignore_index=True)
    write_table(paths.REPORTS / "results.csv", results[["scenario", *results.columns.drop("scenario")]])
    write_json(paths.REPORTS / "metrics.json", {r.name: aggregate.metrics_json(r.summary) for r in reports})
    write_text(paths.REPORTS / "report.md", markdown.render(reports, seeds, paths.REPORTS))
    timings = {
        (scenario, method, seed): read_timing(paths.run_timing(scenario, method, seed))
        for scenario in tables
        for method in methods
        for seed in seeds
    }
    costs = cost.cost_table(timings)
    write_table(paths.COST_TABLE, costs)
    write_text(paths.COST_REPORT, cost.render(costs, methods))
