"""One scenario's part of the report: its summary over seeds, its figures (each PNG with the CSV
of its data next to it), and its learning curves as CSV for `dvc plots`. A figure whose methods
are not in the study is skipped with a note, never an error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from molere.io import write_table
from molere.report import aggregate, figures
from molere.report.evaluation import BASELINE

# the methods each paired-margin figure compares with ERM (the paper's Fig. 3a-b and 3c-d)
DELTA_METHODS = ("lrw-hard", "molere")
BUCKET_METHODS = ("lrw-hard", "lrw-easy")
# the methods whose learned weights of clean and mislabelled examples the report draws
WEIGHT_METHODS = ("lrw-hard", "molere", "mwnet")
CURVE_COLUMNS = ("train_loss", "train_acc")


@dataclass
class FigureEntry:
    title: str
    png: Path | None  # None: skipped
    note: str = ""  # why it was skipped, or which of its methods are absent


@dataclass
class ScenarioReport:
    name: str
    summary: pd.DataFrame  # one row per method, see aggregate.summarise
    per_class: pd.DataFrame  # mean accuracy over seeds, methods x classes
    figures: list[FigureEntry]
    margin_shift: dict[str, tuple[float, float]]  # method -> (mean, median) of its margin delta
    protocol: pd.DataFrame  # per method, its trials and each rule's pick, see aggregate.protocol_data


def build_scenario(
    name: str, tables: dict[str, pd.DataFrame], methods: list[str], figures_dir: Path, source: str, search_seed: int
) -> ScenarioReport:
    """Summarise one scenario's evaluation `tables` and draw its figures into `figures_dir`;
    `source` names the evaluation directory in error messages; the trials ran on `search_seed`."""
    summary = aggregate.summarise(tables["results"], methods)
    per_class = tables["per_class"].groupby(["method", "class"])["acc"].mean().unstack("class").reindex(methods)
    deltas = paired_deltas(tables["margins"], methods, f"{source}/margins.parquet")
    stem = f"{Path(figures_dir) / name}_"
    return ScenarioReport(
        name,
        summary,
        per_class,
        figures=[
            gain_figure(stem, name, summary, methods),
            ood_figure(stem, name, tables["ood"], methods),
            comparison_figure(
                f"{stem}margin_delta.png",
                f"{name}: paired test-margin delta against ERM",
                DELTA_METHODS,
                deltas,
                aggregate.delta_histogram_data,
                figures.margin_delta_histograms,
            ),
            comparison_figure(
                f"{stem}margin_buckets.png",
                f"{name}: margin gain over ERM by ERM-margin bucket",
                BUCKET_METHODS,
                deltas,
                aggregate.bucket_data,
                figures.margin_gain_by_bucket,
            ),
            weight_figure(stem, name, tables["weights"], methods),
        ],
        margin_shift={m: (d["delta"].mean(), d["delta"].median()) for m, d in (deltas or {}).items()},
        protocol=aggregate.protocol_data(tables["runs"], methods, search_seed),
    )


def gain_figure(stem: str, name: str, summary: pd.DataFrame, methods: list[str]) -> FigureEntry:
    title = f"{name}: accuracy gain over ERM (mean over seeds, 95% t-interval paired by seed)"
    if BASELINE not in methods or len(methods) < 2:
        return skipped(title, "needs erm and at least one other method in study.methods")
    return drawn(f"{stem}gain.png", title, aggregate.gain_data(summary), figures.gain_over_baseline)


def ood_figure(stem: str, name: str, ood: pd.DataFrame, methods: list[str]) -> FigureEntry:
    title = f"{name}: OOD accuracy against severity"
    if ood.empty:
        return skipped(title, "this scenario's dataset has no OOD shifts")
    return drawn(f"{stem}ood_severity.png", title, aggregate.ood_severity_data(ood, methods), figures.ood_by_severity)


def weight_figure(stem: str, name: str, weights: pd.DataFrame, methods: list[str]) -> FigureEntry:
    title = f"{name}: learned weights of clean and mislabelled training examples"
    present = [m for m in WEIGHT_METHODS if m in methods]
    if not present:
        return skipped(title, f"none of {', '.join(WEIGHT_METHODS)} in study.methods")
    if not weights["is_noisy"].astype(bool).any():
        return skipped(title, "this scenario has no mislabelled examples")
    data = aggregate.weight_distribution_data(weights, present)
    entry = drawn(f"{stem}weights.png", f"{title} ({', '.join(present)})", data, figures.weight_distributions)
    absent = [m for m in WEIGHT_METHODS if m not in methods]
    entry.note = f"{', '.join(absent)} not in study.methods" if absent else ""
    return entry


def paired_deltas(margins: pd.DataFrame, methods: list[str], source: str) -> dict[str, pd.DataFrame] | None:
    """Paired margin deltas against ERM of the study's methods that a margin figure shows; None
    without ERM."""
    if BASELINE not in methods:
        return None
    shown = {*DELTA_METHODS, *BUCKET_METHODS}
    return {m: aggregate.margin_deltas(margins, m, source) for m in methods if m in shown}


def comparison_figure(png: str, title: str, wanted, deltas: dict | None, data: Callable, draw: Callable) -> FigureEntry:
    """A figure of the `wanted` methods' paired deltas against ERM (None without ERM): drawn
    with the methods present, noting the absent ones."""
    if deltas is None:
        return skipped(title, "needs erm in study.methods to pair with")
    present = [m for m in wanted if m in deltas]
    absent = [m for m in wanted if m not in deltas]
    note = f"{', '.join(absent)} not in study.methods" if absent else ""
    if not present:
        return skipped(title, note)
    entry = drawn(png, f"{title} ({', '.join(present)})", data({m: deltas[m] for m in present}), draw)
    entry.note = note
    return entry


def drawn(png: str, title: str, data: pd.DataFrame, draw: Callable) -> FigureEntry:
    """Write the figure's data as CSV next to its PNG, then draw it."""
    png = Path(png)
    write_table(png.with_suffix(".csv"), data)
    draw(data, png, title)
    return FigureEntry(title, png)


def skipped(title: str, why: str) -> FigureEntry:
    return FigureEntry(title, None, why)


def write_curves(name: str, history: pd.DataFrame, methods: list[str], curves_dir: Path) -> None:
    """Per history column, `<curves_dir>/<column>/<scenario>.csv`: epoch x method, mean over seeds."""
    for column in CURVE_COLUMNS:
        write_table(Path(curves_dir) / column / f"{name}.csv", aggregate.learning_curves(history, methods, column))
