"""The typed configs of the shared training knobs (`train` in params.yaml) and of the optimisers
methods keep for their own networks. No torch here: the CLI checks params.yaml against them at
start-up."""

from __future__ import annotations

import math
from dataclasses import dataclass

from molere.hparams import Choice, LogUniform, hparam

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda")
AUGMENTATIONS = ("none", "flip-crop")  # molere/train/augment.py


@dataclass(frozen=True)
class OptimizerConfig:
    """An optimiser of a method's own network (not searched unless a subclass says so)."""

    optimizer: str = hparam("adam", choices=OPTIMIZERS)
    lr: float = hparam(1e-3, low=0)  # 0 freezes the network
    weight_decay: float = hparam(0.0, low=0)
    momentum: float = hparam(0.9, low=0, high=1)  # SGD only


@dataclass(frozen=True)
class TrainConfig:
    """The shared training knobs every method trains its classifier with. The default study sets
    them in params.yaml; a search draws the learning rate and the weight decay too.

    The budget is `steps` optimiser steps when set (DomainBed's rule: every method and scenario
    gets the same number of steps, so a small or skewed pool is not also under-trained), else
    `epochs` passes over the train side. With `steps`, a run's epochs are
    ceil(steps / its batches per epoch) and its last epoch stops at the budget."""

    epochs: int = hparam(20, low=1)  # the budget when `steps` is null
    steps: int | None = hparam(None, low=1)
    batch_size: int = hparam(128, low=1)
    optimizer: str = hparam("adam", choices=OPTIMIZERS)
    lr: float = hparam(0.02, low=0, low_open=True, search=LogUniform(1e-3, 5e-2))
    weight_decay: float = hparam(0.0, low=0, search=Choice(0.0, 1e-5, 1e-4, 1e-3))
    momentum: float = hparam(0.9, low=0, high=1)  # SGD only
    schedule: str = hparam("cosine", choices=SCHEDULES)
    device: str = hparam("auto", choices=DEVICES)
    # the training batches' augmentation: flip-crop, CIFAR's random flip and padded crop, for images
    augment: str = hparam("none", choices=AUGMENTATIONS)
    # DataLoader worker processes decoding a streamed dataset's batches ahead of the step
    # (data.<name>.stream); 0 = in the run's process. Any value trains the same bytes
    workers: int = hparam(0, low=0)


def run_epochs(cfg: TrainConfig, train_size: int) -> int:
    """The epochs a run on `train_size` examples takes under `cfg`'s budget (its last one may stop
    early: `fit`'s `steps`)."""
    if cfg.steps is None:
        return cfg.epochs
    batches = max(1, math.ceil(train_size / cfg.batch_size))
    return math.ceil(cfg.steps / batches)
