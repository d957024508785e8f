"""Learned reweighting (LRW, docs/design.md, The LRW objective): the base class of `lrw-hard`, `lrw-easy`,
`lrw-random`, and of the methods that learn weights through the same meta step (MOLERE,
Meta-Weight-Net).

After `warmup` (a fraction of the epochs) of plain ERM, the train batches come in cycles of `q`:
`q - 1` weighted steps on theta with weights from the meta-network, then one meta step on the
`q`-th batch: the exact hypergradient of the validation loss after a one-step lookahead
(`molere.hypergrad`, one forward-mode JVP) updates phi, and the real step on theta reuses the
lookahead's gradient (`reuse_gradient: false` recomputes it with the updated weights, as
Meta-Weight-Net does). So theta takes exactly one step per train batch, and an epoch costs about
(q + 2) / q ERM epochs.

Config (`LRWConfig`, `methods.<name>` in params.yaml): q, warmup, normalize, reuse_gradient,
lookahead_lr, val_batch_size, meta_net {inputs, hidden, kind}, meta_optimizer {optimizer, lr, ...}.
Subclasses change what the weights are by overriding `make_meta_net` and `raw_weights`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from molere.errors import MolereError
from molere.hparams import LogUniform, Uniform, hparam, nested
from molere.hypergrad import apply_gradients, load_forward_ad, lookahead
from molere.meta_nets import MetaNetConfig, make_meta_net
from molere.methods.base import Method
from molere.train.config import OptimizerConfig
from molere.train.optim import current_lr, make_optimizer
from molere.train.steps import batch_stats, cross_entropy, weighted_step
from molere.train.tensors import Batch, TensorSet, batch_indices, map_batches


@dataclass(frozen=True)
class MetaOptimizerConfig(OptimizerConfig):
    """The meta-network's optimiser: Adam(1e-3, weight decay 1e-4), Meta-Weight-Net's; the paper's
    SGD at 1e-3 leaves the weights within 1% of uniform at this study's size (docs/design.md,
    "Learned reweighting (LRW) and the exact JVP hypergradient")."""

    lr: float = hparam(1e-3, low=0, search=LogUniform(1e-4, 1e-2))
    weight_decay: float = hparam(1e-4, low=0)


@dataclass(frozen=True)
class MetaStepConfig:
    """What every method that learns weights by LRW's meta step shares."""

    q: int = hparam(1, low=1)  # train batches per meta step (the q-th has it)
    # fraction of epochs of ERM first; searched up to 0.3, so every run of the default study's
    # 800-step budget keeps over 500 meta steps (docs/design.md, "Learned reweighting (LRW)")
    warmup: float = hparam(0.25, low=0, high=1, search=Uniform(0.1, 0.3))
    normalize: bool = hparam(True)  # per-batch weights rescaled to mean 1
    reuse_gradient: bool = hparam(True)  # false: the real step recomputed with the updated weights
    lookahead_lr: float | None = hparam(None, low=0, low_open=True)  # None: the optimiser's current lr
    val_batch_size: int | None = hparam(None, low=1)  # None: the train batch size
    meta_optimizer: MetaOptimizerConfig = nested(MetaOptimizerConfig)


@dataclass(frozen=True)
class LRWConfig(MetaStepConfig):
    meta_net: MetaNetConfig = nested(MetaNetConfig)


