"""What the meta-network's inputs cost: LRW's weighted step, meta step and epoch at q 5 with the
default inputs (the classifier's output, the label, the loss) against the old network over the raw
features (`inputs: [x]`), each as a ratio to an ERM step or epoch, on the MNIST-1D CNN.

    python benchmarks/meta_net_inputs.py [--batch-size 100] [--repeats 80] [--epoch-repeats 15]

The same set-up as `molere-bench bench meta-step` (random data, one torch thread, the study's
Adam, native kernels, process CPU time, contenders interleaved round by round, medians, ratios
paired by round); issue 13 asks for this comparison, and for the cost against Meta-Weight-Net's
if the inputs change it (that one is `bench meta-step`'s last row)."""

from __future__ import annotations

import argparse

import torch

from molere.meta_nets import MetaNetConfig
from molere.methods.lrw import LRW
from molere.train.steps import weighted_step
from molere_tools import meta_step as bench

INPUTS = {"default inputs": ("probs", "label", "loss"), "raw x": ("x",)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=80)
    parser.add_argument("--epoch-repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base, train, data = bench.setup("cnn1d", (40,), 10, torch.device("cpu"), args.batch_size, 40)
    batch = data.train.batch(torch.arange(args.batch_size))

    def lrw(inputs: tuple[str, ...], q: int) -> LRW:
        return bench._lrw(base, train, data, q=q, reuse_gradient=True, meta_net=MetaNetConfig(inputs=inputs))

    def weighted(method: LRW):
        return lambda: weighted_step(method.model, method.optimizer, batch, method.fixed_weights(batch))

    erm = bench._erm_method(base, train, data)
    steps = {"ERM step": lambda: erm.update(batch)}
    for name, inputs in INPUTS.items():
        method = lrw(inputs, q=1)
        steps[f"weighted step, {name}"] = weighted(method)
        steps[f"meta step, {name}"] = lambda method=method: method.meta_update(batch)
    epochs = {"ERM epoch": bench._epoch(bench._erm_method(base, train, data), data, args.batch_size)}
    for name, inputs in INPUTS.items():
        epochs[f"LRW epoch, q = 5, {name}"] = bench._epoch(lrw(inputs, q=5), data, args.batch_size)
    timer = bench._Timer(torch.device("cpu"), "cpu")
    step_times, _ = timer.interleaved(steps, args.repeats, warmup=5)
    epoch_times, _ = timer.interleaved(epochs, args.epoch_repeats, warmup=1)
    print(f"cnn1d, batch {args.batch_size}, 1 CPU thread, native kernels, Adam, process CPU time")
    print(bench.format_table(bench._rows(step_times, {}) + bench._rows(epoch_times, {})))


if __name__ == "__main__":
    main()
