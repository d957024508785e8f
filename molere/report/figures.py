"""The report's figures, drawn with matplotlib's Agg canvas (no pyplot, no display, no global
state; constrained layout keeps labels inside the canvas) from the data frames of
`molere.report.aggregate`. Accuracies and gains are drawn in percentage points."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from molere.io import atomic_path

DPI = 110
COLOURS = [f"C{i}" for i in range(10)]


def save(figure: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)


def gain_over_baseline(data: pd.DataFrame, path: Path, title: str) -> None:
    """Grouped bars: per method, its gain over ERM in distribution and OOD, with its 95%
    t-interval paired by seed (none with one seed)."""
    methods = list(dict.fromkeys(data["method"]))
    figure = Figure(figsize=(max(5.0, 1.1 * len(methods) + 2), 4), layout="constrained")
    axes = figure.subplots()
    wheres = [w for w in ("id", "ood") if (data["where"] == w).any()]
    width = 0.8 / len(wheres)
    for i, where in enumerate(wheres):
        part = data[data["where"] == where].set_index("method").reindex(methods)
        x = np.arange(len(methods)) + (i - (len(wheres) - 1) / 2) * width
        label = "in distribution" if where == "id" else "OOD (mean over shifts x severities)"
        spread = 100 * part["gain_ci95"].fillna(0)
        axes.bar(x, 100 * part["gain"], width, yerr=spread, capsize=3, label=label, color=COLOURS[i])
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right")
    axes.set_xlabel("method")
    axes.set_ylabel("accuracy gain over ERM (points)")
    axes.set_title(title, wrap=True)
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    save(figure, path)


def ood_by_severity(data: pd.DataFrame, path: Path, title: str) -> None:
    """One panel per shift: OOD accuracy against severity, one line per method (± seed std)."""
    shifts = sorted(data["shift"].unique())
    columns = min(3, len(shifts))
    rows = math.ceil(len(shifts) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.4 * rows + 0.8), layout="constrained")
    panels = np.atleast_1d(figure.subplots(rows, columns, squeeze=False, sharey=True)).ravel()
    methods = list(dict.fromkeys(data["method"]))
    for axes, shift in zip(panels, shifts):
        for colour, method in zip(COLOURS * 2, methods):
            part = data[(data["shift"] == shift) & (data["method"] == method)]
            spread = 100 * part["acc_std"].fillna(0)
            axes.errorbar(
                part["severity"], 100 * part["acc"], yerr=spread, marker="o", capsize=3, label=method, color=colour
            )
        axes.set_title(shift)
        axes.set_xlabel("severity")
        axes.set_ylabel("OOD accuracy (%)")
        axes.set_xticks(sorted(data["severity"].unique()))
        axes.grid(alpha=0.3)
    for axes in panels[len(shifts):]:
        axes.set_visible(False)
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper")
    figure.suptitle(title, wrap=True)
    save(figure, path)


def method_panels(data: pd.DataFrame, width: float, height: float, **options) -> tuple[Figure, list]:
    """A figure with one panel per method of `data` (in order of appearance), side by side."""
    methods = list(dict.fromkeys(data["method"]))
    figure = Figure(figsize=(width * len(methods), height), layout="constrained")
    panels = np.atleast_1d(figure.subplots(1, len(methods), squeeze=False, **options)).ravel()
    return figure, list(zip(panels, methods))


def finish_panel(axes, title: str, xlabel: str, ylabel: str) -> None:
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend()
    axes.grid(alpha=0.3)


def margin_delta_histograms(data: pd.DataFrame, path: Path, title: str) -> None:
    """One panel per method: histogram of the paired per-example margin delta, mean and median marked."""
    figure, panels = method_panels(data, 5, 3.8)
    for axes, method in panels:
        part = data[data["method"] == method]
        widths = part["bin_hi"] - part["bin_lo"]
        axes.bar(part["bin_lo"], part["count"], width=widths, align="edge", color="C0", alpha=0.8)
        mean, median = part["mean"].iloc[0], part["median"].iloc[0]
        axes.axvline(mean, color="C3", linewidth=1.5, label=f"mean {mean:+.3f}")
        axes.axvline(median, color="black", linestyle="--", linewidth=1.5, label=f"median {median:+.3f}")
        axes.axvline(0, color="grey", linewidth=0.8)  # no change
        finish_panel(axes, f"{method} - ERM", "test margin delta (method - ERM, paired by example and seed)", "examples x seeds")
    figure.suptitle(title, wrap=True)
    save(figure, path)


def margin_gain_by_bucket(data: pd.DataFrame, path: Path, title: str) -> None:
    """Mean margin gain over ERM per ERM-margin bucket, one line per method, +- standard error."""
    figure = Figure(figsize=(6.5, 4), layout="constrained")
    axes = figure.subplots()
    for colour, method in zip(COLOURS, dict.fromkeys(data["method"])):
        part = data[(data["method"] == method) & (data["count"] > 0)]
        spread = part["gain_se"].fillna(0)
        axes.errorbar(part["centre"], part["gain"], yerr=spread, marker="o", capsize=3, label=method, color=colour)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_xticks(sorted(data["centre"].unique()))
    axes.set_xlabel("ERM test margin (bucket centre, width 0.2)")
    axes.set_ylabel("mean margin gain over ERM (± s.e.)")
    axes.set_title(title, wrap=True)
    axes.legend()
    axes.grid(alpha=0.3)
    save(figure, path)


def weight_distributions(data: pd.DataFrame, path: Path, title: str) -> None:
    """One panel per method: the distribution of the normalised learned weights of clean and of
    mislabelled training examples (share of each kind per bin), so a reader sees at a glance
    whether reweighting separated them."""
    figure, panels = method_panels(data, 4.5, 3.6, sharey=True)
    for axes, method in panels:
        for colour, kind in zip(("C0", "C3"), ("clean", "mislabelled")):
            part = data[(data["method"] == method) & (data["kind"] == kind)]
            edges = np.r_[part["bin_lo"].to_numpy(), part["bin_hi"].iloc[-1]]
            axes.stairs(100 * part["share"].to_numpy(), edges, color=colour, label=kind, linewidth=1.5)
        axes.axvline(1.0, color="grey", linewidth=0.8)  # the uniform weight
        finish_panel(axes, method, "learned weight / mean weight", "% of its kind of training examples")
    figure.suptitle(title, wrap=True)
    save(figure, path)


def claims_heatmap(data: pd.DataFrame, path: Path, title: str) -> None:
    """Scenarios x claims: colour = the signed effect (blue: the claimed direction, red: against)
    relative to the largest of its claim, hatched where not resolved, grey where not run; each
    cell labelled with its verdict and effect."""
    claims, scenarios = list(dict.fromkeys(data["claim"])), list(dict.fromkeys(data["scenario"]))
    cells = data.set_index(["scenario", "claim"])
    shade = np.array([[cells.loc[(s, c), "shade"] for c in claims] for s in scenarios], dtype=float)
    figure = Figure(figsize=(1.6 * len(claims) + 3, 0.8 * len(scenarios) + 2.4), layout="constrained")
    axes = figure.subplots()
    axes.set_facecolor("0.85")  # not run: no shade, the grey shows through
    image = axes.imshow(np.ma.masked_invalid(shade), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    for i, scenario in enumerate(scenarios):
        for j, claim in enumerate(claims):
            cell = cells.loc[(scenario, claim)]
            if cell["hatched"]:
                axes.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.3", lw=0))
            box = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5}
            axes.text(j, i, cell["label"], ha="center", va="center", fontsize=8, bbox=box)
    axes.set_xticks(range(len(claims)), [f"{k}. {c}" for k, c in enumerate(claims, 1)], rotation=30, ha="right")
    axes.set_yticks(range(len(scenarios)), scenarios)
    axes.set_xlabel("claim")
    axes.set_ylabel("scenario")
    figure.colorbar(image, ax=axes, label="effect / largest of its claim\n(+: as claimed)")
    axes.set_title(title, wrap=True)
    save(figure, path)
