"""Stages `train` and `replicate`: one run of one method on one scenario with one seed, on the
pool's training part (its selection split held out): a trial of the method's search
(`run_trial`), or the configuration the selection rule chose (`run_replicate`). A run writes the
model, its predictions on the test and OOD sets, its accuracy on the selection split, its history,
learned weights, validation side and configuration; its wall-clock time apart, in timings/."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from molere.errors import MolereError
from molere.experiment import method_config, save_model, save_timing, train_config, train_method
from molere.hparams import as_dict
from molere.io import atomic_path, read_json, read_table, require, write_json, write_table
from molere.margins import prediction_table
from molere.methods import METHODS
from molere.params import Params
from molere.train.loop import accuracy, predict_proba
from molere.train.tensors import TensorSet
from molere.trials import trial_values, with_values
from molere import paths
from stages.common import load_examples, load_info


def run_trial(params: Params, scenario: str, method: str, trial: int, seed: int) -> None:
    """Trial `trial` of `method`'s search: its drawn values (none for trial 0) on top of params."""
    method_cls = METHODS.get(method)
    values = trial_values(params, method_cls, trial, params.get("study.seed", int))
    train_run(with_values(params, values), scenario, method, seed, paths.trial_dir(scenario, method, trial), trial, values)


def run_replicate(params: Params, scenario: str, method: str, seed: int) -> None:
    """The configuration the selection rule chose, trained with `seed`. On the seed its trials
    ran on, the chosen trial already is that run (same values, seed and data), so it is copied."""
    made_by = f"select --scenario {scenario} --method {method}"
    chosen = read_json(paths.selected(scenario, method), made_by=made_by)
    out = paths.run_dir(scenario, method, seed)
    if seed == chosen["seed"]:
        trial_run = f"train --scenario {scenario} --method {method} --trial {chosen['trial']} --seed {seed}"
        trial_dir = paths.trial_dir(scenario, method, chosen["trial"])
        copy_tree(trial_dir, out, trial_run)
        if paths.timing(trial_dir).exists():  # the cost of the run it is
            copy_file(paths.timing(trial_dir), paths.timing(out))
    else:
        train_run(with_values(params, chosen["values"]), scenario, method, seed, out, chosen["trial"], chosen["values"])


def train_run(params: Params, scenario: str, method: str, seed: int, out: Path, trial: int, values: dict) -> None:
    """Train `method` on the training part of the pool (the selection split held out), then write
    the run's files into `out`."""
    method_cls = METHODS.get(method)
    info = load_info(scenario)
    pool, x = load_examples(paths.pool(scenario), scenario)
    margins = aligned(pool, read_table(paths.margins(scenario), made_by=f"rank --scenario {scenario}"), "margins")
    training = ~pool["in_selection"].to_numpy()
    part, margins = pool[training].reset_index(drop=True), margins[training].reset_index(drop=True)
    val_mask = np.zeros(len(part), dtype=bool)
    if method_cls.validation is not None:
        splits = read_table(paths.valsets(scenario), made_by=f"valsets --scenario {scenario}")
        val_mask = aligned(part, splits, "splits")[method_cls.validation].to_numpy()
    outcome = train_method(
        method,
        params,
        x[training],
        part["y"].to_numpy(),
        part["id"].to_numpy(),
        val_mask,
        info,
        seed,
        rank_margin=margins["margin"].to_numpy(),
    )
    predictions = predict_sets(outcome.model, scenario, info)
    device = next(outcome.model.parameters()).device
    selection = TensorSet.from_numpy(x[~training], pool["y"][~training], pool["id"][~training], device, info.get("normalization"))
    write_table(out / paths.PREDICTIONS, predictions)
    write_table(out / paths.HISTORY, pd.DataFrame(outcome.history))
    write_table(out / paths.WEIGHTS, weights_table(outcome, part, margins, val_mask))
    write_table(out / paths.VALIDATION, validation_table(outcome, part, val_mask))
    write_json(
        out / paths.CONFIG,
        {"trial": trial, "seed": seed, "values": values, "train": as_dict(train_config(params)), "method": as_dict(method_config(params, method))},
    )
    save_model(out / paths.MODEL, outcome.model, params, info)
    test = predictions[predictions["set"] == "test"]
    ood = predictions[predictions["set"] == "ood"]
    write_json(
        out / paths.METRICS,
        {
            "scenario": scenario,
            "method": method,
            "trial": trial,
            "seed": seed,
            "id_acc": float(test["correct"].mean()),
            "ood_acc": float(ood["correct"].mean()) if len(ood) else None,
            "select_acc": accuracy(outcome.model, selection) if len(selection) else None,
            "epochs": len(outcome.history),
            "learns_weights": outcome.method.train_weights() is not None,
        },
    )
    save_timing(paths.timing(out), outcome, params)


def copy_tree(source: Path, out: Path, made_by: str) -> None:
    """The files of the run in `source`, copied into `out` (each written atomically)."""
    for path in sorted(require(source, made_by).iterdir()):
        copy_file(path, out / path.name)


def copy_file(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def aligned(pool: pd.DataFrame, table: pd.DataFrame, what: str) -> pd.DataFrame:
    """`table` reordered to the pool's ids; an error if it does not cover exactly those ids."""
    if len(table) != len(pool) or not np.array_equal(np.sort(table["id"]), np.sort(pool["id"])):
        raise MolereError(f"the {what} file does not match the pool: its ids differ; re-run the stages before train")
    return table.set_index("id").loc[pool["id"]].reset_index()


def predict_sets(model, scenario: str, info: dict) -> pd.DataFrame:
    frames = []
    for name, path in (("test", paths.test(scenario)), ("ood", paths.ood(scenario))):
        meta, x = load_examples(path, scenario)
        device = next(model.parameters()).device
        data = TensorSet.from_numpy(x, meta["y"], meta["id"], device, info.get("normalization"))
        probs = predict_proba(model, data)
        frame = meta[["id", "y"] + [c for c in ("shift", "severity") if c in meta]].assign(set=name)
        if probs.size:
            frame = pd.concat([frame, pd.DataFrame(prediction_table(probs, meta["y"].to_numpy()))], axis=1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def validation_table(outcome, pool: pd.DataFrame, val_mask: np.ndarray) -> pd.DataFrame:
    """Every pool example with its observed label, whether it is mislabelled, whether the run held
    it out as its validation side, and P(train): the side it was given (P(train) 0 or 1), or on
    its train side the one the method chose itself (MOLERE's splitter). The evaluation reads the
    validation side's noise and class mix from it."""
    in_val, p_train = val_mask.copy(), (~val_mask).astype(np.float64)
    chosen = outcome.method.final_split()
    if chosen is not None:
        in_val[~val_mask], p_train[~val_mask] = chosen
    return pd.DataFrame(
        {"id": pool["id"].to_numpy(), "y": pool["y"].to_numpy(), "is_noisy": pool["is_noisy"].to_numpy(), "in_val": in_val, "p_train": p_train}
    )


def weights_table(outcome, pool: pd.DataFrame, margins: pd.DataFrame, val_mask: np.ndarray) -> pd.DataFrame:
    """The final weight of each train-side example (1 for methods that learn none), whether it is
    mislabelled, and its margin under the first ERM pass (rank stage)."""
    train = pool[~val_mask]
    weights = outcome.method.train_weights()
    return pd.DataFrame(
        {
            "id": train["id"].to_numpy(),
            "weight": np.ones(len(train)) if weights is None else weights,
            "is_noisy": train["is_noisy"].to_numpy(),
            "margin": margins["margin"].to_numpy()[~val_mask],
        }
    )
