"""MOLERE (docs/design.md, MOLERE (LRWOpt)): the splitter's loss and regularisers on hand-made inputs,
GenerateSplit, Algorithm 1's early stop, and the method finding a known hard subgroup."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from molere.errors import MolereError
from molere.experiment import train_method
from molere.hparams import build_config
from molere.methods import METHODS
from molere.methods.base import RunData
from molere.params import Params
from molere.splitter import GapStop, Splitter, generate_split, label_penalty, size_penalty, splitter_objective
from molere.train.steps import weighted_step
from molere.train.tensors import Batch, TensorSet
from molere.valsets import validation_size
from stages.train import validation_table

# --- regularisers and the splitter's loss ---------------------------------------------------


def test_size_penalty_exact():
    # mean p = 3/4 against 1 - delta = 1/2: KL(B(3/4) || B(1/2)) = 3/4 ln(3/2) + 1/4 ln(1/2)
    p = torch.tensor([0.5, 1.0], dtype=torch.float64)
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert size_penalty(p, 0.5).item() == pytest.approx(expected, abs=1e-12)


def test_size_penalty_is_zero_at_the_target_size():
    p = torch.tensor([0.7, 0.9, 1.0, 1.0], dtype=torch.float64)  # mean 0.9
    assert size_penalty(p, 0.1).item() == pytest.approx(0.0, abs=1e-12)


def test_label_penalty_exact():
    # held-out mass 1 - p per class: [0.5, 0.5 + 0, 1.0] -> q = [1/4, 1/4, 1/2] against uniform
    p = torch.tensor([0.5, 0.5, 1.0, 0.0], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 2])
    prior = torch.full((3,), 1 / 3, dtype=torch.float64)
    expected = 2 * 0.25 * math.log(0.75) + 0.5 * math.log(1.5)
    assert label_penalty(p, y, prior).item() == pytest.approx(expected, abs=1e-12)


def test_label_penalty_of_a_single_class_validation_side_is_log_k():
    p = torch.tensor([0.0, 1.0, 1.0, 0.2], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    prior = torch.full((3,), 1 / 3, dtype=torch.float64)
    assert label_penalty(p, y, prior).item() == pytest.approx(math.log(3), abs=1e-12)


def test_splitter_objective_exact():
    # p = [1/2, 3/4] (mean 5/8 = 1 - delta: no size term); held-out mass [1/2, 1/4] -> q = [2/3, 1/3]
    logits = torch.tensor([0.0, math.log(3)], dtype=torch.float64)
    losses = torch.tensor([2.0, 4.0], dtype=torch.float64)
    correct = torch.tensor([False, True])
    y = torch.tensor([0, 1])
    prior = torch.tensor([0.5, 0.5], dtype=torch.float64)
    fit = (math.log(2) - math.log(0.75)) / 2
    adversary = -(0.5 * 2 + 0.25 * 4) / 2
    label = 2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3)
    value = splitter_objective(logits, losses, correct, y, prior, delta=0.375, size_weight=5.0, label_weight=2.0)
    assert value.item() == pytest.approx(fit + adversary + 2.0 * label, abs=1e-12)


def test_splitter_loss_gradient_moves_high_loss_examples_towards_validation():
    # same correctness, same label: the higher-loss example's P(train) must fall faster
    logits = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    losses = torch.tensor([0.1, 3.0], dtype=torch.float64)
    correct = torch.tensor([False, False])
    prior = torch.tensor([1.0, 0.0], dtype=torch.float64)
    splitter_objective(logits, losses, correct, torch.tensor([0, 0]), prior, delta=0.5).backward()
    assert logits.grad[1] > logits.grad[0] > 0  # gradient descent lowers logit 1 the most


def test_splitter_starts_near_the_target_size():
    torch.manual_seed(0)
    splitter = Splitter(num_features=10, num_classes=3, delta=0.2)
    p = torch.sigmoid(splitter(torch.randn(500, 10), torch.randint(0, 3, (500,))))
    assert abs(p.mean().item() - 0.8) < 0.05


# --- GenerateSplit --------------------------------------------------------------------------


def test_generate_split_takes_the_lowest_p_train_with_ties_by_position():
    assert generate_split(np.array([0.3, 0.1, 0.3, 0.9, 0.1]), 0.4).tolist() == [False, True, False, False, True]
    assert generate_split(np.full(4, 0.2), 0.5).tolist() == [True, True, False, False]


def test_generate_split_with_labels_takes_each_class_its_quota():
    # class 0 holds every low P(train): the pool-wide split is all class 0, the quota half and half
    p, y = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]), np.repeat([0, 1], 5)
    assert np.flatnonzero(generate_split(p, 0.4)).tolist() == [0, 1, 2, 3]
    assert np.flatnonzero(generate_split(p, 0.4, y)).tolist() == [0, 1, 5, 6]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1), min_size=2, max_size=20), min_size=1, max_size=4), st.floats(0.01, 0.5), st.data())
def test_generate_split_quota_size_and_order_in_every_class(classes, delta, data):
    # each class's scores, at least two (a class of one has none left to train on), in a drawn order
    y = np.concatenate([np.full(len(scores), label) for label, scores in enumerate(classes)])
    order = np.array(data.draw(st.permutations(range(len(y)))))
    y, p = y[order], np.concatenate(classes)[order]
    assert all(validation_size(n, delta) < n for n in np.bincount(y))  # what the drawn classes promise
    in_val = generate_split(p, delta, y)
    for label in np.unique(y):
        mine = y == label
        assert in_val[mine].sum() == validation_size(mine.sum(), delta)
        assert p[in_val & mine].max() <= p[~in_val & mine].min()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=60), st.floats(0.01, 0.5))
def test_generate_split_size_and_order(p, delta):
    p = np.array(p)
    in_val = generate_split(p, delta)
    assert in_val.sum() == validation_size(len(p), delta)
    if (~in_val).any():
        assert p[in_val].max() <= p[~in_val].min()


# --- early stop -----------------------------------------------------------------------------


def test_gap_stop_fires_when_the_gap_falls_below_the_previous_epoch():
    # (val loss, train loss) per epoch: gaps 0.2, 0.5, 0.5, 0.9, then 0.7 < 0.9
    epochs = [(1.2, 1.0), (1.3, 0.8), (1.1, 0.6), (1.4, 0.5), (1.1, 0.4)]
    stop = GapStop()
    assert [stop.update(val, train) for val, train in epochs] == [False, False, False, False, True]


def test_gap_stop_with_patience_waits_for_consecutive_falls():
    gaps = [0.2, 0.5, 0.4, 0.6, 0.5, 0.55, 0.3]
    stop = GapStop(patience=2)
    # 0.4 < 0.5 (1 fall), 0.6 new best (reset), 0.5 (1), 0.55 < 0.6 (2): fires
    assert [stop.update(gap, 0.0) for gap in gaps][:6] == [False, False, False, False, False, True]


# --- the method -----------------------------------------------------------------------------


def subgroup_problem(n=600, seed=0):
    """Two classes split by x0 = 0, except a 10% minority, shifted away along x1, whose boundary
    is reversed: a linear classifier cannot fit it, so it is the hard subgroup."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.1
    x = rng.normal(0, 1, (n, 2))
    x[hard, 1] += 4.0
    y = (x[:, 0] > 0).astype(np.int64)
    y[hard] = 1 - y[hard]
    return x.astype(np.float32), y, hard


