"""The JVP hypergradient against the double-backward reference, and its side effects."""

import copy

import torch
from torch import nn
from torch.func import functional_call

from molere.hypergrad import (
    apply_gradients,
    lookahead,
    lookahead_val_loss,
    weight_hypergradient,
    weight_hypergradient_double_backward,
)
from molere.meta_nets import make_meta_net
from molere.train.steps import cross_entropy, weighted_step
from molere.train.tensors import Batch


def tiny_bn_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(1, 3, 3, padding=1),
        nn.BatchNorm1d(3),
        nn.ReLU(),
        nn.Conv1d(3, 4, 3, stride=2),
        nn.BatchNorm1d(4),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(4 * 3, 3),
    )


def batches(n=7, m=5, length=8, classes=3, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, length, generator=g, dtype=dtype)
    xv = torch.randn(m, 1, length, generator=g, dtype=dtype)
    y = torch.randint(0, classes, (n,), generator=g)
    yv = torch.randint(0, classes, (m,), generator=g)
    return Batch(x, y, torch.arange(n)), Batch(xv, yv, torch.arange(m))


def meta_net(dtype=torch.float64):
    torch.manual_seed(1)
    net = make_meta_net((1, 8), 3, inputs=["x", "label"], hidden=6).to(dtype)
    nn.init.normal_(net.head[-1].weight)  # away from the all-zero start, so every phi gets a gradient
    return net


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_phi_gradient_by_jvp_equals_double_backward_in_float64():
    torch.manual_seed(0)
    model = tiny_bn_net().double()
    g = meta_net()
    batch, val = batches()
    phi = list(g.parameters())
    lr = 0.3

    weights = g(batch.x, batch.y)
    hypergrad = weight_hypergradient(model, batch, weights, val, lr)
    by_jvp = torch.autograd.grad(weights, phi, grad_outputs=hypergrad)

    reference = torch.autograd.grad(lookahead_val_loss(model, batch, g(batch.x, batch.y), val, lr), phi)
    assert len(by_jvp) == len(reference) == 4
    for a, b in zip(by_jvp, reference):
        assert b.norm() > 0
        assert relative_error(a, b) < 1e-10


def test_phi_gradient_of_a_meta_net_over_the_classifier_output_equals_double_backward():
    # weights from the detached logits at theta (probs, label, loss): one forward serves both
    torch.manual_seed(0)
    model = tiny_bn_net().double()
    torch.manual_seed(2)
    g = make_meta_net((1, 8), 3, hidden=6).double()
    nn.init.normal_(g.head[-1].weight)
    batch, val = batches()
    phi = list(g.parameters())
    weigh = lambda logits, losses: g(batch.x, batch.y, logits, losses)  # noqa: E731
    step = lookahead(model, batch, weigh, val, 0.3)
    by_jvp = torch.autograd.grad(step.weights, phi, grad_outputs=step.hypergrad)
    reference = torch.autograd.grad(lookahead_val_loss(model, batch, weigh, val, 0.3), phi)
    for a, b in zip(by_jvp, reference):
        assert b.norm() > 0
        assert relative_error(a, b) < 1e-10
    # the weights saw the logits at theta: the same as a meta-net fed them by hand
    logits = model.train()(batch.x)
    assert torch.allclose(step.weights, g(batch.x, batch.y, logits, cross_entropy(logits, batch.y)), rtol=1e-12, atol=0)


def test_weight_hypergradient_matches_per_example_formula():
    # -(a/n) <grad l_i(theta), grad L_val(theta')> computed example by example
    torch.manual_seed(0)
    model = tiny_bn_net().double()
    batch, val = batches()
    weights = torch.rand(7, dtype=torch.float64)
    lr = 0.5
    params = list(model.parameters())
    ahead = [p.detach() - lr * gr for p, gr in zip(params, lookahead(model, batch, weights, val, lr).grads)]
    ahead = [p.requires_grad_() for p in ahead]
    names = [n for n, _ in model.named_parameters()]
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    val_loss = cross_entropy(functional_call(model, (dict(zip(names, ahead)), buffers), (val.x,)), val.y).mean()
    v = torch.autograd.grad(val_loss, ahead)
    # per-example gradients, taken inside the whole batch (BatchNorm couples the examples)
    losses = cross_entropy(model(batch.x), batch.y)
    expected = torch.stack(
        [
            -lr / 7 * sum((gi * vi).sum() for gi, vi in zip(torch.autograd.grad(losses[i], params, retain_graph=True), v))
            for i in range(7)
        ]
    )
    assert torch.allclose(weight_hypergradient(model, batch, weights, val, lr), expected, rtol=1e-10, atol=0)


