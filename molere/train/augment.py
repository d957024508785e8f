"""Augmentation of the training batches (`train.augment`): CIFAR's standard one, each image flipped
left-right with probability 1/2 and cut to its own size at a random offset from the image
zero-padded by an eighth of its side (4 pixels at 32), as torchvision's `RandomHorizontalFlip` and
`RandomCrop(padding=...)` do it per image (tests/test_augment.py checks it against them).

It runs on the training device on the stored uint8 batch, before the batch is normalised, so the
data never leave the device. The draws come from their own CPU generator, seeded from the run's
seed, so the same on every device, and the batches' order (the loop's own generator) is the same
with and without augmentation. Only the training batches a method's step takes are augmented: the
validation sides, predictions and every per-example pass over the training set see the images as
they are."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from molere.errors import MolereError

STREAM = 0xA06  # the augmentation's draws: a stream of the run's seed apart from the batches' order


def draw(n: int, padding: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: whether it is flipped, and the (row, column) offset of its cut in the padded image."""
    flips = torch.rand(n, generator=generator) < 0.5
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator)
    return flips, offsets


def flip_crop(x: torch.Tensor, flips: torch.Tensor, offsets: torch.Tensor, padding: int) -> torch.Tensor:
    """The images (N, C, H, W) zero-padded by `padding`, each cut at its `offsets` to H x W, and
    mirrored left-right where `flips` says: one gather over the batch."""
    n, _, height, width = x.shape
    padded = F.pad(x, (padding,) * 4)
    rows = offsets[:, :1] + torch.arange(height)  # (N, H)
    columns = offsets[:, 1:] + torch.arange(width)  # (N, W)
    columns = torch.where(flips[:, None], columns.flip(1), columns)
    device = x.device
    picked = padded[torch.arange(n, device=device)[:, None, None], :, rows.to(device)[:, :, None], columns.to(device)[:, None, :]]
    return picked.permute(0, 3, 1, 2).contiguous()  # indexing put the channels last


def augmenter(name: str, seed: int, example_shape: tuple[int, ...]) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The transform of a run's training batches that `train.augment = name` asks for (None: none),
    its draws seeded from `seed`; an augmentation of images on examples that are not images is a
    one-line error."""
    if name == "none":
        return None
    if len(example_shape) != 3 or example_shape[1] != example_shape[2]:
        raise MolereError(
            f"train.augment = {name} flips and crops square images (C, H, H); this dataset's examples have shape "
            f"{tuple(example_shape)}: set train.augment=none"
        )
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, STREAM]).generate_state(1)[0]))
    padding = example_shape[-1] // 8  # CIFAR's 4 pixels at 32

    def augment(x: torch.Tensor) -> torch.Tensor:
        return flip_crop(x, *draw(len(x), padding, generator), padding)

    return augment
