"""Where an LRW epoch at q 5 spends its time: every update timed inside the epoch loop, by kind
(the meta step, the weighted step right after it, the other weighted steps), against the ERM
steps of ERM epochs run in turn with them, on the MNIST-1D CNN.

    python benchmarks/epoch_steps.py [--portable] [--q 5] [--batch-size 100] [--rounds 12]

`molere-bench bench meta-step` times the steps alone and the epochs whole; this shows what the
epoch's ratio is made of, so a missed epoch target can be traced to its steps: with a meta step of
m ERM steps and weighted steps of w, an epoch costs about (m + (q - 1) w) / q. The same set-up as
the bench (random data, one torch thread, the study's Adam, process CPU time); `--portable` pins
the kernels as the study runs them."""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from molere.portable import apply_portable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portable", action="store_true", help="portable mode's pinned kernels (the study's)")
    parser.add_argument("--q", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=12, help="ERM and LRW epochs, in turn")
    args = parser.parse_args()
    apply_portable(args.portable)  # before torch loads: the pins are read then
    import torch

    from molere.train.tensors import reproducible_torch
    from molere_tools import meta_step as bench

    reproducible_torch(args.portable)
    torch.set_num_threads(1)
    base, train, data = bench.setup("cnn1d", (40,), 10, torch.device("cpu"), args.batch_size, 40)
    erm = bench._erm_method(base, train, data)
    lrw = bench._lrw(base, train, data, q=args.q, reuse_gradient=True)
    times: dict[str, list[float]] = defaultdict(list)
    timed(erm, lambda: "ERM step", times)
    timed(lrw, lambda: step_kind(lrw._step, args.q), times)
    epochs = {"ERM": bench._epoch(erm, data, args.batch_size), "LRW": bench._epoch(lrw, data, args.batch_size)}
    for epoch in epochs.values():  # warm-up, not counted
        epoch()
    times.clear()
    ratios = []
    for _ in range(args.rounds):
        spent = {}
        for name, epoch in epochs.items():
            start = time.process_time()
            epoch()
            spent[name] = time.process_time() - start
        ratios.append(spent["LRW"] / spent["ERM"])
    erm_step = statistics.median(times["ERM step"])
    kernels = "portable" if args.portable else "native"
    print(f"cnn1d, batch {args.batch_size}, q {args.q}, 1 CPU thread, {kernels} kernels, Adam, process CPU time, "
          f"{args.rounds} rounds of 40-batch epochs")
    print("| update inside the epoch | count | ms (median) | x ERM step |\n|---|---:|---:|---:|")
    for kind, spent in times.items():
        print(f"| {kind} | {len(spent)} | {statistics.median(spent) * 1e3:.2f} | {statistics.median(spent) / erm_step:.3f} |")
    print(f"LRW epoch / ERM epoch (median over rounds, paired): {statistics.median(ratios):.3f}")


def step_kind(step: int, q: int) -> str:
    """What LRW's update number `step` (counted from 1, as `LRW.update` counts) was."""
    if step % q == 0:
        return "meta step"
    return "weighted step after a meta step" if step % q == 1 else "other weighted steps"


def timed(method, kind, times: dict[str, list[float]]) -> None:
    """Record the process CPU time of each `method.update`, under `kind()` read after the call."""
    update = method.update

    def timed_update(batch):
        start = time.process_time()
        stats = update(batch)
        times[kind()].append(time.process_time() - start)
        return stats

    method.update = timed_update


if __name__ == "__main__":
    main()
