"""The peers (docs/design.md, Methods): exact values on hand-made inputs, and one epoch end to end."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from molere.errors import MolereError
from molere.experiment import train_method
from molere.hparams import build_config
from molere.methods import METHODS
from molere.methods.base import RunData
from molere.methods.lrw import balanced_indices
from molere.methods.zoo.cvar_dro import cvar_weights
from molere.methods.zoo.focal import focal_loss
from molere.methods.zoo.jtt import error_set_weights
from molere.methods.zoo.l2rw import alignment_weights, l2rw_weights
from molere.params import Params
from molere.train.steps import cross_entropy
from molere.train.tensors import Batch, TensorSet


def make_method(name: str, config: dict, *, rank_margin=None, n: int = 4, model=None):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    train = TensorSet.from_numpy(x, np.arange(n) % 2, np.arange(n), "cpu")
    model = model or torch.nn.Linear(2, 2)
    data = RunData(train=train, val=train, num_classes=2, rank_margin=rank_margin)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return METHODS.get(name)(model, optimizer, build_config(METHODS.get(name).Config, config, f"methods.{name}."), data, seed=0)


# --- focal ---------------------------------------------------------------------------------


def test_focal_with_gamma_zero_is_cross_entropy():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0]])
    y = torch.tensor([0, 1])
    assert torch.allclose(focal_loss(logits, y, 0.0), F.cross_entropy(logits, y, reduction="none"))


def test_focal_with_gamma_two_exact_values():
    # p_y = 1/2 -> (1/2)^2 ln 2; p_y = e^2 / (e^2 + 1) -> (1 - p_y)^2 * -ln p_y
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    p = math.exp(2) / (math.exp(2) + 1)
    expected = torch.tensor([0.25 * math.log(2), (1 - p) ** 2 * -math.log(p)], dtype=torch.float64)
    assert torch.allclose(focal_loss(logits, torch.tensor([0, 0]), 2.0), expected)


@pytest.mark.parametrize("gamma", [0.3, 0.5, 2.0])
def test_focal_gradient_is_finite_where_the_model_is_certain(gamma):
    # p_y rounds to exactly 1: (1 - p_y)^gamma has an infinite derivative there for gamma < 1
    logits = torch.tensor([[120.0, 0.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    loss = focal_loss(logits, torch.tensor([0, 1]), gamma)
    loss.sum().backward()
    assert torch.all(torch.isfinite(logits.grad)) and loss[0].item() == 0.0
    # the naive form, without the floor, is what made a long run NaN
    naive = logits.detach().requires_grad_()
    log_p = F.log_softmax(naive, dim=1)[0, 0]
    (-((1 - log_p.exp()) ** gamma) * log_p).backward()
    assert torch.isfinite(naive.grad).all() == (gamma >= 1)


def test_focal_default_gamma_and_bad_gamma():
    assert make_method("focal", {}).config.gamma == 2.0
    with pytest.raises(MolereError, match="gamma = -1"):
        make_method("focal", {"gamma": -1})


# --- cvar-dro ------------------------------------------------------------------------------


LOSSES = torch.tensor([0.5, 4.0, 1.0, 3.0, 2.0])


@pytest.mark.parametrize(
    "alpha, expected",
    [
        (0.4, (4.0 + 3.0) / 2),  # alpha n = 2: the two largest
        (1.0, 10.5 / 5),  # the mean
        (0.5, (4.0 + 3.0 + 0.5 * 2.0) / 2.5),  # alpha n = 2.5: half the weight on the third
        (0.1, 4.0),  # alpha n = 0.5 < 1: the largest alone
    ],
)
def test_cvar_is_the_mean_of_the_worst_alpha_fraction(alpha, expected):
    p = cvar_weights(LOSSES, alpha)
    assert float(p.sum()) == pytest.approx(1.0)
    assert float((p * LOSSES).sum()) == pytest.approx(expected)


def test_cvar_weights_sit_on_the_largest_losses():
    p = cvar_weights(LOSSES, 0.5)
    assert torch.allclose(p, torch.tensor([0.0, 0.4, 0.0, 0.4, 0.2]))


def test_cvar_method_loss_mean_is_the_batch_cvar_and_its_gradient():
    method = make_method("cvar-dro", {"alpha": 0.4})
    logits = torch.tensor([[0.0, 1.0], [0.0, -2.0], [0.0, 3.0], [0.0, 0.0], [0.0, -1.0]], requires_grad=True)
    y = torch.zeros(5, dtype=torch.long)
    method.loss(logits, y).mean().backward()
    losses = F.cross_entropy(logits.detach(), y, reduction="none")
    worst = losses.topk(2).indices
    expected = torch.zeros_like(logits)
    expected[worst] = torch.func.grad(lambda z: F.cross_entropy(z, y[worst]))(logits.detach()[worst])
    assert float(method.loss(logits.detach(), y).mean()) == pytest.approx(float(losses[worst].mean()))
    assert torch.allclose(logits.grad, expected)


def test_cvar_final_weights_sit_on_the_final_models_worst_alpha_fraction():
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():  # logit 0 minus logit 1 = x0 - x1 + 2 = 1 on every example: class 0 wins
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.bias.copy_(torch.tensor([2.0, 0.0]))
    method = make_method("cvar-dro", {"alpha": 0.5}, model=model)  # labels 0, 1, 0, 1
    # the two examples labelled 1 have the larger loss: weight 1/alpha = 2, the others 0
    assert method.train_weights().tolist() == [0.0, 2.0, 0.0, 2.0]
    assert make_method("cvar-dro", {"alpha": 1.0}, model=model).train_weights().tolist() == [1.0] * 4


def test_cvar_alpha_must_be_in_zero_one():
    with pytest.raises(MolereError, match="alpha = 0"):
        make_method("cvar-dro", {"alpha": 0})


# --- jtt -----------------------------------------------------------------------------------


def test_jtt_upweights_exactly_the_misclassified_by_the_factor():
    margin = np.array([0.3, -0.2, 0.0, 1.0, -1.0])
    assert error_set_weights(margin, 5).tolist() == [1.0, 5.0, 5.0, 1.0, 5.0]


def test_jtt_method_weights_and_step_weights():
    method = make_method("jtt", {"upweight": 4}, rank_margin=np.array([0.5, -0.5, 0.1, 0.2]))
    assert method.train_weights().tolist() == [1.0, 4.0, 1.0, 1.0]
    # divided by the mean weight 7/4: upsampling's expected gradient at ERM's step size
    assert torch.allclose(method.step_weights, torch.tensor([4 / 7, 16 / 7, 4 / 7, 4 / 7]))


def test_jtt_needs_the_rank_margins():
    with pytest.raises(MolereError, match="rank_margin"):
        make_method("jtt", {})


# --- l2rw ----------------------------------------------------------------------------------


def linear_batch(x, y, dtype=torch.float64) -> Batch:
    return Batch(torch.tensor(x, dtype=dtype), torch.tensor(y), torch.arange(len(y)))


def zero_linear_model(dtype=torch.float64) -> torch.nn.Module:
    # logits W x with W = 0: p = (1/2, 1/2), so grad_W l_i = (p - e_{y_i}) x_i^T = s_i (-1/2, 1/2)^T x_i^T
    # with s_i = +1 for y = 0, -1 for y = 1, and <grad l_i, grad l_j> = s_i s_j (x_i . x_j) / 2
    model = torch.nn.Linear(2, 2, bias=False).to(dtype)
    torch.nn.init.zeros_(model.weight)
    return model


VAL_BATCH = linear_batch([[1.0, 0.0]], [0])


def test_l2rw_weights_follow_gradient_alignment_by_hand():
    # alignments with the validation gradient: 1, 1/2, -1/2 (points away), 0 (orthogonal)
    batch = linear_batch([[2.0, 0.0], [1.0, 5.0], [1.0, 0.0], [0.0, 3.0]], [0, 0, 1, 0])
    weights = l2rw_weights(zero_linear_model(), batch, VAL_BATCH)
    assert torch.allclose(weights, torch.tensor([2 / 3, 1 / 3, 0.0, 0.0], dtype=torch.float64))


def test_l2rw_zero_sum_guard_gives_all_zero_weights():
    batch = linear_batch([[1.0, 0.0], [3.0, 1.0]], [1, 1])  # every gradient points away
    weights = l2rw_weights(zero_linear_model(), batch, VAL_BATCH)
    assert weights.tolist() == [0.0, 0.0]


@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20))
def test_alignment_weights_are_a_distribution_or_zero(hypergrad):
    hypergrad = torch.tensor(hypergrad, dtype=torch.float64)
    weights = alignment_weights(hypergrad)
    assert bool((weights >= 0).all())
    assert bool((weights[hypergrad >= 0] == 0).all())
    assert float(weights.sum()) == pytest.approx(1.0 if hypergrad.min() < 0 else 0.0)


def test_l2rw_steps_with_the_weights_times_batch_size():
    method = make_method("l2rw", {}, model=zero_linear_model(torch.float32))
    batch = linear_batch([[2.0, 0.0], [1.0, 5.0], [1.0, 0.0], [0.0, 3.0]], [0, 0, 1, 0], torch.float32)
    method.data.val = TensorSet(VAL_BATCH.x.float(), VAL_BATCH.y, np.array([7]))
    method.update(batch)
    assert torch.allclose(method.latest_weights, torch.tensor([8 / 3, 4 / 3, 0.0, 0.0]))


def take(iterator, k):
    return [next(iterator) for _ in range(k)]


def test_balanced_validation_batches_hold_every_class_equally():
    labels = torch.tensor([0] * 10 + [1] * 30 + [2] * 5)
    batches = take(balanced_indices(labels, 6, seed=3), 20)
    for index in batches:
        assert torch.bincount(labels[index], minlength=3).tolist() == [2, 2, 2]
        assert len(set(index.tolist())) == 6
    seen = torch.cat(batches)
    assert set(seen[labels[seen] == 2].tolist()) == set(range(40, 45))  # drawn afresh: all of class 2 appear
    assert all(torch.equal(a, b) for a, b in zip(batches, take(balanced_indices(labels, 6, seed=3), 20)))
    assert not all(torch.equal(a, b) for a, b in zip(batches, take(balanced_indices(labels, 6, seed=4), 20)))


def test_balanced_batches_take_all_of_a_class_smaller_than_its_share():
    labels = torch.tensor([0] * 8 + [1])
    (index,) = take(balanced_indices(labels, 8, seed=0), 1)
    assert torch.bincount(labels[index]).tolist() == [4, 1]


def test_l2rw_validates_on_balanced_batches_unless_told_not_to():
    labels = np.array([0] * 12 + [1] * 4)
    val = TensorSet.from_numpy(np.zeros((16, 2), np.float32), labels, np.arange(16), "cpu")
    largest_class_counts = {}
    for balance in [True, False]:
        method = make_method("l2rw", {"val_batch_size": 4, "balance_classes": balance}, n=4)
        method.data.val = val
        method.update(method.data.train.batch(torch.arange(4)))
        largest_class_counts[balance] = {int(torch.bincount(next(method._val_batches).y, minlength=2).max()) for _ in range(10)}
    assert largest_class_counts[True] == {2}
    assert largest_class_counts[False] - {2}  # random batches of a 3:1 set are mostly lopsided


# --- mwnet ---------------------------------------------------------------------------------


def test_mwnet_weight_depends_on_the_loss_only():
    method = make_method("mwnet", {"hidden": 8}, model=zero_linear_model())
    torch.nn.init.normal_(method.meta_net.head[-1].weight)  # away from the constant start
    # W = 0: every example has loss ln 2 whatever x and y, so every weight is the same
    batch = linear_batch([[2.0, 0.0], [1.0, 5.0], [-3.0, 0.5]], [0, 1, 0])
    logits = method.model(batch.x)
    weights = method.raw_weights(batch, logits, cross_entropy(logits, batch.y))
    expected = torch.sigmoid(method.meta_net.head(torch.full((1, 1), math.log(2), dtype=torch.float64))).squeeze(1)
    assert torch.allclose(weights, expected.expand(3))
    assert method.meta_net.inputs == ("loss",)


def test_mwnet_meta_network_is_one_hundred_wide_on_one_input():
    method = make_method("mwnet", {})
    first = method.meta_net.head[0]
    assert (first.in_features, first.out_features) == (1, 100)
    assert (method.q, method.warmup, method.reuse_gradient, method.normalize) == (1, 0.0, False, True)


def test_mwnet_meta_step_updates_the_meta_network_from_the_first_batch():
    method = make_method("mwnet", {}, n=8)
    before = copy.deepcopy(method.meta_net.state_dict())
    method.begin_epoch(0, 1)
    stats = method.update(method.data.train.batch(torch.arange(8)))
    assert math.isfinite(float(stats["loss"]))
    assert any(not torch.equal(before[k], v) for k, v in method.meta_net.state_dict().items())


# --- every registered method, one epoch end to end ----------------------------------------------


def tiny_problem(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 8)) + y[:, None]).astype(np.float32)
    return x, y, np.arange(100, 100 + n), rng.uniform(-1, 1, n)


def tiny_params(methods: dict, epochs: int = 1) -> Params:
    return Params(
        {
            "model": {"name": "mlp", "hidden": 16, "depth": 1},
            "train": {"epochs": epochs, "batch_size": 16, "optimizer": "sgd", "lr": 0.05, "schedule": "constant", "device": "cpu"},
            "methods": methods,
        }
    )


@pytest.mark.parametrize("name", METHODS.names())  # a method added to the zoo joins this test
def test_each_method_trains_one_epoch_end_to_end(name):
    x, y, ids, margin = tiny_problem()
    val_mask = np.zeros(len(y), dtype=bool)
    if METHODS.get(name).validation is not None:
        val_mask[::6] = True  # a stand-in for the split stage's column
    outcome = train_method(name, tiny_params({}), x, y, ids, val_mask, {"num_classes": 3}, seed=0, rank_margin=margin)
    [row] = outcome.history
    assert math.isfinite(row["train_loss"])
    assert row.get("meta_steps", 1) > 0  # mwnet: a meta step on every batch, no warm-up
    weights = outcome.method.train_weights()
    assert weights is None or weights.shape == ((~val_mask).sum(),)


@pytest.mark.parametrize("name, config", [("focal", {"gamma": 0}), ("cvar-dro", {"alpha": 1}), ("jtt", {"upweight": 1})])
def test_peers_at_their_neutral_setting_train_exactly_as_erm(name, config):
    x, y, ids, margin = tiny_problem()
    no_val = np.zeros(len(y), dtype=bool)

    def final_state(method):
        params = tiny_params({name: config}, epochs=2)
        outcome = train_method(method, params, x, y, ids, no_val, {"num_classes": 3}, seed=3, rank_margin=margin)
        return outcome.model.state_dict()

    erm, peer = final_state("erm"), final_state(name)
    assert all(torch.allclose(erm[k], peer[k], atol=1e-6) for k in erm)
