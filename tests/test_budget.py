"""The training budget: `train.steps` optimiser steps per run whatever the train side's size
(DomainBed's rule), or `train.epochs` epochs."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from molere.errors import MolereError
from molere.experiment import train_config, train_method
from molere.params import Params
from molere.train.config import TrainConfig, run_epochs

N, D, K = 120, 12, 3
VAL = np.arange(N) % 6 == 0  # 20 validation examples: a train side of 100, 7 batches of 16


def blobs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, K, N)
    x = (rng.normal(0, 2, (K, D))[y] + rng.normal(0, 1, (N, D))).astype(np.float32)
    return x, y, np.arange(N)


def params(**train) -> Params:
    knobs = {"batch_size": 16, "optimizer": "sgd", "lr": 0.1, "schedule": "cosine", "device": "cpu", **train}
    return Params({"model": {"name": "mlp", "hidden": 16}, "train": knobs, "methods": {"lrw-random": {"warmup": 0.0}}})


def test_run_epochs_exact_values():
    assert run_epochs(TrainConfig(steps=800, batch_size=128), 5760) == 18  # 45 batches an epoch
    assert run_epochs(TrainConfig(steps=800, batch_size=128), 1700) == 58  # 14 batches: a small pool trains longer
    assert run_epochs(TrainConfig(steps=10, batch_size=16), 100) == 2
    assert run_epochs(TrainConfig(steps=None, epochs=20, batch_size=128), 1700) == 20


@given(steps=st.integers(1, 5000), batch=st.integers(1, 512), size=st.integers(1, 20000))
def test_run_epochs_is_the_fewest_that_hold_the_budget(steps, batch, size):
    epochs, per_epoch = run_epochs(TrainConfig(steps=steps, batch_size=batch), size), math.ceil(size / batch)
    assert epochs * per_epoch >= steps > (epochs - 1) * per_epoch


def test_a_step_budget_takes_exactly_that_many_steps():
    x, y, ids = blobs()
    outcome = train_method("lrw-random", params(steps=10), x, y, ids, VAL, {"num_classes": K}, seed=0)
    # a meta step on every batch (q 1, no warm-up): 7 in the first epoch, the 3 left in the second
    assert [row["meta_steps"] for row in outcome.history] == [7, 3]
    # the cosine schedule spans the run's own two epochs
    assert [row["lr"] for row in outcome.history] == pytest.approx([0.1, 0.05])


def test_without_a_step_budget_every_epoch_is_whole():
    x, y, ids = blobs()
    outcome = train_method("lrw-random", params(steps=None, epochs=2), x, y, ids, VAL, {"num_classes": K}, seed=0)
    assert [row["meta_steps"] for row in outcome.history] == [7, 7]


def test_both_budgets_set_is_an_error():
    with pytest.raises(MolereError, match=r"^train.epochs = 5 and train.steps = 800 both set the training budget; set one"):
        train_config(params(steps=800, epochs=5))
    assert train_config(params(steps=None, epochs=5)).epochs == 5