class LRW(Method):
    Config = LRWConfig

    def __init__(self, model, optimizer, config: MetaStepConfig, data, seed: int):
        super().__init__(model, optimizer, config, data, seed)
        if data.val is None or len(data.val) == 0:
            raise MolereError(f"{self.name} needs a validation side; its split ({self.validation!r}) is empty")
        self.q, self.warmup, self.normalize = config.q, config.warmup, config.normalize
        self.reuse_gradient, self.lookahead_lr = config.reuse_gradient, config.lookahead_lr
        parameter = next(model.parameters())
        # its own RNG stream, so adding a meta-network leaves the classifier's training unchanged
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.meta_net = self.make_meta_net().to(device=parameter.device, dtype=parameter.dtype)
        self.meta_optimizer = make_optimizer(self.meta_net.parameters(), config.meta_optimizer)
        load_forward_ad()
        self._val_positions: Iterator[torch.Tensor] | None = None
        self._reweighting = False
        self._step = 0
        self._epoch_sums: dict[str, tuple] = {}  # key -> (sum, count) over the epoch

    # --- what the weights are (override in subclasses) ---

    def make_meta_net(self) -> torch.nn.Module:
        spec = self.config.meta_net
        return make_meta_net(tuple(self.data.train.x.shape[1:]), self.data.num_classes, spec.inputs, spec.hidden, spec.kind)

    def raw_weights(self, batch: Batch, logits: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        """g_phi of each example of `batch`, in (0, 1), differentiable in phi; `logits` and the
        per-example `losses` are the classifier's at the current theta (read detached)."""
        return self.meta_net(batch.x, batch.y, logits, losses)

    def batch_weights(self, batch: Batch, logits: torch.Tensor, losses: torch.Tensor, *, record: bool = False) -> torch.Tensor:
        """The weights the step uses: raw, or rescaled to mean 1 over the batch. With `record`,
        the raw weights' mean and spread go into the epoch's history (the meta steps do: the
        weighted steps between them skip the few small ops, which cost a weighted step 3-4%)."""
        raw = self.raw_weights(batch, logits, losses)
        mean = raw.mean()
        if record:
            self._accumulate(weight_mean=mean.detach(), weight_std=raw.detach().std(correction=0))
        return raw / mean if self.normalize else raw

    def fixed_weights(self, batch: Batch):
        """The weights of `batch` as a function of its logits and losses, with phi held fixed."""

        def weigh(logits: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return self.batch_weights(batch, logits, losses)

        return weigh

    # --- the loop's hooks ---

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        self._reweighting = epoch >= round(self.warmup * epochs)
        self._epoch_sums = {}

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        if not self._reweighting:
            return weighted_step(self.model, self.optimizer, batch)
        self._step += 1
        if self._step % self.q == 0:
            return self.meta_update(batch)
        return weighted_step(self.model, self.optimizer, batch, self.fixed_weights(batch))

    def meta_update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One meta step on phi and the real step on theta, on the same train batch."""
        lr = self.lookahead_lr if self.lookahead_lr is not None else current_lr(self.optimizer)
        val_batch = self.validation_batch(len(batch.y))
        weights = functools.partial(self.batch_weights, batch, record=True)
        step = lookahead(self.model, batch, weights, val_batch, lr, update_buffers=self.reuse_gradient)
        self.meta_optimizer.zero_grad(set_to_none=True)
        step.weights.backward(step.hypergrad)
        self.meta_optimizer.step()
        self._accumulate(meta_val_loss=step.val_loss)
        if not self.reuse_gradient:
            return weighted_step(self.model, self.optimizer, batch, self.fixed_weights(batch))
        apply_gradients(self.model, self.optimizer, step.grads)
        return batch_stats(step.logits, batch.y, step.losses)

    def end_epoch(self, epoch: int) -> dict[str, float]:
        means = {key: float(total / count) for key, (total, count) in self._epoch_sums.items()}
        return {
            "meta_steps": self._epoch_sums.get("meta_val_loss", (0, 0))[1],
            **{key: means.get(key, math.nan) for key in ("meta_val_loss", "weight_mean", "weight_std")},
        }

    def validation_batch(self, size: int) -> Batch:
        """The next minibatch of the validation side (reshuffled every pass, seeded). The positions
        index `self.data.val` as it is now, so a subclass may swap in a same-size validation side."""
        if self._val_positions is None:
            self._val_positions = validation_indices(len(self.data.val), self.config.val_batch_size or size, self.seed)
        return self.data.val.batch(next(self._val_positions).to(self.data.val.device))

    @torch.no_grad()
    def train_weights(self) -> np.ndarray:
        self.model.eval()
        return map_batches(self.data.train, self._eval_weights).numpy()

    def _eval_weights(self, batch: Batch) -> torch.Tensor:
        logits = self.model(batch.x)
        return self.raw_weights(batch, logits, cross_entropy(logits, batch.y))

    def _accumulate(self, **values: torch.Tensor) -> None:
        for key, value in values.items():
            total, count = self._epoch_sums.get(key, (0, 0))
            self._epoch_sums[key] = (total + value, count + 1)


def validation_generator(seed: int) -> torch.Generator:
    """The validation batches' random stream, seeded apart from the train batches'."""
    return torch.Generator().manual_seed(seed + 1)


def validation_indices(n: int, size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless minibatches of positions in range(n), reshuffled every pass."""
    generator = validation_generator(seed)
    while True:
        yield from batch_indices(n, size, generator)


def balanced_indices(labels: torch.Tensor, size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless minibatches of positions in `labels` (on the CPU) with size // K of each of its K
    classes (all of a class's positions if it has fewer), drawn afresh for every batch."""
    generator = validation_generator(seed)
    by_class = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
    per_class = max(1, size // len(by_class))
    while True:
        yield torch.cat([members[torch.randperm(len(members), generator=generator)[:per_class]] for members in by_class])


def validation_batches(val: TensorSet, size: int, seed: int, *, balanced: bool = False) -> Iterator[Batch]:
    """Endless seeded minibatches of the validation set `val`, class-balanced if asked (L2RW
    shares them)."""
    indices = balanced_indices(val.y.cpu(), size, seed) if balanced else validation_indices(len(val), size, seed)
    for index in indices:
        yield val.batch(index.to(val.device))
