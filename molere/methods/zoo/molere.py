"""MOLERE / LRWOpt (docs/design.md, MOLERE (LRWOpt)): a splitter network chooses the validation side of the
pool, to make validation as hard as possible, while LRW's meta-network reweights training to do
well on it.

The method trains on the whole pool (`validation = None`) and keeps its own split: each epoch the
validation side is the `val_fraction` (the paper's delta) of the pool with the lowest P(train)
(GenerateSplit), taken within each class (`stratified`, the default: Learning-to-Split's label
regulariser only nudges the soft split, and on MNIST-1D the side still drew 55-62% of one
class); during LRW's warm-up it is a seeded random split with the same quotas. The loop serves
minibatches of the pool; each one's train-side part is an LRW step (a weighted step on theta,
and every q-th batch the JVP meta step on phi against the next validation minibatch). On that q-th batch the splitter takes its step
first, on the whole pool batch (both sides, in the pool's proportions, so the regularisers see an
unbiased sample). So per validation minibatch: one splitter step, one meta step and q weighted
steps, as in Algorithm 1, with the loop unchanged. The splitter trains from the first epoch, so it
has learnt what the classifier gets wrong by the time its split takes over.

Early stop (Algorithm 1): after warm-up, the epoch's gap ge = mean validation loss (the meta steps'
lookahead losses) - mean train-side loss (the steps' losses); the rule fires once it has fallen
below its best for `patience` epochs in a row. The paper does not say what the rule stops. By
default (`gap_stop: freeze-splitter`) it is read as Learning-to-Split reads it: the splitter stops,
the split of the best gap is kept, and the meta-network and classifier train to the last epoch.
`gap_stop: stop-training` is the literal reading: all training ends there.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from molere.hparams import IntUniform, LogUniform, hparam, nested
from molere.methods import METHODS
from molere.methods.lrw import LRW, LRWConfig
from molere.splitter import GapStop, Splitter, generate_split, splitter_objective
from molere.train.config import OptimizerConfig
from molere.train.optim import make_optimizer
from molere.train.steps import cross_entropy
from molere.train.tensors import Batch, map_batches

GAP_STOPS = ("freeze-splitter", "stop-training")


@dataclass(frozen=True)
class SplitterOptimizerConfig(OptimizerConfig):
    lr: float = hparam(0.01, low=0, search=LogUniform(1e-3, 1e-1))


@dataclass(frozen=True)
class MolereConfig(LRWConfig):
    """LRW's keys, plus the splitter s(x, y) -> P(train)."""

    val_fraction: float = hparam(0.1, low=0, low_open=True, high=0.5)  # delta: the validation side's share of the pool
    splitter_hidden: int = hparam(64, low=1)
    splitter_optimizer: SplitterOptimizerConfig = nested(SplitterOptimizerConfig)
    size_weight: float = hparam(10.0, low=0)  # of KL(mean P(train) || 1 - delta)
    label_weight: float = hparam(1.0, low=0)  # of KL(validation labels || pool labels)
    stratified: bool = hparam(True)  # GenerateSplit takes val_fraction of each class: the side keeps the pool's class mix
    patience: int = hparam(1, low=1, search=IntUniform(1, 5))  # epochs of a gap below its best (1: Algorithm 1)
    gap_stop: str = hparam(GAP_STOPS[0], choices=GAP_STOPS)  # what Algorithm 1's rule stops