def test_jvp_and_double_backward_weight_hypergradients_agree():
    torch.manual_seed(0)
    model = tiny_bn_net().double()
    batch, val = batches(seed=3)
    weights = torch.rand(7, dtype=torch.float64)
    jvp = weight_hypergradient(model, batch, weights, val, 0.1)
    reference = weight_hypergradient_double_backward(model, batch, weights, val, 0.1)
    assert jvp.shape == (7,)
    assert relative_error(jvp, reference) < 1e-10


def test_hypergradient_leaves_the_model_untouched():
    torch.manual_seed(0)
    model = tiny_bn_net()
    before = copy.deepcopy(model.state_dict())
    batch, val = batches(dtype=torch.float32)
    weight_hypergradient(model, batch, torch.ones(7), val, 0.1)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_meta_step_moves_bn_stats_and_params_exactly_as_a_weighted_step():
    torch.manual_seed(0)
    meta_model = tiny_bn_net()
    plain_model = copy.deepcopy(meta_model)
    meta_opt = torch.optim.SGD(meta_model.parameters(), lr=0.1, momentum=0.9)
    plain_opt = torch.optim.SGD(plain_model.parameters(), lr=0.1, momentum=0.9)
    weights = torch.rand(7)
    for seed in range(3):
        batch, val = batches(dtype=torch.float32, seed=seed)
        step = lookahead(meta_model, batch, weights, val, 0.1, update_buffers=True)
        apply_gradients(meta_model, meta_opt, step.grads)
        weighted_step(plain_model, plain_opt, batch, weights)
    meta_state, plain_state = meta_model.state_dict(), plain_model.state_dict()
    assert meta_state["1.num_batches_tracked"] == 3
    assert all(torch.equal(meta_state[k], plain_state[k]) for k in plain_state)


def test_zero_weights_look_ahead_nowhere():
    # w = 0 (L2RW): theta' = theta, so the hypergradient is -(a/n) <grad l_i, grad L_val(theta)>
    torch.manual_seed(0)
    model = nn.Linear(4, 3).double()
    g = torch.Generator().manual_seed(0)
    x, xv = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    y, yv = torch.tensor([0, 1, 2, 0, 1]), torch.tensor([2, 2, 1, 0, 0, 1])
    step = lookahead(model, (x, y), torch.zeros(5, dtype=torch.float64), (xv, yv), 0.7)
    assert all(torch.equal(gr, torch.zeros_like(gr)) for gr in step.grads)
    # linear softmax regression: grad_W l_i = (p_i - e_{y_i}) x_i^T, grad_b l_i = p_i - e_{y_i}
    residual = torch.softmax(model(x), 1) - nn.functional.one_hot(y, 3)
    residual_val = torch.softmax(model(xv), 1) - nn.functional.one_hot(yv, 3)
    grad_w_val, grad_b_val = residual_val.T @ xv / 6, residual_val.mean(0)
    expected = -0.7 / 5 * (((residual @ grad_w_val) * x).sum(1) + residual @ grad_b_val)
    assert torch.allclose(step.hypergrad, expected, rtol=1e-12, atol=0)
    assert torch.allclose(step.losses, cross_entropy(model(x), y).detach())


def test_frozen_and_unused_parameters_are_skipped():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 3)).double()
    model[0].weight.requires_grad_(False)
    model.register_parameter("unused", nn.Parameter(torch.ones(2, dtype=torch.float64)))
    x, y = torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])
    weights = torch.rand(5, dtype=torch.float64)
    step = lookahead(model, (x, y), weights, (x, y), 0.2)
    # named_parameters order: the module's own `unused`, then the children's trainable ones
    assert [gr.shape for gr in step.grads] == [(2,), (3,), (3, 3), (3,)]
    assert torch.equal(step.grads[0], torch.zeros(2, dtype=torch.float64))
    reference = weight_hypergradient_double_backward(model, (x, y), weights, (x, y), 0.2)
    assert relative_error(step.hypergrad, reference) < 1e-10
