"""The instance-conditional meta-network `g_phi(x) -> w in (0, 1)` of learned reweighting
(design.md section 3): a small MLP over flattened features (MNIST-1D, tabular) or a small conv net
over images, with a sigmoid head. Optionally it also sees the observed label (one-hot), which lets
it learn label-dependent weights under label noise."""

from __future__ import annotations

import math

import torch
from torch import nn

from molere.errors import MolereError, check_choice

KINDS = ("auto", "mlp", "conv")


class MetaNet(nn.Module):
    """A feature extractor, then [features, one-hot label] -> hidden -> 1 -> sigmoid."""

    def __init__(self, features: nn.Module, width: int, num_classes: int, hidden: int, use_label: bool):
        super().__init__()
        self.features = features
        self.num_classes = num_classes if use_label else 0
        self.head = nn.Sequential(nn.Linear(width + self.num_classes, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        # every example starts at weight 1/2: reweighting begins from uniform weights, i.e. from ERM
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        if self.num_classes:
            h = torch.cat([h, nn.functional.one_hot(y, self.num_classes).to(h.dtype)], dim=1)
        # float32 weights under CUDA's bf16 autocast: bf16 resolves only 2^-9 around 1/2
        return torch.sigmoid(self.head(h).float()).squeeze(1)


def make_meta_net(
    input_shape,
    num_classes: int,
    kind: str = "auto",
    hidden: int = 100,
    use_label: bool = False,
) -> MetaNet:
    """`auto` is a conv net for (C, H, W) images and an MLP for everything else."""
    check_choice("meta-network kind", kind, KINDS)
    input_shape = tuple(input_shape)
    if kind == "auto":
        kind = "conv" if len(input_shape) == 3 else "mlp"
    if kind == "mlp":
        width = math.prod(input_shape)
        return MetaNet(nn.Flatten(), width, num_classes, hidden, use_label)
    if len(input_shape) != 3:
        raise MolereError(f"meta-network kind 'conv' needs (C, H, W) inputs, not shape {input_shape}; use 'mlp'")
    features = nn.Sequential(
        nn.Conv2d(input_shape[0], 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return MetaNet(features, 32, num_classes, hidden, use_label)