@METHODS.register("molere")
class Molere(LRW):
    validation = None
    Config = MolereConfig

    def __init__(self, model, optimizer, config: MolereConfig, data, seed: int):
        self.delta = config.val_fraction
        self.pool = data.train
        # the labels GenerateSplit takes its per-class quotas from (None: one quota for the pool)
        self.quota_labels = self.pool.y.cpu().numpy() if config.stratified else None
        # warm-up split: a seeded random draw of the same size and class mix as the splitter's
        self.in_val = self.split(np.random.default_rng(seed).random(len(self.pool)))
        super().__init__(model, optimizer, config, dataclasses.replace(data, val=self.pool.subset(self.in_val)), seed)
        self.gap_stop = GapStop(config.patience)
        device, dtype = self.pool.device, next(model.parameters()).dtype
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.splitter = Splitter(math.prod(self.pool.x.shape[1:]), data.num_classes, self.delta, config.splitter_hidden)
            self.splitter = self.splitter.to(device=device, dtype=dtype)
        self.splitter_optimizer = make_optimizer(self.splitter.parameters(), config.splitter_optimizer)
        self.prior = torch.bincount(self.pool.y, minlength=data.num_classes).to(dtype) / len(self.pool)
        # the pool as a validation side sees it: with the labels it carries there (the clean ones
        # under the trusted protocol); the warm-up split takes no meta step, so its labels go unread
        self.val_pool = self.pool if data.val_labels is None else dataclasses.replace(self.pool, y=data.val_labels)
        self.p_train = self.splitter_p_train()
        self._val_mask = torch.as_tensor(self.in_val, device=device)
        self._batches = 0
        self._gap_stop_epoch: int | None = None  # when Algorithm 1's rule fired
        self._split_p_train = self.p_train  # the P(train) the current split was generated from
        self._best_split = (self.in_val, self.p_train)  # the split of the best gap, and its P(train)

    # --- the loop's hooks ---

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        super().begin_epoch(epoch, epochs)
        if self._reweighting and not self.splitter_frozen:
            self._split_p_train = self.p_train
            self.set_split(self.split(self.p_train))

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        self._batches += 1
        if self._batches % self.q == 0 and not self.splitter_frozen:
            self.splitter_step(batch)
        train = self.train_side(batch)
        if len(train.y) == 0:
            return {}
        stats = super().update(train)
        self._accumulate(train_side_loss=stats["loss"])
        return stats

    def end_epoch(self, epoch: int) -> dict[str, float]:
        val_loss, train_loss = self._epoch_mean("meta_val_loss"), self._epoch_mean("train_side_loss")
        row = super().end_epoch(epoch)
        if not self.splitter_frozen:
            self.p_train = self.splitter_p_train()  # the next epoch's split comes from it
            if self._reweighting and math.isfinite(val_loss - train_loss):
                self.check_gap(epoch, val_loss, train_loss)
        return {
            **row,
            "val_fraction": float(self.in_val.mean()),
            "soft_val_fraction": float(1 - self.p_train.mean()),
            "val_classes": int(np.unique(self.pool.y.cpu().numpy()[self.in_val]).size),
            "splitter_loss": self._epoch_mean("splitter_loss"),
            "gap": val_loss - train_loss,
            "gap_stop_epoch": math.nan if self._gap_stop_epoch is None else self._gap_stop_epoch,
        }

    def check_gap(self, epoch: int, val_loss: float, train_loss: float) -> None:
        """Algorithm 1's rule on this epoch's gap; when it fires, freeze the splitter on the split
        of the best gap (or, `stop-training`, end the run)."""
        fired = self.gap_stop.update(val_loss, train_loss)
        if self.gap_stop.falls == 0:  # this epoch's split has the best gap so far
            self._best_split = (self.in_val, self._split_p_train)
        if fired:
            self._gap_stop_epoch = epoch
            if self.config.gap_stop == "freeze-splitter":
                self.set_split(self._best_split[0])
                self.p_train = self._best_split[1]

    @property
    def splitter_frozen(self) -> bool:
        return self._gap_stop_epoch is not None

    def should_stop(self) -> bool:
        return self.splitter_frozen and self.config.gap_stop == "stop-training"

    def final_split(self) -> tuple[np.ndarray, np.ndarray]:
        """The split the method ended with and its P(train): once the gap rule has fired, the split
        of the best gap (Learning-to-Split keeps it, whichever `gap_stop`); otherwise the splitter's final choice (the split a next epoch would use); the random
        split if training never left warm-up."""
        if self.splitter_frozen:
            return self._best_split
        in_val = self.split(self.p_train) if self._reweighting else self.in_val
        return in_val, self.p_train

    def split(self, p_train: np.ndarray) -> np.ndarray:
        """GenerateSplit on `p_train`, with the per-class quota unless `stratified` is off."""
        return generate_split(p_train, self.delta, self.quota_labels)

    # --- the splitter ---

    def splitter_step(self, batch: Batch) -> None:
        """One step on Theta over a pool minibatch, against the classifier's current predictions."""
        self.model.eval()
        with torch.no_grad():
            logits = self.model(batch.x)
        objective = splitter_objective(
            self.splitter(batch.x, batch.y),
            cross_entropy(logits, batch.y),
            logits.argmax(1) == batch.y,
            batch.y,
            self.prior,
            self.delta,
            self.config.size_weight,
            self.config.label_weight,
        )
        self.splitter_optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.splitter_optimizer.step()
        self._accumulate(splitter_loss=objective.detach())

    @torch.no_grad()
    def splitter_p_train(self) -> np.ndarray:
        """P(train | x, y) of every pool example."""
        return map_batches(self.pool, lambda batch: torch.sigmoid(self.splitter(batch.x, batch.y))).numpy()

    def set_split(self, in_val: np.ndarray) -> None:
        """Make `in_val` the validation side. The validation batches keep coming from the same
        running cycle of positions: every split has the same size, so the positions stay valid."""
        self.in_val = in_val
        self._val_mask = torch.as_tensor(in_val, device=self.pool.device)
        self.data.val = self.val_pool.subset(in_val)

    def train_side(self, batch: Batch) -> Batch:
        keep = ~self._val_mask[batch.index]
        return Batch(batch.x[keep], batch.y[keep], batch.index[keep])

    def _epoch_mean(self, key: str) -> float:
        total, count = self._epoch_sums.get(key, (0, 0))
        return float(total / count) if count else math.nan
