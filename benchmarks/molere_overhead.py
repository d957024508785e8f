"""MOLERE's time per epoch against LRW-Hard's (and ERM's) on the default study's data and model
(MNIST-1D, 1-D CNN), on the CPU. Target: MOLERE <= 1.3x LRW-Hard per epoch.

    python benchmarks/molere_overhead.py [--epochs 6] [--repeats 3] [--threads 1] [-S key=value ...]

Both LRW methods hold out `methods.molere.delta` of the pool; LRW-Hard's held-out set is a seeded
draw here (its cost depends on how many examples it holds out, not which). Warm-up is off, so
every epoch has meta steps (and MOLERE's splitter), and the early stop is off. The runs alternate
method by method after one untimed run (which pays for torch's lazy imports); each figure is the
median over repeats of a run's seconds per epoch, as process CPU time (steady on a shared machine)
and as wall time."""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from molere.data import DATASETS
from molere.data.configs import data_config
from molere.data.pool import pool_table
from molere.experiment import train_method
from molere.splitter import generate_split
from molere.stage_cli import load_params

METHODS = ("erm", "lrw-hard", "molere")


def seconds_per_epoch(method: str, params, x, y, delta: float, seed: int) -> tuple[float, float]:
    """(CPU, wall) seconds per epoch of one run."""
    val_mask = np.zeros(len(y), dtype=bool)
    if method == "lrw-hard":
        val_mask = generate_split(np.random.default_rng(seed).random(len(y)), delta)
    start = time.process_time()
    outcome = train_method(method, params, x, y, np.arange(len(y)), val_mask, {"num_classes": int(y.max()) + 1}, seed)
    epochs = len(outcome.history)
    return (time.process_time() - start) / epochs, sum(outcome.epoch_seconds) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared machine)")
    parser.add_argument("-S", "--set", action="append", default=[], help="param override, e.g. -S methods.molere.q=1")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # native kernels: numpy and torch are loaded already, too late for portable mode's pins
    # (benchmarks/portable_cost.py measures what they cost)
    fixed = ["train.steps=null", f"train.epochs={args.epochs}", "train.device=cpu", "methods.lrw-hard.warmup=0", "methods.molere.warmup=0",
             "execution.portable=false"]
    params = load_params("params.yaml", args.set + fixed + ["methods.molere.patience=1000000"])
    data, own = data_config(params.get("data", dict))
    dataset = DATASETS.get(data.dataset)(own, data.seed)
    pool, x = pool_table(dataset, data.selection_fraction, data.seed)
    y, delta = pool["y"].to_numpy(), params.get("methods.molere.delta", float)
    seconds_per_epoch("erm", load_params("params.yaml", args.set + fixed + ["train.epochs=1"]), x, y, delta, seed=0)
    times = {method: [] for method in METHODS}
    for repeat in range(args.repeats):
        for method in METHODS:
            times[method].append(seconds_per_epoch(method, params, x, y, delta, seed=repeat))
    print(f"pool {len(y)} examples, delta {delta}, {args.epochs} epochs, {args.threads} thread(s), {args.repeats} repeats")
    print(f"{'method':<12}{'CPU s/epoch':>14}{'wall s/epoch':>14}   CPU s/epoch of each repeat")
    median = {}
    for method, runs in times.items():
        median[method] = [statistics.median(column) for column in zip(*runs)]
        each = "  ".join(f"{cpu:.3f}" for cpu, _ in runs)
        print(f"{method:<12}{median[method][0]:>14.3f}{median[method][1]:>14.3f}   {each}")
    cpu, wall = (median["molere"][i] / median["lrw-hard"][i] for i in (0, 1))
    print(f"molere / lrw-hard: {cpu:.2f}x CPU, {wall:.2f}x wall (target <= 1.3x)")


if __name__ == "__main__":
    main()
