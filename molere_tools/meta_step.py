"""`molere-bench bench meta-step`: the cost of LRW's meta step against a plain ERM step, in one run.

On random data of the given input shape it times, interleaved round by round (so a change in the
machine's load hits every contender alike), the median of the following, and the median over
rounds of each one's ratio to ERM's time in the same round:

- an ERM step (`weighted_step`);
- the JVP meta step as LRW runs it (`LRW.meta_update`): the hypergradient by one forward-mode
  JVP, the meta-network's step, and the real step reusing the lookahead's gradient;
- the same with the real step recomputed with the updated weights (Meta-Weight-Net's order);
- the usual double-backward meta step (`create_graph=True`), real step recomputed, as public
  MetaModule implementations run it;
- a whole epoch of ERM, of LRW with a meta step every `q`-th batch and every batch (the default),
  and of Meta-Weight-Net with its defaults, whose meta-network also reads every batch's losses (`fit`).

Each contender trains its own copy of the model with the classifier's optimiser (`optimizer`:
the study's `train.optimizer`, Adam, by default; its other settings are `TrainConfig`'s
defaults). On CUDA it also reports the peak memory a step adds to what is resident (the models,
optimiser states and data). `--clock cpu` times process CPU time instead of wall time, which is
steadier on a shared CPU machine (not on CUDA, where the work is asynchronous). A GPU run:
`molere-bench bench meta-step --model resnet18 --input-shape 3,32,32 --batch-size 512 --device cuda`.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch

from molere.errors import MolereError, check_choice, check_range
from molere.experiment import to_device
from molere.hypergrad import lookahead_val_loss
from molere.meta_nets import MetaNetConfig
from molere.methods import METHODS
from molere.methods.base import Method, RunData
from molere.methods.lrw import LRW, LRWConfig
from molere.models import MODELS
from molere.train.config import OPTIMIZERS, TrainConfig
from molere.train.loop import fit
from molere.train.optim import current_lr, make_optimizer
from molere.train.steps import weighted_step
from molere.train.tensors import Batch, TensorSet, autocast, pick_device

CLOCKS = ("wall", "cpu")


@dataclass
class Row:
    name: str
    ms: float
    ratio: float  # to the ERM step (steps) or the ERM epoch (epochs) of the same round, median over rounds
    peak_mib: float | None  # CUDA only: peak memory the step adds to what is resident


def parse_shape(text: str) -> tuple[int, ...]:
    """'3,32,32' -> (3, 32, 32)."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise MolereError(f"input shape {text!r} is not a comma-separated list of positive sizes, e.g. 40 or 3,32,32")
    return shape


def meta_step_benchmark(
    model: str,
    batch_size: int,
    device: str = "cpu",
    input_shape: tuple[int, ...] = (40,),
    num_classes: int = 10,
    repeats: int = 30,
    warmup: int = 5,
    epoch_batches: int = 40,
    epoch_repeats: int = 5,
    q: int = 5,
    clock: str = "wall",
    optimizer: str = "adam",
) -> list[Row]:
    """The timing table (see the module docstring); step rows first, then the two epochs."""
    check_range("batch size", batch_size, 1, math.inf)
    check_range("repeats", repeats, 1, math.inf)
    check_range("epoch batches", epoch_batches, 1, math.inf)
    check_choice("clock", clock, CLOCKS)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    target = pick_device(device, "--device")
    if target.type == "cuda" and not torch.cuda.is_available():
        raise MolereError("device 'cuda' requested but CUDA is not available here; use --device cpu")
    if target.type == "cuda" and clock == "cpu":
        raise MolereError("clock 'cpu' cannot time asynchronous CUDA work; use --clock wall")
    base, train, data = setup(model, input_shape, num_classes, target, batch_size, epoch_batches, optimizer)
    batch = data.train.batch(torch.arange(batch_size, device=target))
    timer = _Timer(target, clock)

    steps = {
        "ERM step": _erm_method(base, train, data).update,
        "meta step, JVP (real step reuses its gradient)": _lrw(base, train, data, q=1, reuse_gradient=True).meta_update,
        "meta step, JVP (real step recomputed)": _lrw(base, train, data, q=1, reuse_gradient=False).meta_update,
        "meta step, double backward (real step recomputed)": partial(
            double_backward_meta_update, _lrw(base, train, data, q=1, reuse_gradient=False)
        ),
    }
    step_times, peaks = timer.interleaved({name: partial(step, batch) for name, step in steps.items()}, repeats, warmup)
    epochs = {
        f"ERM epoch ({epoch_batches} batches)": _epoch(_erm_method(base, train, data), data, batch_size),
        f"LRW epoch, q = {q}": _epoch(_lrw(base, train, data, q=q, reuse_gradient=True), data, batch_size),
        "LRW epoch, q = 1 (the default)": _epoch(_lrw(base, train, data, q=1, reuse_gradient=True), data, batch_size),
        # its meta-network also reads every batch's losses: the yardstick for one that reads the
        # classifier's output (q = 1, the real step recomputed, as in its paper)
        "Meta-Weight-Net epoch (its defaults)": _epoch(_mwnet(base, train, data), data, batch_size),
    }
    epoch_times, _ = timer.interleaved(epochs, epoch_repeats, warmup=1)
    return _rows(step_times, peaks) + _rows(epoch_times, {})


