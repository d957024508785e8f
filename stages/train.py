"""Stages `train` and `replicate`: one run of one method on one scenario with one seed, on the
pool's training part (its selection split held out): a trial of the method's search
(`run_trial`), or the configuration the selection rule chose (`run_replicate`). A run writes the
model, its predictions on the test and OOD sets, its accuracy on the selection split, its history,
learned weights, validation side and configuration; its wall-clock time apart, in timings/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from molere import paths
from molere.data.sources.image_files import ImageFiles, joined, rows
from molere.experiment import example_set, method_config, save_model, save_timing, train_config, train_method
from molere.hparams import as_dict
from molere.io import atomic_dir, check, read_json, write_json, write_table
from molere.margins import prediction_table
from molere.methods import METHODS
from molere.methods.base import SUPPLIED
from molere.params import Params
from molere.pipeline import made_by
from molere.scenarios import parse_scenario
from molere.scenarios.protocol import carried_labels
from molere.schema import StudyConfig, section
from molere.train.loop import accuracy, predict_proba
from molere.trials import trial_values, with_values
from stages.common import load_info, load_margins, load_pool, load_side, load_test_sets, load_valsets


def run_trial(params: Params, scenario: str, method: str, trial: int, seed: int) -> str:
    """Trial `trial` of `method`'s search: its drawn values (none for trial 0) on top of params."""
    method_cls = METHODS.get(method)
    values = trial_values(params, method_cls, trial, section(params, StudyConfig).seed)
    return train_run(with_values(params, values), scenario, method, seed, paths.trial_dir(scenario, method, trial), trial, values)


def run_replicate(params: Params, scenario: str, method: str, seed: int) -> str:
    """The configuration the selection rule chose, trained on replicate seed `seed`'s draws
    (molere/draws.py); the replicate seeds exclude the search seed (molere/schema.py), so no
    replicate is the run that won the search."""
    chosen = read_json(paths.selected(scenario, method), made_by("select", scenario=scenario, method=method), keys=("trial", "values"))
    out = paths.run_dir(scenario, method, seed)
    return train_run(with_values(params, chosen["values"]), scenario, method, seed, out, chosen["trial"], chosen["values"])


@dataclass
class Inputs:
    """What a run reads, all read (and checked) before it trains: a damaged file costs no training."""

    info: dict
    pool: pd.DataFrame  # the pool's training part (its selection split held out), then a supplied side
    x: np.ndarray | ImageFiles
    margins: np.ndarray  # each training example's margin under the first ERM pass (NaN on a supplied side)
    val_mask: np.ndarray  # the method's validation side (none for methods without one)
    trusted: bool  # the validation side carries the clean labels (molere/scenarios/protocol.py)
    selection: tuple[pd.DataFrame, np.ndarray]  # the selection split
    test_sets: dict[str, tuple[pd.DataFrame, np.ndarray]]  # test and OOD


def read_inputs(scenario: str, seed: int, validation: str | None, supplied: tuple[pd.DataFrame, np.ndarray] | None = None) -> Inputs:
    """Seed `seed`'s inputs; `validation` names the heuristic validation set the method holds out;
    for a method whose validation is SUPPLIED, the side the dataset supplies (`supplied`, as
    `load_side` reads it) is added after the training part as the validation side instead. A validation side carries its clean
    labels under the scenario's protocol if it is trusted."""
    info = load_info(scenario)
    pool, x = load_pool(scenario, seed)
    margins = aligned(pool, load_margins(scenario, seed), paths.margins(scenario, seed), made_by("rank", scenario=scenario, seed=seed))
    training = ~pool["in_selection"].to_numpy()
    part, part_x, part_margins = pool[training].reset_index(drop=True), rows(x, training), margins["margin"].to_numpy()[training]
    val_mask = np.zeros(len(part), dtype=bool)
    if supplied is not None:
        table, side_x = supplied
        val_mask = np.concatenate([val_mask, np.ones(len(table), dtype=bool)])
        part = pd.concat([part, table.assign(in_selection=False)[part.columns]], ignore_index=True)
        part_x, part_margins = joined([part_x, side_x]), np.concatenate([part_margins, np.full(len(table), np.nan)])
    elif validation is not None:
        writer = made_by("valsets", scenario=scenario, seed=seed)
        valsets = aligned(part, load_valsets(scenario, seed), paths.valsets(scenario, seed), writer)
        val_mask = valsets[validation].to_numpy()
    trusted = parse_scenario(scenario).trusted
    part = with_labels(part, carried_labels(part["y"], part["y_clean"], val_mask, trusted))
    return Inputs(
        info,
        part,
        part_x,
        part_margins,
        val_mask,
        trusted,
        (pool[~training].reset_index(drop=True), rows(x, ~training)),
        load_test_sets(scenario),
    )