def molere_params(epochs=6, **cfg) -> Params:
    return Params(
        {
            "model": {"name": "mlp", "depth": 0},  # a linear classifier
            "train": {"epochs": epochs, "batch_size": 50, "optimizer": "sgd", "lr": 0.1, "schedule": "cosine", "device": "cpu"},
            "methods": {"molere": {"val_fraction": 0.2, "q": 2, "patience": 100, **cfg}},
        }
    )


@pytest.fixture(scope="module")
def subgroup_run():
    x, y, hard = subgroup_problem()
    outcome = train_method("molere", molere_params(), x, y, np.arange(len(y)), np.zeros(len(y), bool), {"num_classes": 2}, seed=0)
    return outcome, hard


def test_splitter_sends_the_hard_subgroup_to_validation(subgroup_run):
    outcome, hard = subgroup_run
    in_val, p_train = outcome.method.final_split()
    random_val = generate_split(np.random.default_rng(1).random(len(hard)), 0.2)
    # measured: all 54 of the subgroup in validation (45% of its 120) against 11 (9.2%) for random
    assert in_val[hard].mean() >= 0.9
    assert random_val[hard].mean() <= 0.3
    assert hard[in_val].mean() >= 3 * hard[random_val].mean()
    assert np.array_equal(in_val, generate_split(p_train, 0.2, subgroup_problem()[1]))


