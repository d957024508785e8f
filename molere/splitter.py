"""MOLERE's splitter (docs/design.md, MOLERE (LRWOpt)): the network `s_Theta(x, y) -> P(train | x, y)`, its
loss with the two regularisers of Learning-to-Split (Bao & Barzilay 2022), GenerateSplit, and
Algorithm 1's early stop on the train/validation loss gap."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from molere.valsets import lowest, quotas


class Splitter(nn.Module):
    """An MLP over the flattened features and the one-hot label; returns the logit of
    P(train | x, y). The output bias starts at logit(1 - delta), so the first split keeps about
    the right size before the size regulariser has acted."""

    def __init__(self, num_features: int, num_classes: int, delta: float, hidden: int = 64):
        super().__init__()
        self.num_classes = num_classes
        self.net = nn.Sequential(nn.Linear(num_features + num_classes, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.constant_(self.net[-1].bias, math.log((1 - delta) / delta))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(y, self.num_classes).to(x.dtype)
        return self.net(torch.cat([x.flatten(1), onehot], dim=1)).squeeze(1)


def size_penalty(p_train: torch.Tensor, delta: float) -> torch.Tensor:
    """KL(Bernoulli(mean_i p_i) || Bernoulli(1 - delta)): 0 when the soft split keeps 1 - delta."""
    kept = p_train.mean()
    return torch.xlogy(kept, kept / (1 - delta)) + torch.xlogy(1 - kept, (1 - kept) / delta)


def label_penalty(p_train: torch.Tensor, y: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """KL(q || prior), q the label distribution of the soft validation side (example i counts
    1 - p_i): 0 when validation has the pool's class proportions, large when a class is missing."""
    held = torch.zeros_like(prior).index_add(0, y, 1 - p_train)
    q = held / held.sum()
    # clamped logs: a class absent from the batch adds 0 with a finite (0) gradient, not NaN
    tiny = torch.finfo(q.dtype).tiny
    return (q * (q.clamp_min(tiny).log() - prior.clamp_min(tiny).log())).sum()


def splitter_objective(
    logits: torch.Tensor,
    losses: torch.Tensor,
    correct: torch.Tensor,
    y: torch.Tensor,
    prior: torch.Tensor,
    delta: float,
    size_weight: float = 1.0,
    label_weight: float = 1.0,
) -> torch.Tensor:
    """What the splitter minimises on a minibatch, given its logits of P(train) and the
    classifier's (detached) per-example losses and correctness:
    L_split - mean_i (1 - p_i) l_i + size_weight * size KL + label_weight * label KL, where
    L_split = CE(P_splitter, 1[prediction correct]) sends what the classifier gets wrong to
    validation, and the loss term moves high-loss examples there (it raises validation loss)."""
    p_train = torch.sigmoid(logits)
    fit = F.binary_cross_entropy_with_logits(logits, correct.to(logits.dtype))
    adversary = -((1 - p_train) * losses).mean()
    return (
        fit
        + adversary
        + size_weight * size_penalty(p_train, delta)
        + label_weight * label_penalty(p_train, y, prior)
    )


def generate_split(p_train: np.ndarray, delta: float, y: np.ndarray | None = None) -> np.ndarray:
    """GenerateSplit: True for the `delta` fraction of examples with the lowest P(train); with the
    labels `y`, the `delta` fraction of each class (MOLERE's quota), so the validation side keeps
    the pool's class mix whatever the splitter prefers. Ties go to the earlier position, so the
    split is deterministic."""
    p_train = np.asarray(p_train)
    labels = np.zeros(len(p_train), dtype=np.int64) if y is None else y
    return lowest(p_train, quotas(labels, delta, y is not None, "methods.molere.stratified"))


class GapStop:
    """Algorithm 1's early stop on ge = mean validation loss - mean train loss: fires once the gap
    has stayed below its best value for `patience` epochs in a row. With patience 1 (the paper's
    rule) that is: stop when the current gap falls below the previous epoch's."""

    def __init__(self, patience: int = 1):
        self.patience = patience
        self.best = -math.inf
        self.falls = 0

    def update(self, val_loss: float, train_loss: float) -> bool:
        """Record one epoch's losses; True when training should stop."""
        gap = val_loss - train_loss
        if gap < self.best:
            self.falls += 1
        else:
            self.best, self.falls = gap, 0
        return self.falls >= self.patience
