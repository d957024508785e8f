"""ResNets for 32x32 images (CIFAR; 28x28 MNIST works too), and torchvision's for larger ones:

- `resnet18`, `resnet50`: torchvision's ResNet-18 / ResNet-50. `stem: cifar` (the default) is the
  usual CIFAR stem, a 3x3 stride-1 first convolution and no max-pool, so the 32x32 input is not
  cut to 8x8 before the first block (ResNet-18: 11.2M parameters for 10 classes); `stem: imagenet`
  keeps torchvision's 7x7 stride-2 convolution and max-pool, the layout of its ImageNet weights
  (`model.weights`, molere/models/pretrained.py).
- `resnet32`: the CIFAR ResNet of He et al. (2016, section 4.2) with n = 5, as Meta-Weight-Net
  and the reweighting literature use it: three stages of five basic blocks at 16, 32, 64 channels,
  parameter-free shortcuts (option A: subsample and zero-pad channels), 0.46M parameters.
  `width` scales the channels (16 is the standard).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from molere.errors import check_choice
from molere.models import MODELS

STEMS = ("cifar", "imagenet")


@MODELS.register("resnet18")
def resnet18(input_shape, num_classes: int, stem: str = "cifar") -> nn.Module:
    from torchvision.models import resnet18 as torchvision_resnet18

    return with_stem(torchvision_resnet18(num_classes=num_classes), input_shape[0], stem)


@MODELS.register("resnet50")
def resnet50(input_shape, num_classes: int, stem: str = "cifar") -> nn.Module:
    from torchvision.models import resnet50 as torchvision_resnet50

    return with_stem(torchvision_resnet50(num_classes=num_classes), input_shape[0], stem)


def with_stem(model: nn.Module, in_channels: int, stem: str) -> nn.Module:
    """A torchvision ResNet with the CIFAR stem, or with ImageNet's for `in_channels` channels."""
    check_choice("model.stem", stem, STEMS)
    if stem == "imagenet":
        if in_channels != model.conv1.in_channels:
            model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        return model
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")  # torchvision's init
    model.maxpool = nn.Identity()
    return model


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.subsample = stride != 1 or in_channels != out_channels
        self.pad = (out_channels - in_channels) // 2

    def shortcut(self, x):
        if not self.subsample:
            return x
        # option A: every other pixel, channels zero-padded equally on both sides
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, blocks_per_stage: int, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, channels = [], width
        for stage in range(3):
            out_channels = width * 2**stage
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(channels, out_channels, stride))
                channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


@MODELS.register("resnet32")
def resnet32(input_shape, num_classes: int, width: int = 16) -> nn.Module:
    return CifarResNet(input_shape[0], num_classes, blocks_per_stage=5, width=width)
