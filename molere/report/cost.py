"""The study's training cost, from the runs' timing files (molere/timings.py): `reports/cost.csv`,
one row per scenario x method x seed, and `reports/cost.md`, per scenario the seconds per epoch
(mean ± sample std over seeds) and their ratio to ERM's. These are timing files: nothing here
enters the reproducible report, and a run without a timing file is a gap, never an error."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molere.report.evaluation import BASELINE
from molere.report.markdown import DASH, cells, table

COLUMNS = ["scenario", "method", "seed", "epochs", "seconds", "seconds_per_epoch", "overhead", "machine"]
MEASURES = ["seconds_per_epoch", "overhead", "seconds"]


def cost_table(timings: dict[tuple[str, str, int], dict | None]) -> pd.DataFrame:
    """One row per (scenario, method, seed) of `timings` (NaN where its timing is None), with
    `overhead`: seconds per epoch over the mean of ERM's in that scenario."""
    rows = [
        {"scenario": s, "method": m, "seed": seed, **{k: (t or {}).get(k, np.nan) for k in ("epochs", "seconds", "seconds_per_epoch", "machine")}}
        for (s, m, seed), t in timings.items()
    ]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "overhead"])
    frame["seconds_per_epoch"] = frame["seconds_per_epoch"].astype(float)
    erm = frame[frame["method"] == BASELINE].groupby("scenario")["seconds_per_epoch"].mean()
    frame["overhead"] = frame["seconds_per_epoch"] / frame["scenario"].map(erm)
    return frame[COLUMNS]


def render(costs: pd.DataFrame, methods: list[str]) -> str:
    """cost.md: per scenario a table of methods, the costliest method, where it was measured and
    which runs have no timing."""
    lines = [
        "# molere-bench cost",
        "",
        "Wall-clock training time of the runs behind [report.md](report.md), from the timing files that each training "
        "stage writes under `timings/` when it runs. Times differ from machine to machine and from run to run, so "
        "they are kept apart from the results (README, Reproducibility). s / epoch: mean ± sample std over seeds; "
        "× ERM: its ratio to ERM's mean; total: the seconds of one run's training, set-up excluded.",
        "",
    ]
    for scenario, frame in costs.groupby("scenario", sort=False):
        lines += section(scenario, frame, methods)
    machines = sorted(costs["machine"].dropna().unique())
    lines += [f"Measured on: {'; '.join(machines) if machines else 'nothing yet'}.", ""]
    missing = costs[costs["seconds_per_epoch"].isna()]
    if len(missing):
        runs = ", ".join(f"{r.scenario} {r.method} seed {r.seed}" for r in missing.itertuples())
        lines += [
            f"No timing for: {runs}: a stage that DVC restored from its cache instead of running writes none.",
            "",
        ]
    return "\n".join(lines)


def section(scenario: str, frame: pd.DataFrame, methods: list[str]) -> list[str]:
    grouped = frame.groupby("method")[MEASURES]
    summary = pd.concat([grouped.mean(), grouped.std(ddof=1).add_suffix("_std")], axis=1).reindex(methods)
    epochs = frame.groupby("method")["epochs"].max().reindex(methods)
    columns = {
        "method": methods,
        "epochs": [DASH if pd.isna(e) else str(int(e)) for e in epochs],
        "s / epoch": cells(summary, "seconds_per_epoch", scale=1, digits=3),
        "× ERM": cells(summary, "overhead", scale=1, digits=2),
        "total s": cells(summary, "seconds", scale=1, digits=1),
    }
    lines = [f"## {scenario}", "", *table(list(columns), list(zip(*columns.values()))), ""]
    overhead = summary["overhead"].dropna()
    if len(overhead) > 1:
        costliest = overhead.idxmax()
        lines += [
            f"The costliest per epoch is {costliest}, at {overhead[costliest]:.2f}× ERM's time "
            f"({summary.loc[costliest, 'seconds_per_epoch']:.3f} s).",
            "",
        ]
    return lines