def test_split_size_stays_at_delta(subgroup_run):
    outcome, _ = subgroup_run
    history = pd.DataFrame(outcome.history)
    assert (history["val_fraction"] == 120 / 600).all()
    # the size KL keeps the soft split near delta once the splitter has trained (measured: within 0.022)
    assert (history["soft_val_fraction"][2:] - 0.2).abs().max() < 0.03
    assert (history["val_classes"] == 2).all()
    # warm-up (2 of 6 epochs) has no meta step hence no gap; afterwards every epoch has both
    assert history["gap"].isna().tolist() == [True, True, False, False, False, False]
    assert history["gap_stop_epoch"].isna().all()


def odd_class_problem(n=600, seed=0):
    """Classes 0 and 1 on either side of x0 = 0, and a class 2 (about a quarter) drawn like them:
    no classifier tells it apart, so an unconstrained splitter sends it, and only it, to validation."""
    rng = np.random.default_rng(seed)
    side = rng.random(n) < 0.5
    x = rng.normal(0, 1, (n, 2))
    x[:, 0] += np.where(side, 2.0, -2.0)
    y = side.astype(np.int64)
    y[rng.random(n) < 0.2] = 2
    return x.astype(np.float32), y


@pytest.mark.parametrize("stratified", [False, True])
def test_the_quota_keeps_the_pools_class_mix_where_the_splitter_would_take_one_class(stratified):
    x, y = odd_class_problem()
    outcome = train_method("molere", molere_params(stratified=stratified), x, y, np.arange(len(y)), np.zeros(len(y), bool), {"num_classes": 3}, seed=0)
    in_val = outcome.method.final_split()[0]
    shares, pool = np.bincount(y[in_val], minlength=3) / in_val.sum(), np.bincount(y) / len(y)
    if stratified:  # measured: 49, 42, 29 of 120 (40.8, 35.0, 24.2%) against the pool's 41.2, 35.0, 23.8%
        assert np.abs(shares - pool).max() <= 1 / in_val.sum()
        assert set(pd.DataFrame(outcome.history)["val_classes"]) == {3}  # every epoch's side, warm-up's too
    else:  # measured: all 120 of class 2, which is 24% of the pool
        assert shares[2] >= 0.9


def test_molere_is_deterministic(subgroup_run):
    outcome, _ = subgroup_run
    x, y, _ = subgroup_problem()
    again = train_method("molere", molere_params(), x, y, np.arange(len(y)), np.zeros(len(y), bool), {"num_classes": 2}, seed=0)
    assert np.array_equal(again.method.final_split()[1], outcome.method.final_split()[1])
    assert np.array_equal(again.method.train_weights(), outcome.method.train_weights())


def gap_stop_run(action: str):
    x, y, _ = subgroup_problem(n=200)
    params = molere_params(epochs=30, patience=1, gap_stop=action)
    return train_method("molere", params, x, y, np.arange(len(y)), np.zeros(len(y), bool), {"num_classes": 2}, seed=0)


def test_gap_stop_can_end_the_run_and_is_recorded():
    outcome = gap_stop_run("stop-training")
    history = pd.DataFrame(outcome.history)
    assert len(history) < 30
    assert history["gap_stop_epoch"].dropna().tolist() == [len(history) - 1]
    gaps = history["gap"].dropna().to_numpy()
    assert gaps[-1] < gaps[:-1].max() and (np.diff(gaps[:-1]) >= 0).all()


def test_gap_stop_freezes_the_splitter_on_the_split_of_the_best_gap_and_training_goes_on():
    stopped, frozen = gap_stop_run("stop-training"), gap_stop_run("freeze-splitter")
    history = pd.DataFrame(frozen.history)
    fired = len(stopped.history) - 1
    assert len(history) == 30  # every epoch of train.epochs
    assert (history["gap_stop_epoch"][fired:] == fired).all() and history["gap_stop_epoch"][:fired].isna().all()
    # up to the rule, both runs are the same run; then the frozen one keeps training
    assert np.allclose(history["train_loss"][: fired + 1], pd.DataFrame(stopped.history)["train_loss"])
    assert history["meta_steps"][fired + 1 :].min() > 0 and history["splitter_loss"][fired + 1 :].isna().all()
    # the split kept is the one of the best gap, in both runs, and it no longer moves
    assert np.array_equal(frozen.method.final_split()[0], stopped.method.final_split()[0])
    assert np.array_equal(frozen.method.in_val, frozen.method.final_split()[0])


