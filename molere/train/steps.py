"""Training steps as functions of (model, optimiser, batch): no hidden state, so the same step
runs under DistributedDataParallel."""

from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn.functional as F

from molere.train.tensors import Batch

# (logits, labels) -> per-example losses
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# the weights of a train batch: given, or computed from the classifier's detached (logits,
# per-example losses) on it
Weights = Union[torch.Tensor, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def weighted_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    weights: Weights | None = None,
    loss_fn: LossFn = cross_entropy,
) -> dict[str, torch.Tensor]:
    """One optimiser step on mean_i w_i * l_i (w = 1 when `weights` is None; a function of the
    detached logits and losses when the weights depend on the classifier's output).

    Returns detached batch statistics (the unweighted mean loss and the accuracy) as tensors, so
    the loop can sum them without a device sync per step."""
    model.train()
    logits = model(batch.x)
    losses = loss_fn(logits, batch.y)
    weights = resolve_weights(weights, logits, losses)
    objective = losses.mean() if weights is None else (weights.detach() * losses).mean()
    optimizer.zero_grad(set_to_none=True)
    objective.backward()
    optimizer.step()
    return batch_stats(logits, batch.y, losses)


def resolve_weights(weights: Weights | None, logits: torch.Tensor, losses: torch.Tensor) -> torch.Tensor | None:
    """`weights` as given, or computed from the detached `logits` and per-example `losses`: one
    forward serves both the weights and the step."""
    return weights(logits.detach(), losses.detach()) if callable(weights) else weights


def batch_stats(logits, y, losses) -> dict[str, torch.Tensor]:
    return {
        "loss": losses.detach().mean(),
        "acc": (logits.detach().argmax(1) == y).float().mean(),
    }
