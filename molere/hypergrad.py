"""The exact one-step hypergradient of learned reweighting, by one forward-mode JVP
(docs/design.md, The exact hypergradient without double backward).

For the lookahead `theta' = theta - a * grad_theta (1/n) sum_i w_i l_i(theta)` (plain SGD, step
`a`), the derivative of the validation loss with respect to each example's weight is

    dL_val(theta') / dw_i = -(a / n) * <grad_theta l_i(theta), grad_theta L_val(theta')>

and the n dot products of a batch are one Jacobian-vector product of the vector of per-example
losses at theta along `v = grad_theta L_val(theta')` (`torch.autograd.forward_ad` dual tensors).
A meta step is then one forward+backward on the train batch (whose gradient is also the real
step's), one forward+backward on the validation batch at theta', and one JVP forward: about three
ERM steps, with no second-order graph.

Public API (methods such as LRW, MOLERE, Meta-Weight-Net and L2RW build on these names):

- `weight_hypergradient(model, batch, weights, val_batch, lr, loss_fn=cross_entropy) -> Tensor`
  dL_val(theta')/dw_i, shape (n,), with `weights` treated as given (detached). Leaves the model
  (parameters and buffers) untouched.
- `lookahead(model, batch, weights, val_batch, lr, loss_fn=cross_entropy, *,
  update_buffers=False) -> Lookahead`: the same, plus what the real step needs: the gradient of
  (1/n) sum_i w_i l_i at theta (`grads`, one tensor per trainable parameter, in
  `model.parameters()` order), the per-example losses and logits at theta, and L_val(theta').
  With `update_buffers=True` the train forward is the real model's own, so BatchNorm running
  statistics move exactly as one plain weighted step moves them; pass it when the real step will
  reuse `grads` (then call `apply_gradients`), and leave it False when the real step is recomputed.
  `weights` may be a function of the classifier's detached logits and per-example losses at
  theta (a meta-network that sees them): the train forward then serves both, and `Lookahead.weights` holds its output, still
  attached to whatever produced it, for the meta-network's backward.
- `apply_gradients(model, optimizer, grads)`: one optimiser step with the given gradients.
- `load_forward_ad()`: pay forward-mode AD's one-time start-up now (LRW does, before training).
- `weight_hypergradient_double_backward(...)` and `lookahead_val_loss(...)`: the usual
  `create_graph=True` route, kept as the reference the tests and the benchmark compare against.

`batch` and `val_batch` are `Batch`es or any `(x, y, ...)` tuples. The model is put in train
mode (BatchNorm uses batch statistics in every pass); the lookahead and JVP passes run on cloned
buffers, so they never change the real model's running statistics. Models with dropout get
independent masks in each pass; the formula is exact for deterministic forwards.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import NamedTuple, Sequence

import torch
import torch.autograd.forward_ad as fwAD

from molere.train.steps import LossFn, Weights, cross_entropy, resolve_weights


class Lookahead(NamedTuple):
    hypergrad: torch.Tensor  # (n,) dL_val(theta') / dw_i
    weights: torch.Tensor  # (n,) the weights used, as given or computed (not detached)
    grads: tuple[torch.Tensor, ...]  # grad_theta (1/n) sum_i w_i l_i(theta), per trainable param
    losses: torch.Tensor  # (n,) per-example losses at theta, detached
    logits: torch.Tensor  # (n, K) at theta, detached
    val_loss: torch.Tensor  # L_val(theta'), detached


def weight_hypergradient(
    model: torch.nn.Module,
    batch,
    weights: torch.Tensor,
    val_batch,
    lr: float,
    loss_fn: LossFn = cross_entropy,
) -> torch.Tensor:
    """dL_val(theta')/dw_i for every example of `batch`, shape (n,); see the module docstring."""
    return lookahead(model, batch, weights, val_batch, lr, loss_fn).hypergrad


def lookahead(
    model: torch.nn.Module,
    batch,
    weights: Weights,
    val_batch,
    lr: float,
    loss_fn: LossFn = cross_entropy,
    *,
    update_buffers: bool = False,
) -> Lookahead:
    """One-step lookahead and its exact weight hypergradient by one forward-mode JVP."""
    model.train()
    x, y = batch[0], batch[1]
    names, params = _trainable(model)
    # the train forward at theta: the real model's (its BN stats move once) or on cloned buffers
    if update_buffers:
        logits = model(x)
    else:
        logits = _forward_at(model, dict(zip(names, params)), x)
    losses = loss_fn(logits, y)
    weights = resolve_weights(weights, logits, losses)
    grads = _grads((weights.detach() * losses).mean(), params)
    # theta - lr * g as one op per parameter (add's alpha), where `-` and `*` would take two
    ahead = [p.detach().add(g, alpha=-lr).requires_grad_() for p, g in zip(params, grads)]
    val_loss = _val_loss(model, names, ahead, val_batch, loss_fn)
    v = _grads(val_loss, ahead)
    tangent = _loss_jvp(model, names, params, v, x, y, loss_fn)
    return Lookahead(
        hypergrad=tangent * (-lr / len(y)),
        weights=weights,
        grads=grads,
        losses=losses.detach(),
        logits=logits.detach(),
        val_loss=val_loss.detach(),
    )


def apply_gradients(model: torch.nn.Module, optimizer: torch.optim.Optimizer, grads: Sequence[torch.Tensor]) -> None:
    """The real step from a gradient already computed (a `Lookahead`'s `grads`)."""
    for p, g in zip(_trainable(model)[1], grads):
        p.grad = g
    optimizer.step()


def lookahead_val_loss(
    model: torch.nn.Module,
    batch,
    weights: Weights,
    val_batch,
    lr: float,
    loss_fn: LossFn = cross_entropy,
) -> torch.Tensor:
    """L_val(theta') as a differentiable function of `weights` (and of whatever produced them),
    through the train gradient built with `create_graph=True`: the double-backward reference."""
    model.train()
    x, y = batch[0], batch[1]
    names, params = _trainable(model)
    logits = _forward_at(model, dict(zip(names, params)), x)
    losses = loss_fn(logits, y)
    weights = resolve_weights(weights, logits, losses)
    grads = torch.autograd.grad((weights * losses).mean(), params, create_graph=True, allow_unused=True)
    ahead = [p if g is None else p - lr * g for p, g in zip(params, grads)]
    return _val_loss(model, names, ahead, val_batch, loss_fn)


def weight_hypergradient_double_backward(
    model: torch.nn.Module,
    batch,
    weights: torch.Tensor,
    val_batch,
    lr: float,
    loss_fn: LossFn = cross_entropy,
) -> torch.Tensor:
    """`weight_hypergradient` by differentiating through the lookahead (the reference)."""
    weights = weights.detach().requires_grad_()
    (hypergrad,) = torch.autograd.grad(lookahead_val_loss(model, batch, weights, val_batch, lr, loss_fn), weights)
    return hypergrad


def load_forward_ad() -> None:
    """Forward-mode AD loads its decompositions on first use (about half a second); call this
    before a timed loop so the cost falls outside it. Loading them scripts them with
    `torch.jit.script`, whose deprecation warning is torch's own business, not the user's."""
    with warnings.catch_warnings(), fwAD.dual_level():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        fwAD.make_dual(torch.zeros(1), torch.zeros(1))


def _trainable(model: torch.nn.Module) -> tuple[list[str], list[torch.Tensor]]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [n for n, _ in named], [p for _, p in named]


def _forward_at(model: torch.nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The model's output with `params` in place of its own, on copies of its buffers (so the
    lookahead's forwards leave batch-norm statistics alone)."""
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    with _swapped(model, "_parameters", params), _swapped(model, "_buffers", buffers):
        return model(x)


@contextlib.contextmanager
def _swapped(model: torch.nn.Module, slot: str, tensors: dict[str, torch.Tensor]):
    """`model`'s parameters or buffers (`slot`) named in `tensors` replaced by them while inside:
    what `torch.func.functional_call` does, without its checks and tying logic, which cost a
    tenth of a small model's meta step (the lookahead runs two such forwards)."""
    saved = []
    for name, tensor in tensors.items():
        owner, _, attr = name.rpartition(".")
        entries = getattr(model.get_submodule(owner), slot)
        saved.append((entries, attr, entries[attr]))
        entries[attr] = tensor
    try:
        yield
    finally:
        for entries, attr, original in saved:
            entries[attr] = original


def _grads(loss: torch.Tensor, params: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return tuple(torch.zeros_like(p) if g is None else g for p, g in zip(params, grads))


def _val_loss(model, names, params, val_batch, loss_fn) -> torch.Tensor:
    logits = _forward_at(model, dict(zip(names, params)), val_batch[0])
    return loss_fn(logits, val_batch[1]).mean()


def _loss_jvp(model, names, params, tangents, x, y, loss_fn) -> torch.Tensor:
    """The JVP of the per-example losses at `params` along `tangents`: <grad l_i, v> for all i."""
    # no_grad: forward-mode AD still runs, and no reverse graph is built
    with torch.no_grad(), fwAD.dual_level():
        duals = {n: fwAD.make_dual(p.detach(), t) for n, p, t in zip(names, params, tangents)}
        losses = loss_fn(_forward_at(model, duals, x), y)
        return fwAD.unpack_dual(losses).tangent