def test_unknown_gap_stop_is_a_one_line_error():
    with pytest.raises(MolereError, match=r"unknown methods.molere.gap_stop 'halt'; allowed: freeze-splitter, stop-training"):
        make_molere(gap_stop="halt")


def make_molere(n=20, delta=0.25, **cfg):
    # feature = pool position, so every batch row says which example it is
    x = np.arange(n, dtype=np.float32).reshape(n, 1)
    pool = TensorSet.from_numpy(x, np.arange(n) % 2, np.arange(n) * 10, "cpu")
    model = torch.nn.Linear(1, 2)
    config = build_config(METHODS.get("molere").Config, {"val_fraction": delta, **cfg}, "methods.molere.")
    data = RunData(train=pool, val=None, num_classes=2)
    return METHODS.get("molere")(model, torch.optim.SGD(model.parameters(), lr=0.01), config, data, seed=0)


def test_validation_batches_come_from_the_current_split():
    method = make_molere()
    # the quota: 0.25 of each class's 10 rounds (to even) to 2
    assert method.in_val.sum() == 4 and len(method.data.val) == 4
    new = np.zeros(20, dtype=bool)
    new[[1, 4, 9, 16]] = True
    method.set_split(new)
    seen = {int(v) for _ in range(4) for v in method.validation_batch(3).x.flatten()}
    assert seen == {1, 4, 9, 16}


def test_classifier_steps_only_on_the_train_side():
    method = make_molere(q=10**9, warmup=1.0)  # ERM steps on the train side, no splitter step
    twin = copy.deepcopy(method.model)
    batch = method.pool.batch(torch.arange(20))
    method.begin_epoch(0, 1)
    method.update(batch)
    keep = ~torch.as_tensor(method.in_val)
    weighted_step(twin, torch.optim.SGD(twin.parameters(), lr=0.01), Batch(batch.x[keep], batch.y[keep], batch.index[keep]))
    assert all(torch.equal(a, b) for a, b in zip(method.model.parameters(), twin.parameters()))


def test_bad_delta_is_a_one_line_error():
    with pytest.raises(MolereError, match=r"methods.molere.val_fraction = 0.7 is outside the allowed range \(0, 0.5\]"):
        make_molere(delta=0.7)


def test_validation_table_covers_the_pool_for_every_method():
    pool = pd.DataFrame({"id": [10, 11, 12, 13], "y": [0, 1, 1, 0], "y_clean": [0, 0, 1, 0], "is_noisy": [False, True, False, False]})
    val_mask = np.array([False, True, False, False])
    given = SimpleNamespace(method=SimpleNamespace(final_split=lambda: None))
    chosen = SimpleNamespace(method=SimpleNamespace(final_split=lambda: (np.array([True, False, False]), np.array([0.1, 0.8, 0.9]))))
    table = validation_table(given, pool, val_mask, trusted=False)
    assert table["in_val"].tolist() == [False, True, False, False] and table["p_train"].tolist() == [1, 0, 1, 1]
    assert table[["id", "y", "is_noisy"]].equals(pool[["id", "y", "is_noisy"]])
    table = validation_table(chosen, pool, val_mask, trusted=False)
    assert table["in_val"].tolist() == [True, True, False, False] and table["p_train"].tolist() == [0.1, 0, 0.8, 0.9]
    # under the trusted protocol the validation side, and only it, carries the clean labels
    table = validation_table(chosen, pool, val_mask, trusted=True)
    assert table["y"].tolist() == [0, 0, 1, 0] and not table["is_noisy"].any()
    table = validation_table(given, pool, np.array([True, False, False, False]), trusted=True)
    assert table["y"].tolist() == [0, 1, 1, 0] and table["is_noisy"].tolist() == [False, True, False, False]
