"""Can the meta-network find label noise? The classic L2RW / Meta-Weight-Net set-up at the default
study's size: `lrw-random` and `mwnet` on a noisy MNIST-1D pool whose validation side carries the
*clean* labels, so learning to do well on it means weighting mislabelled examples down.

    python benchmarks/clean_validation.py [--scenarios idn-40 sym-40] [--seeds 0] [-S key=value ...]

Each scenario's pool is built by the prepare stage (in a temporary directory) from params.yaml;
the validation side is the valsets stage's seeded random draw (`valsets.fraction`, of each class
unless `valsets.stratified` is false, from the seed's `valsets` stream, molere/draws.py), its
labels replaced by the clean ones. Each method runs with its params.yaml configuration on the
train side the train stage would give it. Printed per scenario, method and seed: meta steps, the
5th-95th percentile of the weights normalised to mean 1, noise AUC (ROC AUC of 1 - weight against
`is_noisy`; 0.5 is chance), test accuracy and wall seconds. Target (issue 13): noise AUC >= 0.85
for the default `lrw-random`."""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from molere.portable import apply_portable

apply_portable(True)  # the study's kernels (portable mode): pinned before numpy and torch load

import numpy as np  # noqa: E402
import pandas as pd

from molere import paths
from molere.draws import stream_seed
from molere.experiment import train_method
from molere.io import read_examples, read_json
from molere.metrics import noise_auc
from molere.pipeline import declared_params
from molere.stage_cli import load_params
from molere.train.loop import accuracy
from molere.train.tensors import TensorSet
from molere.valsets import heuristic_valsets
from stages import corrupt, prepare
from stages.common import load_pool

METHODS = ("lrw-random", "mwnet")


def build_pool(params, scenario: str, seed: int, workdir: str):
    """Seed `seed`'s pool of the scenario (its corruption drawn as the corrupt stage draws it), the
    test set and info, as the prepare and corrupt stages write them."""
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        prepare.run(declared_params(params, "prepare"), scenario)
        corrupt.run(declared_params(params, "corrupt"), scenario, seed)
        pool, x = load_pool(scenario, seed)
        test, x_test = read_examples(paths.test(scenario))
        return pool, np.array(x), test, np.array(x_test), read_json(paths.info(scenario))
    finally:
        os.chdir(cwd)


def clean_validation_run(params, method: str, pool, x, test, x_test, info, seed: int) -> dict:
    split = params.section("valsets")
    val = heuristic_valsets(
        pool["id"], np.zeros(len(pool)), pool["y"], split.get("fraction", float), stream_seed(seed, "valsets"), split.get("stratified", bool)
    )
    val_mask = val["random"].to_numpy()
    y = np.where(val_mask, pool["y_clean"], pool["y"])  # the validation side is clean
    start = time.perf_counter()
    outcome = train_method(method, declared_params(params, "train", method), x, y, pool["id"].to_numpy(), val_mask, info, seed)
    seconds = time.perf_counter() - start
    weights = outcome.method.train_weights()
    normalised = weights / weights.mean()
    test_set = TensorSet.from_numpy(x_test, test["y"].to_numpy(), test["id"].to_numpy(), "cpu", info.get("normalization"))
    return {
        "method": method,
        "seed": seed,
        "meta_steps": int(sum(row.get("meta_steps", 0) for row in outcome.history)),
        "weight_p05": np.percentile(normalised, 5),
        "weight_p95": np.percentile(normalised, 95),
        "noise_auc": noise_auc(weights, pool["is_noisy"].to_numpy()[~val_mask]),
        "test_acc": accuracy(outcome.model, test_set),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["idn-40", "sym-40"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    params = load_params("params.yaml", args.overrides)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for scenario in args.scenarios:
            for seed in args.seeds:
                data = build_pool(params, scenario, seed, workdir)
                for method in args.methods:
                    rows.append({"scenario": scenario, **clean_validation_run(params, method, *data, seed)})
                    print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1, float_format="%.3f"), flush=True)
    table = pd.DataFrame(rows).groupby(["scenario", "method"]).mean(numeric_only=True).drop(columns="seed")
    print("\nmean over seeds:\n" + table.to_string(float_format="%.3f"))


if __name__ == "__main__":
    main()
