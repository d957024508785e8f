"""Just Train Twice (Liu et al. 2021): retrain on the whole pool with the examples that the first
ERM pass (the rank stage's model) got wrong upweighted by `upweight`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from molere.errors import MolereError
from molere.hparams import LogUniform, hparam
from molere.methods import METHODS
from molere.methods.base import Method
from molere.train.steps import weighted_step
from molere.train.tensors import Batch


def error_set_weights(rank_margin: np.ndarray, upweight: float) -> np.ndarray:
    """`upweight` for each example the first pass got wrong, 1 for the rest. Wrong = margin <= 0:
    the label does not strictly win, so a tie (argmax decided only by class order) counts too."""
    return np.where(np.asarray(rank_margin) <= 0, float(upweight), 1.0)


@dataclass(frozen=True)
class JTTConfig:
    upweight: float = hparam(6.0, low=1, search=LogUniform(2.0, 100.0))  # the error set's weight


@METHODS.register("jtt")
class JTT(Method):
    Config = JTTConfig

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.data.rank_margin is None:
            raise MolereError("jtt needs the first ERM pass's margins (rank_margin); run the rank stage first")
        self.weights = error_set_weights(self.data.rank_margin, self.config.upweight)
        # Divided by their mean, the weights give upsampling's expected gradient (the paper
        # repeats the error set) at ERM's step size and step count.
        step_weights = self.weights / self.weights.mean()
        self.step_weights = torch.as_tensor(step_weights, dtype=torch.float32, device=self.data.train.y.device)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        return weighted_step(self.model, self.optimizer, batch, self.step_weights[batch.index])

    def train_weights(self) -> np.ndarray:
        return self.weights
