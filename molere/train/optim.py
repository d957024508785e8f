"""Optimisers and learning-rate schedules from the `train` params."""

from __future__ import annotations

import math

import torch

from molere.errors import check_choice
from molere.params import Params

OPTIMIZERS = {"sgd", "adam"}
SCHEDULES = {"constant", "cosine"}


def make_optimizer(parameters, cfg: Params) -> torch.optim.Optimizer:
    kind = check_choice("optimizer", cfg.get("optimizer", str), OPTIMIZERS)
    lr = cfg.get("lr", float)
    weight_decay = cfg.get("weight_decay", float, 0.0)
    if kind == "sgd":
        momentum = cfg.get("momentum", float, 0.9)
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)


def make_scheduler(optimizer, cfg: Params, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch schedule: `constant`, or `cosine` decay from lr to 0 over the run."""
    kind = check_choice("schedule", cfg.get("schedule", str), SCHEDULES)
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    )


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return optimizer.param_groups[0]["lr"]
