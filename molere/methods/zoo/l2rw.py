"""Learning to Reweight Examples (Ren et al. 2018): no meta-network; each train batch is weighted
by how well each example's gradient aligns with the gradient of a validation batch, read off the
lookahead hypergradient at eps = 0 (docs/design.md, The exact hypergradient without double backward), then clipped at 0 and normalised.

The validation batches are class-balanced by default, as Ren et al.'s clean validation set is.
While predictions are near uniform, a class-c example's alignment is about <h_i, h_val> (f_c - p_c),
with f_c class c's share of the validation batch and p_c its predicted share, so with random
validation batches the weights chase each batch's class mix: on clean MNIST-1D half of every batch
got weight 0 and whole classes went unlearnt (tests/test_peers.py holds the balanced batches)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from molere.errors import MolereError
from molere.hparams import hparam
from molere.hypergrad import weight_hypergradient
from molere.methods import METHODS
from molere.methods.base import Method
from molere.methods.lrw import validation_batches
from molere.train.steps import weighted_step
from molere.train.tensors import Batch


def alignment_weights(hypergrad: torch.Tensor) -> torch.Tensor:
    """w = max(-dL_val/deps, 0) / sum, all zero when the sum is (the paper's delta guard)."""
    clipped = (-hypergrad).clamp(min=0)
    total = clipped.sum()
    return clipped / torch.where(total > 0, total, torch.ones_like(total))


def l2rw_weights(model: torch.nn.Module, batch: Batch, val_batch: Batch) -> torch.Tensor:
    """Ren et al.'s weights of `batch` (they sum to 1, or are all 0). At eps = 0 the lookahead is
    theta itself and dL_val/deps_i = -(a/n) <grad l_i, grad L_val>; the positive factor a/n
    cancels in the normalisation, so a = 1."""
    hypergrad = weight_hypergradient(model, batch, torch.zeros_like(batch.y, dtype=batch.x.dtype), val_batch, lr=1.0)
    return alignment_weights(hypergrad)


@dataclass(frozen=True)
class L2RWConfig:
    val_batch_size: int | None = hparam(None, low=1)  # None: the train batch size
    # class-balanced validation batches (Ren et al.'s validation set is balanced); false = random
    # batches, whose class mix the weights chase
    balance_classes: bool = hparam(True)


@METHODS.register("l2rw")
class L2RW(Method):
    validation = "random"
    Config = L2RWConfig

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.data.val is None or len(self.data.val) == 0:
            raise MolereError(f"{self.name} needs a validation side; its split ({self.validation!r}) is empty")
        self._val_batches = None
        # each example's weight at its latest step, times the batch size (mean 1 over a batch)
        self.latest_weights = torch.ones(len(self.data.train), device=self.data.train.y.device)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        n = len(batch.y)
        if self._val_batches is None:
            size = self.config.val_batch_size or n
            self._val_batches = validation_batches(self.data.val, size, self.seed, balanced=self.config.balance_classes)
        weights = l2rw_weights(self.model, batch, next(self._val_batches)) * n
        self.latest_weights[batch.index] = weights
        # mean_i (n w_i) l_i = sum_i w_i l_i, the paper's objective
        return weighted_step(self.model, self.optimizer, batch, weights)

    def train_weights(self) -> np.ndarray:
        return self.latest_weights.cpu().numpy()
