"""Optimisers and learning-rate schedules, from the configs of `molere.train.config`."""

from __future__ import annotations

import math

import torch

from molere.train.config import OptimizerConfig, TrainConfig


def make_optimizer(parameters, cfg: OptimizerConfig | TrainConfig) -> torch.optim.Optimizer:
    """`fused`: one kernel updates every parameter (CPU and CUDA). The per-parameter loop's
    Python and small ops cost a small network's step (a meta-network's, a 1-D CNN's) about a
    tenth of its time; the update itself is the same formula."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)


def make_scheduler(optimizer, cfg: TrainConfig, epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch schedule: `constant`, or `cosine` decay from lr to 0 over the run's `epochs`."""
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.5 * (1 + math.cos(math.pi * epoch / epochs)))


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return optimizer.param_groups[0]["lr"]
