"""A multilayer perceptron over flattened features (MNIST-1D paper: 68% test accuracy)."""

import math

from torch import nn

from molere.models import MODELS


@MODELS.register("mlp")
def mlp(input_shape, num_classes: int, hidden: int = 100, depth: int = 2) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
