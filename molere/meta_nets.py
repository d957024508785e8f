"""The instance-conditional meta-network `g_phi -> w in (0, 1)` of learned reweighting
(docs/design.md, The meta-network's inputs): an MLP with a sigmoid head over a chosen set of inputs per example.

An MLP over the raw features alone would have to learn the classification task itself from the
hypergradient before it could tell a mislabelled example from a clean one; measured, it stays at
uniform weights even with a clean validation set (docs/design.md, "The meta-network's inputs"). So the
meta-network can also see what the classifier makes of the example, all detached (phi learns
from the hypergradient only):

- `probs`:  the classifier's softmax output (K values);
- `label`:  the observed label, one-hot (K values);
- `loss`:   the example's loss, cross-entropy in every LRW method (Meta-Weight-Net's single input);
- `margin`: the probabilistic margin p_y - max_{k != y} p_k;
- `x`:      the raw features, through a small extractor (an MLP's flatten for vectors, a small
            conv net for (C, H, W) images; `kind` picks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from molere.errors import MolereError, check_choice
from molere.hparams import hparam

INPUTS = ("probs", "label", "loss", "margin", "x")
KINDS = ("auto", "mlp", "conv")


@dataclass(frozen=True)
class MetaNetConfig:
    """`methods.<lrw method>.meta_net`: what the meta-network sees, its width, and (with `x`)
    the raw-feature extractor: `auto` is a conv net for (C, H, W) images, an MLP otherwise."""

    inputs: tuple[str, ...] = hparam(("probs", "label", "loss"), choices=INPUTS)
    hidden: int = hparam(100, low=1)
    kind: str = hparam("auto", choices=KINDS)


class MetaNet(nn.Module):
    """[the chosen inputs] -> hidden -> 1 -> sigmoid. `forward(x, y, logits, losses)`: `logits` and
    `losses` are the classifier's at the current theta (the step computed them already); only the
    inputs that need them read them."""

    def __init__(self, inputs: Sequence[str], num_classes: int, hidden: int, features: nn.Module | None = None, width: int = 0):
        super().__init__()
        self.inputs = tuple(inputs)
        self.num_classes = num_classes
        self.features = features  # the raw-x extractor, or None without `x`
        sizes = {"probs": num_classes, "label": num_classes, "loss": 1, "margin": 1, "x": width}
        self.head = nn.Sequential(nn.Linear(sum(sizes[name] for name in self.inputs), hidden), nn.ReLU(), nn.Linear(hidden, 1))
        # the one-hot labels as rows of the identity, picked by index_select: this forward runs on
        # every train batch, and F.one_hot (which checks the labels' range) or advanced indexing
        # costs several times as much
        self.register_buffer("one_hot", torch.eye(num_classes), persistent=False)
        # every example starts at weight 1/2: reweighting begins from uniform weights, i.e. from ERM
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None = None, losses: torch.Tensor | None = None) -> torch.Tensor:
        h = self.head(self.input_columns(x, y, logits, losses))
        # at least float32 under CUDA's bf16 autocast: bf16 resolves only 2^-9 around 1/2
        return torch.sigmoid(h.to(torch.promote_types(h.dtype, torch.float32))).squeeze(1)

    def input_columns(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None, losses: torch.Tensor | None) -> torch.Tensor:
        """What the head sees: the chosen inputs side by side, one row per example."""
        dtype = self.head[0].weight.dtype
        # the classifier's probabilities, once, for every input read off them
        p = F.softmax(logits.detach().to(dtype), dim=1) if {"probs", "margin"} & set(self.inputs) else None
        return torch.cat([self._input(name, x, y, p, losses, dtype) for name in self.inputs], dim=1)

    def _input(self, name: str, x, y, p, losses, dtype) -> torch.Tensor:
        if name == "x":
            return self.features(x).to(dtype)
        if name == "label":
            return self.one_hot.index_select(0, y).to(dtype)
        if name == "probs":
            return p
        if name == "loss":
            return losses.detach().to(dtype)[:, None]
        others = p.scatter(1, y[:, None], -math.inf)  # margin: p_y against the best other class
        return p.gather(1, y[:, None]) - others.max(1, keepdim=True).values


def make_meta_net(
    input_shape,
    num_classes: int,
    inputs: Sequence[str] = ("probs", "label", "loss"),
    hidden: int = 100,
    kind: str = "auto",
) -> MetaNet:
    """A meta-network over `inputs`; with `x` among them, `kind` `auto` is a conv extractor for
    (C, H, W) images and a flatten (an MLP over x) for everything else."""
    inputs = tuple(inputs)
    if not inputs:
        raise MolereError(f"meta_net.inputs is empty; choose one or more of {', '.join(INPUTS)}")
    for name in inputs:
        check_choice("meta_net input", name, INPUTS)
    if len(set(inputs)) != len(inputs):
        raise MolereError(f"meta_net.inputs = {list(inputs)} repeats an input")
    check_choice("meta_net kind", kind, KINDS)
    if "x" not in inputs:
        return MetaNet(inputs, num_classes, hidden)
    features, width = raw_feature_extractor(tuple(input_shape), kind)
    return MetaNet(inputs, num_classes, hidden, features, width)


def raw_feature_extractor(input_shape: tuple, kind: str) -> tuple[nn.Module, int]:
    if kind == "auto":
        kind = "conv" if len(input_shape) == 3 else "mlp"
    if kind == "mlp":
        return nn.Flatten(), math.prod(input_shape)
    if len(input_shape) != 3:
        raise MolereError(f"meta_net kind 'conv' needs (C, H, W) inputs, not shape {input_shape}; use 'mlp'")
    features = nn.Sequential(
        nn.Conv2d(input_shape[0], 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return features, 32