def train_run(params: Params, scenario: str, method: str, seed: int, out: Path, trial: int, values: dict) -> str:
    """Train `method` on the training part of the pool (the selection split held out), write the
    run's files together into `out`, and return its headline: the test accuracy."""
    method_cls = METHODS.get(method)
    supplied = None
    if method_cls.validation == SUPPLIED:
        supplied = load_side(scenario, method_config(params, method).side, f"methods.{method}.side")
    inputs = read_inputs(scenario, seed, method_cls.validation, supplied)
    part, info = inputs.pool, inputs.info
    # a trusted-ERM baseline trains on its validation side, with the labels it carries
    val_mask = inputs.val_mask if method_cls.holds_out else np.zeros_like(inputs.val_mask)
    outcome = train_method(
        method,
        params,
        inputs.x,
        part["y"].to_numpy(),
        part["id"].to_numpy(),
        val_mask,
        info,
        seed,
        rank_margin=inputs.margins,
        val_labels=part["y_clean"].to_numpy() if inputs.trusted else None,
    )
    predictions = predict_sets(outcome.model, inputs.test_sets, info, params)
    device = next(outcome.model.parameters()).device
    meta, x = inputs.selection
    selection = example_set(params, info, x, meta["y"], meta["id"], device)
    weights = outcome.method.train_weights()  # None for a method that learns none
    test = predictions[predictions["set"] == "test"]
    ood = predictions[predictions["set"] == "ood"]
    metrics = {
        "scenario": scenario,
        "method": method,
        "trial": trial,
        "seed": seed,
        "id_acc": float(test["correct"].mean()),
        "ood_acc": float(ood["correct"].mean()) if len(ood) else None,
        "select_acc": accuracy(outcome.model, selection) if len(selection) else None,
        "epochs": len(outcome.history),
        "learns_weights": weights is not None,
    }
    config = {"trial": trial, "seed": seed, "values": values, "train": as_dict(train_config(params)), "method": as_dict(method_config(params, method))}
    with atomic_dir(out) as tmp:
        write_table(tmp / paths.PREDICTIONS, predictions)
        write_table(tmp / paths.HISTORY, pd.DataFrame(outcome.history))
        write_table(tmp / paths.WEIGHTS, weights_table(weights, part, inputs.margins, val_mask))
        write_table(tmp / paths.VALIDATION, validation_table(outcome, part, val_mask, inputs.trusted))
        write_json(tmp / paths.CONFIG, config)
        save_model(tmp / paths.MODEL, outcome.model, params, info)
        write_json(tmp / paths.METRICS, metrics)
    save_timing(paths.timing(out), outcome, params)
    return f"test accuracy {metrics['id_acc']:.4f}"


def aligned(pool: pd.DataFrame, table: pd.DataFrame, path: Path, made_by: str) -> pd.DataFrame:
    """`table` (read from `path`) reordered to the pool's ids; an error naming the file and the
    stage that writes it if it does not cover exactly those ids."""
    covers = len(table) == len(pool) and np.array_equal(np.sort(table["id"]), np.sort(pool["id"]))
    check(covers, path, f"does not cover the pool's examples ({len(table)} ids, the pool {len(pool)}): it comes from other data", made_by)
    return table.set_index("id").loc[pool["id"]].reset_index()


def predict_sets(model, test_sets: dict[str, tuple[pd.DataFrame, np.ndarray]], info: dict, params: Params) -> pd.DataFrame:
    """One row per example of every set: its keys, label, `group` where the test set has groups
    (missing in the OOD rows), and the model's prediction."""
    frames = []
    device = next(model.parameters()).device
    for name, (meta, x) in test_sets.items():
        data = example_set(params, info, x, meta["y"], meta["id"], device)
        probs = predict_proba(model, data)
        frame = meta[["id", "y"] + [c for c in ("shift", "severity", "group") if c in meta]].assign(set=name)
        if "group" in frame:  # the test set's groups (worst-group accuracy); none in the OOD rows
            frame = frame.astype({"group": "Int64"})
        if probs.size:
            frame = pd.concat([frame, pd.DataFrame(prediction_table(probs, meta["y"].to_numpy()))], axis=1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def validation_table(outcome, pool: pd.DataFrame, val_mask: np.ndarray, trusted: bool) -> pd.DataFrame:
    """Every pool example with the label the run gave it, whether that label is wrong, whether the
    run held it out as its validation side, and P(train): the side it was given (P(train) 0 or 1),
    or on its train side the one the method chose itself (MOLERE's splitter, whose side carries
    the clean labels under trusted). The evaluation reads the validation side's noise and class
    mix from it."""
    in_val, p_train = val_mask.copy(), (~val_mask).astype(np.float64)
    chosen = outcome.method.final_split()
    if chosen is not None:
        in_val[~val_mask], p_train[~val_mask] = chosen
    labelled = with_labels(pool, carried_labels(pool["y"], pool["y_clean"], in_val, trusted))
    return pd.DataFrame(
        {"id": pool["id"].to_numpy(), "y": labelled["y"].to_numpy(), "is_noisy": labelled["is_noisy"].to_numpy(), "in_val": in_val, "p_train": p_train}
    )


def with_labels(pool: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """`pool` with labels `y`, and `is_noisy` where they differ from the clean ones."""
    return pool.assign(y=y, is_noisy=y != pool["y_clean"].to_numpy())


def weights_table(weights: np.ndarray | None, pool: pd.DataFrame, margins: np.ndarray, val_mask: np.ndarray) -> pd.DataFrame:
    """The final weight of each train-side example (`weights`; 1 for a method that learns none),
    whether it is mislabelled, and its margin under the first ERM pass (rank stage)."""
    train = pool[~val_mask]
    return pd.DataFrame(
        {
            "id": train["id"].to_numpy(),
            "weight": np.ones(len(train)) if weights is None else weights,
            "is_noisy": train["is_noisy"].to_numpy(),
            "margin": margins[~val_mask],
        }
    )