def setup(model: str, input_shape, num_classes: int, device, batch_size: int, epoch_batches: int, optimizer: str = "adam"):
    """What every contender starts from: the seeded model (each trains its own copy), the
    classifier's optimiser settings, and random data of `epoch_batches` train batches."""
    torch.manual_seed(0)
    base = to_device(_build(model, input_shape, num_classes), device)
    data = _random_data(device, input_shape, num_classes, batch_size, epoch_batches)
    return base, TrainConfig(optimizer=optimizer), data


def format_table(rows: list[Row]) -> str:
    """A markdown table; the memory column only when there are CUDA figures."""
    memory = any(row.peak_mib is not None for row in rows)
    header = "| what | ms | x ERM |" + (" peak MiB above resident |" if memory else "")
    lines = [header, "|---|---:|---:|" + ("---:|" if memory else "")]
    for row in rows:
        cells = f"| {row.name} | {row.ms:.2f} | {row.ratio:.2f} |"
        if memory:
            cells += " - |" if row.peak_mib is None else f" {row.peak_mib:.0f} |"
        lines.append(cells)
    return "\n".join(lines)


def double_backward_meta_update(lrw: LRW, batch: Batch) -> dict:
    """The usual route: dL_val/dphi by differentiating through the lookahead's gradient
    (`create_graph=True`), then the real step recomputed with the updated weights."""
    val_batch = lrw.validation_batch(len(batch.y))
    weights = partial(lrw.batch_weights, batch)
    val_loss = lookahead_val_loss(lrw.model, batch, weights, val_batch, current_lr(lrw.optimizer))
    lrw.meta_optimizer.zero_grad(set_to_none=True)
    val_loss.backward(inputs=list(lrw.meta_net.parameters()))
    lrw.meta_optimizer.step()
    return weighted_step(lrw.model, lrw.optimizer, batch, lrw.fixed_weights(batch))


class _Timer:
    def __init__(self, device: torch.device, clock: str):
        self.device = device
        self.now = time.process_time if clock == "cpu" else time.perf_counter

    def interleaved(self, contenders: dict[str, Callable], repeats: int, warmup: int):
        """Each contender's milliseconds in each of `repeats` rounds, and its peak CUDA memory."""
        for _ in range(warmup):
            for run in contenders.values():
                with autocast(self.device):
                    run()
        times: dict[str, list[float]] = {name: [] for name in contenders}
        peaks: dict[str, float] = {}
        for _ in range(repeats):
            for name, run in contenders.items():
                self._sync()
                if self.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(self.device)
                    resident = torch.cuda.memory_allocated(self.device)
                start = self.now()
                with autocast(self.device):
                    run()
                self._sync()
                times[name].append((self.now() - start) * 1e3)
                if self.device.type == "cuda":  # what the step adds to the models and data resident
                    extra = (torch.cuda.max_memory_allocated(self.device) - resident) / 2**20
                    peaks[name] = max(peaks.get(name, 0.0), extra)
        return times, peaks

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _rows(times: dict[str, list[float]], peaks: dict[str, float]) -> list[Row]:
    """Median ms of each contender, and the median over rounds of its ratio to the first
    contender's time in the same round: pairing by round cancels a drift in the machine's speed
    (a VM's wanders by tens of per cent between minutes), which a ratio of medians keeps."""
    baseline = next(iter(times.values()))
    return [
        Row(name, statistics.median(values), statistics.median(t / b for t, b in zip(values, baseline)), peaks.get(name))
        for name, values in times.items()
    ]


def _build(name: str, input_shape, num_classes: int) -> torch.nn.Module:
    model = MODELS.get(name)(tuple(input_shape), num_classes)
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(2, *input_shape))
    except RuntimeError as err:
        raise MolereError(
            f"model {name!r} does not take inputs of shape {tuple(input_shape)} "
            f"({str(err).splitlines()[0]}); pass --input-shape, e.g. 3,32,32"
        ) from None
    return model


def _random_data(device, input_shape, num_classes: int, batch_size: int, epoch_batches: int) -> RunData:
    generator = torch.Generator().manual_seed(0)

    def tensors(n: int) -> TensorSet:
        x = torch.randn(n, *input_shape, generator=generator)
        y = torch.randint(0, num_classes, (n,), generator=generator)
        return TensorSet(x.to(device), y.to(device), torch.arange(n).numpy())

    return RunData(train=tensors(batch_size * epoch_batches), val=tensors(batch_size * 4), num_classes=num_classes)


def _copy(base: torch.nn.Module, train: TrainConfig) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = copy.deepcopy(base)
    return model, make_optimizer(model.parameters(), train)


def _erm_method(base, train: TrainConfig, data: RunData) -> Method:
    model, optimizer = _copy(base, train)
    return Method(model, optimizer, Method.Config(), data, seed=0)


def _lrw(base, train: TrainConfig, data: RunData, q: int, reuse_gradient: bool, meta_net: MetaNetConfig = MetaNetConfig()) -> LRW:
    model, optimizer = _copy(base, train)
    config = LRWConfig(q=q, warmup=0.0, reuse_gradient=reuse_gradient, meta_net=meta_net)
    lrw = LRW(model, optimizer, config, data, seed=0)
    lrw.begin_epoch(0, 1)
    return lrw


def _mwnet(base, train: TrainConfig, data: RunData) -> LRW:
    model, optimizer = _copy(base, train)
    mwnet = METHODS.get("mwnet")
    return mwnet(model, optimizer, mwnet.Config(), data, seed=0)


def _epoch(method: Method, data: RunData, batch_size: int) -> Callable:
    constant = torch.optim.lr_scheduler.LambdaLR(method.optimizer, lambda epoch: 1.0)
    return lambda: fit(method, data.train, epochs=1, batch_size=batch_size, scheduler=constant, seed=0)
