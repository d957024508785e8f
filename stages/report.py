"""Stage `report`: tables over scenarios, methods and seeds; `reports/metrics.json` for DVC."""

from __future__ import annotations

import pandas as pd

from molere.io import read_table, write_json, write_table, write_text
from molere.params import Params
from stages import paths

COLUMNS = ["id_acc", "ood_acc", "worst_class_acc", "seconds_per_epoch"]


def run(params: Params) -> None:
    results = pd.concat(
        [
            read_table(paths.eval_dir(s) / "results.parquet", made_by=f"evaluate --scenario {s}")
            for s in params.get("study.scenarios", list)
        ],
        ignore_index=True,
    )
    write_table(paths.REPORTS / "results.csv", results)
    summary = results.groupby(["scenario", "method"], sort=False)[COLUMNS].agg(["mean", "std"])
    metrics: dict = {}
    for (scenario, method), row in summary.iterrows():
        metrics.setdefault(scenario, {})[method] = {
            f"{col}{'' if stat == 'mean' else '_std'}": round(float(row[(col, stat)]), 4)
            for col, stat in row.index
            if pd.notna(row[(col, stat)])
        }
    write_json(paths.REPORTS / "metrics.json", metrics)
    write_text(paths.REPORTS / "report.md", markdown(metrics))


def markdown(metrics: dict) -> str:
    lines = ["# molere-bench report", ""]
    for scenario, methods in metrics.items():
        lines += [f"## {scenario}", "", "| method | ID acc | OOD acc | worst class | s/epoch |", "|---|---|---|---|---|"]
        for method, m in methods.items():
            cells = [f"{m.get(c, float('nan')):.4f} ± {m.get(c + '_std', 0):.4f}" for c in COLUMNS[:3]]
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {m['seconds_per_epoch']:.2f} |")
        lines.append("")
    return "\n".join(lines)
