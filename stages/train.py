"""Stage `train`: one method, one scenario, one seed; the model, its predictions on the test and
OOD sets, its history and learned weights; its wall-clock time apart, in timings/."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molere.errors import MolereError
from molere.experiment import save_model, save_timing, train_method
from molere.io import read_table, write_json, write_table
from molere.margins import prediction_table
from molere.methods import METHODS
from molere.params import Params
from molere.train.loop import predict_proba
from molere.train.tensors import TensorSet
from stages import paths
from stages.common import load_examples, load_info


def run(params: Params, scenario: str, method: str, seed: int) -> None:
    method_cls = METHODS.get(method)
    info = load_info(scenario)
    pool, x = load_examples(paths.pool(scenario), scenario)
    margins = aligned(pool, read_table(paths.margins(scenario), made_by=f"rank --scenario {scenario}"), "margins")
    val_mask = np.zeros(len(pool), dtype=bool)
    if method_cls.validation is not None:
        splits = read_table(paths.splits(scenario), made_by=f"split --scenario {scenario}")
        val_mask = aligned(pool, splits, "splits")[method_cls.validation].to_numpy()
    outcome = train_method(
        method,
        params,
        x,
        pool["y"].to_numpy(),
        pool["id"].to_numpy(),
        val_mask,
        info,
        seed,
        rank_margin=margins["margin"].to_numpy(),
    )
    out = paths.run_dir(scenario, method, seed)
    predictions = predict_sets(outcome.model, scenario, info)
    write_table(out / "predictions.parquet", predictions)
    write_table(out / "history.csv", pd.DataFrame(outcome.history))
    write_table(out / "weights.parquet", weights_table(outcome, pool, val_mask))
    write_table(out / "split.parquet", split_table(outcome, pool, val_mask))
    save_model(out / "model.pt", outcome.model, params, info)
    test = predictions[predictions["set"] == "test"]
    ood = predictions[predictions["set"] == "ood"]
    write_json(
        out / "metrics.json",
        {
            "scenario": scenario,
            "method": method,
            "seed": seed,
            "id_acc": float(test["correct"].mean()),
            "ood_acc": float(ood["correct"].mean()) if len(ood) else None,
            "epochs": len(outcome.history),
            "learns_weights": outcome.method.train_weights() is not None,
        },
    )
    save_timing(paths.run_timing(scenario, method, seed), outcome, params)


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


def split_table(outcome, pool: pd.DataFrame, val_mask: np.ndarray) -> pd.DataFrame:
    """Which pool examples the run held out for validation, and P(train): the split it was given
    (P(train) 0 or 1), or on its train side the split the method chose itself (MOLERE)."""
    in_val, p_train = val_mask.copy(), (~val_mask).astype(np.float64)
    chosen = outcome.method.final_split()
    if chosen is not None:
        in_val[~val_mask], p_train[~val_mask] = chosen
    return pd.DataFrame({"id": pool["id"].to_numpy(), "p_train": p_train, "in_val": in_val})


def weights_table(outcome, pool: pd.DataFrame, val_mask: np.ndarray) -> pd.DataFrame:
    """The final weight of each train-side example (1 for methods that learn none)."""
    train = pool[~val_mask]
    weights = outcome.method.train_weights()
    return pd.DataFrame(
        {
            "id": train["id"].to_numpy(),
            "weight": np.ones(len(train)) if weights is None else weights,
            "is_noisy": train["is_noisy"].to_numpy(),
        }
    )
