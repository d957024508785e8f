"""CVaR-DRO: minimise the mean of the worst alpha fraction of per-example losses in each batch,
the dual of MOLERE's objective (docs/design.md, MOLERE (LRWOpt))."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from molere.hparams import Uniform, hparam
from molere.methods import METHODS
from molere.methods.base import Method
from molere.train.steps import cross_entropy, weighted_step
from molere.train.tensors import Batch, map_batches


def cvar_weights(losses: torch.Tensor, alpha: float) -> torch.Tensor:
    """The worst-case distribution p over a batch of n losses (sums to 1): 1/(alpha n) on each of
    the floor(alpha n) largest, the remainder on the next one (the exact CVaR of the batch's
    empirical distribution, as in Levy et al. 2020's fast-dro), 0 elsewhere."""
    n = len(losses)
    k = alpha * n
    whole = math.floor(k)
    p = torch.zeros_like(losses)
    order = torch.argsort(losses, descending=True)
    p[order[:whole]] = 1 / k
    if whole < n:
        p[order[whole]] = (k - whole) / k
    return p


@dataclass(frozen=True)
class CVaRConfig:
    # the worst alpha fraction of each batch; alpha = the validation fraction (MOLERE's exact dual)
    # collapses to uniform predictions on MNIST-1D, even clean
    alpha: float = hparam(0.5, low=0, low_open=True, high=1, search=Uniform(0.1, 1.0))


@METHODS.register("cvar-dro")
class CVaRDRO(Method):
    Config = CVaRConfig

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        return weighted_step(self.model, self.optimizer, batch, loss_fn=self.loss)

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example n p_i l_i, whose batch mean is the batch's CVaR (so train_loss reports it).
        p is held constant (Danskin's theorem): that gives CVaR's value and its gradient."""
        losses = cross_entropy(logits, y)
        return len(losses) * cvar_weights(losses.detach(), self.config.alpha) * losses

    def train_weights(self) -> np.ndarray:
        """n p_i of the final model's worst-case distribution over the whole train side (1/alpha
        on its worst alpha fraction, 0 elsewhere; mean 1): where CVaR puts its weight at the end,
        which the report compares with the label noise, as it does every method's weights."""
        self.model.eval()
        with torch.no_grad():
            losses = map_batches(self.data.train, lambda batch: cross_entropy(self.model(batch.x), batch.y))
        return (len(losses) * cvar_weights(losses, self.config.alpha)).numpy()
