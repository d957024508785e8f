"""Stage `select`: per scenario and method, the trial the selection rule `study.selection` picks
among the method's trials (molere/selection.py), written with its values to `selected.json` for
the replicate runs. The file carries a digest of the chosen run, so a re-trained trial re-runs
what depends on it even when the choice stays the same."""

from __future__ import annotations

import hashlib

import pandas as pd

from molere import paths
from molere.io import check, read_json, write_json
from molere.params import Params
from molere.pipeline import made_by
from molere.schema import StudyConfig, section, trial_count
from molere.selection import choose

# what a trial's metrics.json must hold for the rules
TRIAL_KEYS = ("trial", "seed", "select_acc", "id_acc")


def run(params: Params, scenario: str, method: str) -> str:
    study = section(params, StudyConfig)
    trials = list(range(trial_count(list(study.trials))))
    rule, search_seed = study.selection, study.search_seed
    table = pd.DataFrame([trial_metrics(scenario, method, t, search_seed) for t in trials])
    chosen = choose(rule, table)
    row = table.set_index("trial").loc[chosen]
    directory = paths.trial_dir(scenario, method, chosen)
    writer = made_by("train", scenario=scenario, method=method, trial=chosen, seed=search_seed)
    config = read_json(directory / paths.CONFIG, writer, keys=("values",))
    write_json(
        paths.selected(scenario, method),
        {
            "rule": rule,
            "trial": chosen,
            "trials": len(trials),
            "seed": int(row["seed"]),
            "select_acc": float(row["select_acc"]),
            "values": config["values"],
            "run_digest": digest(directory),
        },
    )
    return f"trial {chosen}, selection accuracy {float(row['select_acc']):.4f}"


def trial_metrics(scenario: str, method: str, trial: int, search_seed: int) -> dict:
    path = paths.trial_dir(scenario, method, trial) / paths.METRICS
    writer = made_by("train", scenario=scenario, method=method, trial=trial, seed=search_seed)
    metrics = read_json(path, writer, keys=TRIAL_KEYS)
    for key in TRIAL_KEYS:
        value = metrics[key]
        check(isinstance(value, (int, float)) and not isinstance(value, bool), path, f"has {key} = {value!r}, not a number", writer)
    return {key: metrics[key] for key in TRIAL_KEYS}


def digest(directory) -> str:
    """SHA-256 over the run's file names and contents."""
    total = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        total.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return total.hexdigest()
