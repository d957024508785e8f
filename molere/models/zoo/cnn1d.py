"""The MNIST-1D paper's 1-D CNN (Greydanus 2020, `ConvBase`): three strided convolutions and a
linear head; 94% test accuracy on MNIST-1D in the paper."""

import math

from torch import nn

from molere.models import MODELS
from molere.models.layers import Conv1d


class ConvNet1d(nn.Module):
    def __init__(self, length: int, num_classes: int, channels: int = 25):
        super().__init__()
        self.features = nn.Sequential(
            Conv1d(1, channels, 5, stride=2, padding=1),
            nn.ReLU(),
            Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        width = _conv_out(_conv_out(_conv_out(length, 5, 2, 1), 3, 2, 1), 3, 2, 1)
        self.head = nn.Linear(channels * width, num_classes)

    def forward(self, x):
        return self.head(self.features(x.flatten(1).unsqueeze(1)))


def _conv_out(length: int, kernel: int, stride: int, padding: int) -> int:
    return math.floor((length + 2 * padding - kernel) / stride) + 1


@MODELS.register("cnn1d")
def cnn1d(input_shape, num_classes: int, channels: int = 25) -> nn.Module:
    return ConvNet1d(math.prod(input_shape), num_classes, channels)
