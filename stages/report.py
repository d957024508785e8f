"""Stage `report`: over scenarios, methods and seeds, reports/{report.md, metrics.json,
results.csv}, the paper's claims tested (reports/{claims.json, claim_comparisons.csv}), the
figures (PNG + CSV) in reports/figures/ and the learning curves for `dvc plots` in
reports/curves/; and, apart from them, the cost in reports/cost.{md,csv} from the runs' timing
files (no DVC outputs or dependencies: molere/timings.py); all written together, as one folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from molere import paths
from molere.io import atomic_dir, write_json, write_table, write_text
from molere.params import Params
from molere.pipeline import made_by
from molere.report import aggregate, claims, cost, figures, markdown
from molere.report.build import build_scenario, drawn, write_curves
from molere.report.evaluation import read_evaluation
from molere.scenarios.protocol import scenario_methods
from molere.schema import ClaimsConfig, StudyConfig, section
from molere.timings import read_timing


def run(params: Params) -> str:
    study = section(params, StudyConfig)
    search_seed, seeds, rule = study.search_seed, list(study.seeds), study.selection
    # each scenario's methods: the trusted ones add the trusted-ERM baselines
    ran = {scenario: scenario_methods(list(study.methods), list(study.trusted_baselines), scenario) for scenario in study.scenarios}
    tables = {
        scenario: read_evaluation(paths.eval_dir(scenario), ran[scenario], search_seed, seeds, made_by("evaluate", scenario=scenario), rule)
        for scenario in ran
    }
    # judged before anything is written: claims stop on tables with more than one run per method and seed
    judgement = claims.judge(
        {s: claims.Tables(t["results"], t["margins"], str(paths.eval_dir(s)), chance(t["per_class"])) for s, t in tables.items()},
        config=section(params, ClaimsConfig),
    )
    timings = {
        (scenario, method, seed): read_timing(paths.timing(paths.run_dir(scenario, method, seed)))
        for scenario in tables
        for method in ran[scenario]
        for seed in seeds
    }
    with atomic_dir(paths.REPORTS) as out:  # a fresh folder: no figure of a scenario no longer in the study
        write_reports(out, tables, judgement, timings, ran, search_seed, seeds, rule)
    return f"{len(tables)} scenarios, {len(judgement.comparisons)} claim comparisons"


def chance(per_class: pd.DataFrame) -> float:
    """1 / the number of classes, which the per-class table lists for every run."""
    return 1 / per_class["class"].nunique()


def write_reports(
    out: Path, tables: dict, judgement, timings: dict, ran: dict[str, list[str]], search_seed: int, seeds: list[int], rule: str
) -> None:
    """Every file of reports/ (each path there in molere.paths) under `out` instead; `ran`: each
    scenario's methods."""

    def at(path: Path) -> Path:
        return out / path.relative_to(paths.REPORTS)

    reports = [
        build_scenario(scenario, t, ran[scenario], at(paths.FIGURES), str(paths.eval_dir(scenario)), search_seed) for scenario, t in tables.items()
    ]
    for scenario, t in tables.items():
        write_curves(scenario, t["history"], ran[scenario], at(paths.CURVES))
    results = pd.concat([t["runs"].assign(scenario=s) for s, t in tables.items()], ignore_index=True)
    write_table(at(paths.RESULTS), results[["scenario", *results.columns.drop("scenario")]])
    write_json(at(paths.REPORT_METRICS), {r.name: aggregate.metrics_json(r.summary) for r in reports})
    write_json(at(paths.CLAIMS), claims.claims_json(judgement))
    write_table(at(paths.CLAIM_COMPARISONS), judgement.comparisons)
    heatmap = drawn(
        at(paths.FIGURES) / "claims.png",
        "The paper's claims: effect as claimed (blue) or against (red); hatched: not resolved",
        claims.heatmap_data(judgement),
        figures.claims_heatmap,
    )
    write_text(at(paths.REPORT), markdown.render(reports, judgement, heatmap, search_seed, seeds, out, rule))
    costs = cost.cost_table(timings)
    write_table(at(paths.COST_TABLE), costs)
    write_text(at(paths.COST_REPORT), cost.render(costs, list(dict.fromkeys(m for listed in ran.values() for m in listed))))
