"""The epoch loop shared by every method, and prediction."""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from molere.errors import MolereError
from molere.progress import track
from molere.train.augment import augmenter
from molere.train.optim import current_lr
from molere.train.tensors import TensorSet, autocast, batch_indices, map_batches


def fit(
    method,
    data: TensorSet,
    *,
    epochs: int,
    batch_size: int,
    scheduler,
    seed: int,
    select_on: TensorSet | None = None,
    steps: int | None = None,
    augment: str = "none",
) -> list[dict]:
    """Train `method` for `epochs` over `data` in seeded minibatches, stopping after `steps`
    minibatches in all if given, each minibatch augmented as `augment` names (molere/train/
    augment.py); return one history row per epoch. With `select_on`, the model is restored to its
    best epoch on that set (accuracy)."""
    generator = torch.Generator().manual_seed(seed)
    transform = augmenter(augment, seed, tuple(data.x.shape[1:]))
    history: list[dict] = []
    best = (-1.0, None)
    budget = math.inf if steps is None else steps
    for epoch in track(range(epochs), f"{method.name}: epochs", total=epochs):
        start = time.perf_counter()
        lr = current_lr(method.optimizer)
        method.begin_epoch(epoch, epochs)
        sums: dict[str, torch.Tensor] = {}
        steps = 0
        order = list(batch_indices(len(data), batch_size, generator))
        if budget < len(order):  # the step budget ends within this epoch
            order = order[:budget]
        for batch in data.batches(order, transform):
            budget -= 1
            with autocast(data.device):  # every forward of the step, meta passes included
                stats = method.update(batch)
            for key, value in stats.items():
                sums[key] = sums.get(key, 0) + value
            steps += 1
        scheduler.step()
        row = {"epoch": epoch, "lr": lr}
        row.update({f"train_{k}": float(v) / steps for k, v in sums.items()})
        _check_finite(row, epoch)
        row.update(method.end_epoch(epoch))
        if select_on is not None:
            row["select_acc"] = accuracy(method.model, select_on)
            if row["select_acc"] > best[0]:
                best = (row["select_acc"], copy.deepcopy(method.model.state_dict()))
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        if method.should_stop() or budget == 0:
            break
    if best[1] is not None:
        method.model.load_state_dict(best[1])
    return history


def _check_finite(row: dict, epoch: int) -> None:
    loss = row.get("train_loss", 0.0)
    if not math.isfinite(loss):
        raise MolereError(
            f"training loss is {loss} at epoch {epoch}; lower train.lr (now {row['lr']:g})"
        )


@torch.no_grad()
def predict_proba(model: torch.nn.Module, data: TensorSet, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities of every example, in order, with the model in eval mode."""
    model.eval()
    if len(data) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return map_batches(data, lambda batch: torch.softmax(model(batch.x).float(), dim=1), batch_size).numpy()


def accuracy(model: torch.nn.Module, data: TensorSet) -> float:
    return float((predict_proba(model, data).argmax(1) == data.y.cpu().numpy()).mean())
