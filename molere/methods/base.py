"""The interface every method implements, after DomainBed's `Algorithm`: the loop calls
`begin_epoch`, then `update(batch)` per minibatch, then `end_epoch`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from molere.train.steps import weighted_step
from molere.train.tensors import Batch, TensorSet


@dataclass
class RunData:
    """What a method may see: its train side and (for meta methods) its validation side of the
    pool. Never test or OOD data."""

    train: TensorSet
    val: TensorSet | None
    num_classes: int
    # the first ERM pass's margin of each train-side example (rank stage), for two-pass methods
    rank_margin: np.ndarray | None = None
    # the label each train-side example carries once a method puts it on a validation side of its
    # own choosing (MOLERE's splitter): its clean label under the trusted protocol; None: its
    # observed label (molere/scenarios/protocol.py)
    val_labels: torch.Tensor | None = None


@dataclass(frozen=True)
class NoConfig:
    """The config of a method without hyperparameters of its own."""


# a method's `validation` when its side is one the dataset supplies apart from the pool
SUPPLIED = "supplied"


class Method:
    name = "base"  # set by the registry
    # the heuristic split whose validation side this method holds out of training ("hard",
    # "easy", "random"), SUPPLIED for a side the dataset supplies (held out of nothing: it is not
    # in the pool), or None to train on the whole pool
    validation: str | None = None
    # False: the method trains on its validation side too, with the labels that side carries
    # (the trusted-ERM baselines)
    holds_out: bool = True
    # its hyperparameters: a frozen dataclass of `molere.hparams` fields (defaults, ranges, search)
    Config = NoConfig

    def __init__(self, model, optimizer, config, data: RunData, seed: int):
        self.model = model
        self.optimizer = optimizer
        self.config = config
        self.data = data
        self.seed = seed

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        """Called before each epoch's first `update`."""

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One training step on `batch`; returns detached statistics to average over the epoch."""
        return weighted_step(self.model, self.optimizer, batch)

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Extra columns for this epoch's row of history.csv."""
        return {}

    def should_stop(self) -> bool:
        """Early stop after the current epoch."""
        return False

    def train_weights(self) -> np.ndarray | None:
        """The final per-example weight of each train-side example, if the method learns one."""
        return None

    def final_split(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(in_val, p_train) over the train-side examples, if the method chooses its own
        validation side (MOLERE's splitter); None keeps the split it was given."""
        return None
