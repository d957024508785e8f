"""Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_y)^gamma, so confidently right
examples count less; gamma = 0 is plain cross-entropy."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from molere.hparams import Uniform, hparam
from molere.methods import METHODS
from molere.methods.base import Method
from molere.train.steps import weighted_step
from molere.train.tensors import Batch


def focal_loss(logits: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-example -(1 - p_y)^gamma * log p_y, from log-probabilities for stability. 1 - p_y is
    floored at the smallest normal float: where p_y rounds to exactly 1, the derivative of
    (1 - p_y)^gamma for gamma < 1 is infinite, and times log p_y = 0 it made the gradient NaN (a
    long run on a small pool got there)."""
    log_p = F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    miss = (-torch.expm1(log_p)).clamp(min=torch.finfo(log_p.dtype).tiny)
    return -(miss**gamma) * log_p


@dataclass(frozen=True)
class FocalConfig:
    gamma: float = hparam(2.0, low=0, search=Uniform(0.0, 5.0))  # (1 - p_y)^gamma; 0 is cross-entropy


@METHODS.register("focal")
class Focal(Method):
    Config = FocalConfig

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        return weighted_step(self.model, self.optimizer, batch, loss_fn=self.loss)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, y, self.config.gamma)
