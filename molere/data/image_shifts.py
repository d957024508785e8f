"""CIFAR-C style corruptions (Hendrycks & Dietterich, ICLR 2019) of uint8 (N, C, H, W) images, at
the five severities of their `make_cifar_c.py`, computed in batches with torch.

The nine corruptions that torchvision's transforms express (noise, contrast, brightness, JPEG,
pixelate, gaussian blur, elastic); the ones that need outside images or ImageMagick (frost, snow,
fog, motion / zoom / glass blur, spatter) are left to the released CIFAR-10-C arrays. Shift names
are the CIFAR-10-C file names, so computed and released corruptions line up in the reports.
Values are clipped to [0, 1] as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from molere.data.base import Split
from molere.data.sources.image_files import ImageFiles, image_blocks
from molere.errors import check_choice, check_range

# Hendrycks' CIFAR parameters per severity 1..5. Elastic: (alpha, sigma, affine jitter) as
# fractions of the image side (his IMSIZE * c).
SEVERITY_PARAMETERS: dict[str, list] = {
    "gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10],  # sd in [0, 1] units
    "shot_noise": [500, 250, 100, 75, 50],  # Poisson rate at full intensity
    "impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],  # fraction of values set to 0 or 1
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],  # factor towards the per-channel image mean
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],  # added to the HSV value
    "jpeg_compression": [80, 65, 58, 50, 40],  # JPEG quality
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],  # side of the box-downsampled image
    "gaussian_blur": [0.4, 0.6, 0.7, 0.8, 1.0],  # sigma in pixels
    "elastic_transform": [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)],
}
CHUNK = 512  # images per batch: bounds the float temporaries (512 CIFAR images = 6 MB each)


def corrupt(x: np.ndarray | ImageFiles, name: str, severity: int, seed: int) -> np.ndarray:
    """uint8 images (N, C, H, W) under corruption `name` at `severity` (1..5), seeded by
    (seed, name, severity) so each shift draws its own noise; image files are decoded a chunk at a
    time."""
    check_choice("corruption", name, SEVERITY_PARAMETERS)
    check_range("severity", severity, 1, 5)
    parameter = SEVERITY_PARAMETERS[name][severity - 1]
    entropy = [seed, severity, *name.encode()]
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))
    out = np.empty(x.shape, dtype=np.uint8)
    for start, images in zip(range(0, len(x), CHUNK), image_blocks(x, CHUNK)):
        clean = torch.from_numpy(np.ascontiguousarray(images)).float() / 255
        corrupted = CORRUPTIONS[name](clean, parameter, generator)
        # rounded (the reference truncates): an untouched pixel stays exactly what it was
        out[start : start + CHUNK] = (corrupted.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return out


def gaussian_noise(x, sd, generator):
    return x + sd * torch.randn(x.shape, generator=generator)


def shot_noise(x, rate, generator):
    return torch.poisson(x * rate, generator=generator) / rate


def impulse_noise(x, amount, generator):
    # skimage's random_noise(mode="s&p"): each value independently, half salt and half pepper
    u = torch.rand(x.shape, generator=generator)
    return torch.where(u < amount / 2, 1.0, torch.where(u < amount, 0.0, x))


def contrast(x, factor, generator):
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean) * factor + mean


def brightness(x, shift, generator):
    # HSV value + shift with hue and saturation kept: RGB is proportional to V at fixed H and S,
    # so scale each pixel by V'/V (a black pixel has S = 0 and becomes grey V')
    value = x.amax(dim=1, keepdim=True)
    brighter = (value + shift).clamp(max=1)
    return torch.where(value > 0, x * brighter / value.clamp(min=1e-12), brighter)


def jpeg_compression(x, quality, generator):
    # libjpeg through torchvision: the same bytes as the reference's PIL save at this quality
    from torchvision.io import decode_jpeg, encode_jpeg

    images = list((x * 255).round().to(torch.uint8))
    return torch.stack(decode_jpeg(encode_jpeg(images, quality=quality))).float() / 255


def pixelate(x, fraction, generator):
    height, width = x.shape[-2:]
    down_h, down_w = box_matrix(height, int(height * fraction)), box_matrix(width, int(width * fraction))
    up_h, up_w = box_matrix(down_h.shape[0], height), box_matrix(down_w.shape[0], width)
    return separable(separable(x, down_h, down_w), up_h, up_w)


def gaussian_blur(x, sigma, generator):
    height, width = x.shape[-2:]
    # skimage's gaussian: truncate 4, mode "nearest"
    return separable(x, gaussian_matrix(height, sigma, 4.0, "replicate"), gaussian_matrix(width, sigma, 4.0, "replicate"))


def elastic_transform(x, fractions, generator):
    """A random affine warp (three control points jittered by up to `jitter` pixels), then a
    smooth random displacement field (uniform noise blurred by `sigma`, times `alpha`)."""
    n, _, height, width = x.shape
    alpha, sigma, jitter = (f * height for f in fractions)
    centre, side = height // 2, min(height, width) // 3
    anchors = torch.tensor(
        [[centre + side, centre + side], [centre + side, centre - side], [centre - side, centre - side]], dtype=torch.float64
    ).expand(n, 3, 2)
    moved = anchors + (torch.rand(n, 3, 2, generator=generator, dtype=torch.float64) * 2 - 1) * jitter
    # the warp takes anchors to moved, so output pixel p samples the input at the inverse map of p:
    # the affine map [x y 1] @ inverse that takes moved back to anchors
    homogeneous = torch.cat([moved, torch.ones(n, 3, 1, dtype=torch.float64)], dim=2)
    inverse = torch.linalg.solve(homogeneous, anchors).float()  # (n, 3, 2)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    points = torch.stack([xs, ys], dim=-1).expand(n, height, width, 2)
    if alpha > 0:
        noise = torch.rand(n, 2, height, width, generator=generator) * 2 - 1
        smooth = separable(noise, gaussian_matrix(height, sigma, 3.0, "reflect"), gaussian_matrix(width, sigma, 3.0, "reflect"))
        points = points + alpha * smooth.permute(0, 2, 3, 1)
    sampled = torch.cat([points, torch.ones(n, height, width, 1)], dim=-1).reshape(n, -1, 3) @ inverse
    size = torch.tensor([width, height], dtype=torch.float32)
    grid = ((2 * sampled + 1) / size - 1).reshape(n, height, width, 2)  # align_corners=False pixel centres
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def separable(x: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """Each (H, W) plane of `x` linearly resampled: rows @ plane @ columns^T."""
    return rows @ x @ columns.T


def box_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """PIL's BOX resize from `size_in` to `size_out` samples as a (size_out, size_in) matrix: the
    coefficients of its Resample.c (the pixels whose centre lies in each output pixel's box)."""
    scale = size_in / size_out
    centres = (np.arange(size_out) + 0.5) * scale
    offsets = (np.arange(size_in)[None, :] + 0.5 - centres[:, None]) / max(scale, 1.0)
    weights = ((offsets > -0.5) & (offsets <= 0.5)).astype(np.float32)
    return torch.from_numpy(weights / weights.sum(axis=1, keepdims=True))


def gaussian_matrix(size: int, sigma: float, truncate: float, padding: str) -> torch.Tensor:
    """1-D gaussian filtering of `size` samples as a (size, size) matrix: radius
    int(truncate * sigma + 0.5) as scipy.ndimage's, edges extended by `padding` (an F.pad mode)."""
    radius = int(truncate * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    unit_signals = F.pad(torch.eye(size).unsqueeze(1), (radius, radius), mode=padding)
    # never oneDNN, whose blocking follows the CPU, whatever stage this worker process ran before
    with torch.backends.mkldnn.flags(enabled=False):
        responses = F.conv1d(unit_signals, (kernel / kernel.sum()).view(1, 1, -1))  # (size, 1, size)
    return responses[:, 0].T


CORRUPTIONS: dict[str, Callable] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "contrast": contrast,
    "brightness": brightness,
    "jpeg_compression": jpeg_compression,
    "pixelate": pixelate,
    "gaussian_blur": gaussian_blur,
    "elastic_transform": elastic_transform,
}


@dataclass(frozen=True)
class Corrupted:
    """A shift of an image dataset: severity -> its test split under one corruption."""

    test: Split
    name: str
    seed: int

    def __call__(self, severity: int) -> Split:
        return Split(corrupt(self.test.x, self.name, severity, self.seed), self.test.y.copy())

    def head(self, n: int) -> "Corrupted":
        """The same shift of the first `n` test images only (corrupting just those)."""
        return Corrupted(self.test.head(n), self.name, self.seed)


def corruption_shifts(test: Split, seed: int) -> dict[str, Corrupted]:
    return {name: Corrupted(test, name, seed) for name in SEVERITY_PARAMETERS}

